// hookd's own OpenAPI document (SPEC section 11): served without a token,
// and true of what a real hookd answers, route by route, status by status.
#include <fstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "harness.hpp"
#include "openapi.hpp"
#include "receiver.hpp"

namespace {

using namespace hookd_test;

constexpr auto deadline = 10s;

std::string source_document() {
  std::ifstream in{HOOKD_OPENAPI_FILE, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, {}};
}

/// Sends requests and checks each answer has the expected status and
/// conforms to hookd's document.
class api_checker {
public:
  explicit api_checker(http_client c) : c_(std::move(c)) {}

  /// Sends `method path` with `body` (raw) and expects `status`.
  http_response expect(long status, const std::string& method,
                       const std::string& path, const std::string& body = {},
                       const header_list& headers = {}) const {
    auto r = c_.request(method, path, body, headers);
    EXPECT_EQ(r.status, status) << method << " " << path << ": " << show(r);
    EXPECT_TRUE(hookd_openapi().conforms(method, path, r));
    return r;
  }

  http_response expect(long status, const std::string& method,
                       const std::string& path, const json& body) const {
    return expect(status, method, path, body.dump());
  }

  api_checker as(std::optional<std::string> token) const {
    return api_checker{c_.as(std::move(token))};
  }

private:
  http_client c_;
};

class openapi_served : public ::testing::Test {
protected:
  void SetUp() override {
    process_options opts;
    // Deliveries go to the loopback receiver; a failure is final at once.
    opts.env = {{"HOOKD_ALLOW_PRIVATE_TARGETS", "1"},
                {"HOOKD_RETRY_SCHEDULE", "0s"}};
    proc_ = std::make_unique<hookd_process>(opts);
    ASSERT_TRUE(proc_->listening()) << proc_->start_error();
  }

  void TearDown() override {
    if (proc_ && proc_->running())
      proc_->kill();
  }

  api_checker admin() const {
    return api_checker{proc_->client()};
  }

  receiver receiver_;
  std::unique_ptr<hookd_process> proc_;
};

/// Creates, lists, reads, pings, redelivers, replaces and deletes webhooks
/// under `collection`, checking every answer against the document.
void exercise_hooks(const api_checker& api, const std::string& collection,
                    const std::string& url) {
  SCOPED_TRACE(collection);
  json body{{"name", "first"},
            {"displayName", "First"},
            {"payloadUrl", url},
            {"secret", "s3cr3t"},
            {"active", true}};
  api.expect(201, "POST", collection, body);
  api.expect(409, "POST", collection, body);
  api.expect(201, "POST", collection,
             json{{"displayName", "Generated name"}, {"payloadUrl", url}});
  api.expect(400, "POST", collection,
             json{{"displayName", "Bad format"},
                  {"payloadUrl", url},
                  {"format", "carrier_pigeon"}});
  api.expect(400, "POST", collection, std::string{"{not json"});

  auto all = api.expect(200, "GET", collection);
  EXPECT_EQ(all.body_json().size(), 2u) << all.body;
  auto page = api.expect(200, "GET", collection + "?limit=1");
  EXPECT_TRUE(page.header("Link").has_value()) << show(page);
  api.expect(200, "GET", collection + "?limit=1&continuationToken=first");
  api.expect(400, "GET", collection + "?limit=0");
  api.expect(400, "GET", collection + "?continuationToken=a%2Fb");

  auto hook = collection + "/first";
  api.expect(200, "GET", hook);
  api.expect(404, "GET", collection + "/missing");
  api.expect(400, "GET", collection + "/" + std::string(33, 'x'));
  api.expect(405, "PUT", hook, body);
  api.expect(405, "DELETE", collection);

  auto ping = api.expect(200, "POST", hook + "/ping");
  auto ping_id = ping.body_json().value("id", "");
  ASSERT_FALSE(ping_id.empty()) << ping.body;
  api.expect(404, "POST", collection + "/missing/ping");
  api.expect(405, "GET", hook + "/ping");

  auto history = api.expect(200, "GET", hook + "/deliveries");
  EXPECT_EQ(history.body_json().size(), 1u) << history.body;
  api.expect(200, "GET", hook + "/deliveries?limit=1");
  api.expect(400, "GET", hook + "/deliveries?limit=1001");
  api.expect(400, "GET", hook + "/deliveries?continuationToken=zz");
  api.expect(404, "GET", collection + "/missing/deliveries");

  api.expect(200, "POST", hook + "/deliveries/" + ping_id + "/redeliver");
  api.expect(404, "POST",
             hook
                 + "/deliveries/00000000-0000-4000-8000-000000000000/"
                   "redeliver");
  api.expect(404, "POST",
             collection + "/missing/deliveries/" + ping_id + "/redeliver");

  api.expect(200, "PATCH", hook,
             json{{"displayName", "First, renamed"},
                  {"payloadUrl", url},
                  {"active", false},
                  {"secret", "__remove-secret"}});
  api.expect(400, "PATCH", hook,
             json{{"displayName", ""}, {"payloadUrl", url}});
  api.expect(404, "PATCH", collection + "/missing",
             json{{"displayName", "x"}, {"payloadUrl", url}});

  api.expect(204, "DELETE", hook);
  api.expect(404, "DELETE", hook);
}

} // namespace

TEST_F(openapi_served, without_a_token_as_json_equal_to_the_document) {
  auto anon = proc_->client(std::nullopt);
  auto r = anon.get("/api/openapi.json");
  ASSERT_TRUE(is_json_status(r, 200)) << show(r);
  EXPECT_EQ(r.header("Content-Type").value_or(""), "application/json");
  auto source = source_document();
  ASSERT_FALSE(source.empty());
  EXPECT_EQ(r.body, source);
  EXPECT_EQ(r.body_json(), json::parse(source));
  EXPECT_TRUE(hookd_openapi().conforms("GET", "/api/openapi.json", r));

  for (const char* method : {"POST", "PUT", "DELETE", "PATCH"}) {
    auto wrong = anon.request(method, "/api/openapi.json", "{}");
    EXPECT_TRUE(is_error(wrong, 405)) << method;
    EXPECT_EQ(wrong.header("Allow").value_or(""), "GET") << method;
    EXPECT_TRUE(hookd_openapi().conforms(method, "/api/openapi.json", wrong));
  }
}

TEST_F(openapi_served, webhook_answers_in_every_scope_fit_the_document) {
  auto api = admin();
  auto url = receiver_.url("/hook");
  exercise_hooks(api, "/api/orgs/acme/hooks", url);
  exercise_hooks(api, "/api/stacks/acme/web/prod/hooks", url);
  exercise_hooks(api, "/api/esc/environments/acme/web/dev/hooks", url);
  exercise_hooks(api, "/api/preview/environments/acme/staging/hooks", url);
  // Scope fields that disagree with the path; Pulumi's own message on org
  // webhooks of format pulumi_deployments.
  api.expect(
      400, "POST", "/api/stacks/acme/web/prod/hooks",
      json{{"displayName", "x"}, {"payloadUrl", url}, {"stackName", "other"}});
  api.expect(400, "POST", "/api/orgs/acme/hooks",
             json{{"displayName", "x"},
                  {"payloadUrl", "web/prod"},
                  {"format", "pulumi_deployments"}});
  // A name no route takes.
  api.expect(400, "GET", "/api/orgs/a..b%2F/hooks");

  // The dashboard's API: who the token is, and the scopes with webhooks
  // (exercise_hooks left hooks behind in the stack and environments).
  auto user = api.expect(200, "GET", "/api/user");
  EXPECT_EQ(user.body_json().value("role", ""), "admin") << user.body;
  auto scopes = api.expect(200, "GET", "/api/orgs/acme/scopes");
  EXPECT_GE(scopes.body_json().size(), 1u) << scopes.body;
  api.expect(200, "GET", "/api/orgs/acme/scopes?limit=1");
  api.expect(400, "GET", "/api/orgs/acme/scopes?limit=0");
  api.as(std::nullopt).expect(401, "GET", "/api/user");
  api.as(std::nullopt).expect(401, "GET", "/api/orgs/acme/scopes");
  api.expect(405, "POST", "/api/user");
}

TEST_F(openapi_served, deliveries_of_events_fit_the_document) {
  auto api = admin();
  api.expect(201, "POST", "/api/stacks/acme/web/prod/hooks",
             json{{"name", "events"},
                  {"displayName", "Events"},
                  {"payloadUrl", receiver_.url("/events")},
                  {"active", true},
                  {"secret", "s3cr3t"}});
  // A receiver that fails: the record says so, in hookd's fields.
  receiver_.reply_on("/failing", {reply::with_status(500, "no")});
  api.expect(201, "POST", "/api/orgs/acme/hooks",
             json{{"name", "failing"},
                  {"displayName", "Failing"},
                  {"payloadUrl", receiver_.url("/failing")},
                  {"active", true}});
  json ev{
      {"event", "update_succeeded"},
      {"projectName", "web"},
      {"stackName", "prod"},
      {"user", {{"name", "Ann"}, {"githubLogin", "ann"}, {"avatarUrl", ""}}},
      {"data", {{"resourceChanges", {{"create", 3}}}}}};
  auto one = api.expect(202, "POST", "/api/orgs/acme/events", ev);
  auto id = one.body_json().value("id", "");
  api.expect(202, "POST", "/api/orgs/acme/events",
             json::array({ev, json{{"event", "stack_created"},
                                   {"projectName", "web"},
                                   {"stackName", "prod"}}}));
  ASSERT_TRUE(receiver_.wait_for_path("/events", 2, deadline));
  ASSERT_TRUE(receiver_.wait_for_path("/failing", 3, deadline));

  // Every record settles (succeeded or failed for good); each listing
  // along the way fits the document.
  for (const auto* hook : {"/api/stacks/acme/web/prod/hooks/events/deliveries",
                           "/api/orgs/acme/hooks/failing/deliveries"}) {
    auto until = std::chrono::steady_clock::now() + deadline;
    bool settled = false;
    while (!settled && std::chrono::steady_clock::now() < until) {
      auto r = api.expect(200, "GET", hook);
      settled = r.body_json().is_array() && !r.body_json().empty();
      for (const auto& rec : r.body_json())
        settled = settled && rec.value("nextAttemptAt", json()).is_null();
      if (!settled)
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_TRUE(settled) << hook;
  }
  api.expect(200, "POST",
             "/api/stacks/acme/web/prod/hooks/events/deliveries/" + id
                 + "/redeliver");

  // The same id again is the same event; another organization may not
  // take it.
  json again = ev;
  again["id"] = "0B6C1A5E-1D2F-4A63-8E2F-2D5B8F0A6C11";
  api.expect(202, "POST", "/api/orgs/acme/events", again);
  api.expect(202, "POST", "/api/orgs/acme/events", again);
  api.expect(409, "POST",
             "/api/orgs/" + org_in_partition_of("acme") + "/events", again);

  api.expect(400, "POST", "/api/orgs/acme/events",
             json{{"event", "no_such_event"}});
  api.expect(400, "POST", "/api/orgs/acme/events",
             json::array({ev, json{{"event", "update_succeeded"}}}));
  json big = ev;
  big["data"]["blob"] = std::string(70 * 1024, 'x');
  api.expect(413, "POST", "/api/orgs/acme/events", big);
  api.expect(405, "GET", "/api/orgs/acme/events");
}

TEST_F(openapi_served, deployments_tokens_and_access_fit_the_document) {
  auto api = admin();
  // A pulumi_deployments webhook queues a deployment of web/prod.
  api.expect(201, "POST", "/api/stacks/acme/web/ci/hooks",
             json{{"name", "deploy"},
                  {"displayName", "Deploy prod"},
                  {"payloadUrl", "web/prod"},
                  {"format", "pulumi_deployments"},
                  {"active", true},
                  {"filters", {"update_succeeded"}}});
  api.expect(202, "POST", "/api/orgs/acme/events",
             json{{"event", "update_succeeded"},
                  {"projectName", "web"},
                  {"stackName", "ci"}});
  auto until = std::chrono::steady_clock::now() + deadline;
  json deployments;
  while (std::chrono::steady_clock::now() < until) {
    deployments
        = api.expect(200, "GET", "/api/stacks/acme/web/prod/deployments")
              .body_json();
    if (deployments.is_array() && !deployments.empty())
      break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(deployments.size(), 1u) << deployments.dump();
  api.expect(405, "POST", "/api/stacks/acme/web/prod/deployments");

  // Tokens.
  auto created = api.expect(201, "POST", "/api/orgs/acme/tokens",
                            json{{"name", "ci"}, {"description", "pipeline"}});
  auto token = created.body_json().value("tokenValue", "");
  auto token_id = created.body_json().value("id", "");
  ASSERT_FALSE(token.empty()) << created.body;
  api.expect(201, "POST", "/api/orgs/other/tokens", json{{"name", "x"}});
  api.expect(400, "POST", "/api/orgs/acme/tokens", json{{"name", ""}});
  api.expect(200, "GET", "/api/orgs/acme/tokens");
  api.expect(405, "PUT", "/api/orgs/acme/tokens");

  // Access: none, unknown, another organization's.
  auto scoped = api.as(token);
  scoped.expect(200, "GET", "/api/orgs/acme/hooks");
  scoped.expect(403, "GET", "/api/orgs/other/hooks");
  scoped.expect(403, "POST", "/api/orgs/other/events",
                json{{"event", "stack_created"}});
  scoped.expect(403, "GET", "/api/orgs/other/tokens");
  api.as(std::nullopt).expect(401, "GET", "/api/orgs/acme/hooks");
  api.as(std::nullopt).expect(401, "GET", "/api/orgs/acme/tokens");
  api.as("not-a-token-0123456789").expect(401, "GET", "/api/orgs/acme/hooks");
  api.as(std::nullopt)
      .expect(401, "GET", "/api/stacks/acme/web/prod/deployments");

  api.expect(204, "DELETE", "/api/orgs/acme/tokens/" + token_id);
  api.expect(404, "DELETE", "/api/orgs/acme/tokens/" + token_id);
  api.expect(405, "GET", "/api/orgs/acme/tokens/" + token_id);
  scoped.expect(401, "GET", "/api/orgs/acme/hooks");

  // A body over 1 MiB, on any API route.
  json big{{"displayName", "x"},
           {"payloadUrl", "https://example.com/"},
           {"padding", std::string(1024 * 1024, 'p')}};
  api.expect(413, "POST", "/api/orgs/acme/hooks", big);
  api.expect(413, "POST", "/api/orgs/acme/tokens", big);
}

TEST_F(openapi_served, operations_and_unknown_routes_fit_the_document) {
  auto anon = api_checker{proc_->client(std::nullopt)};
  anon.expect(200, "GET", "/healthz");
  auto metrics = anon.expect(200, "GET", "/metrics");
  EXPECT_NE(metrics.body.find("hookd_"), std::string::npos);
  anon.expect(405, "POST", "/healthz");
  anon.expect(405, "DELETE", "/metrics");
  // The dashboard and its files, built in.
  anon.expect(200, "GET", "/ui/");
  anon.expect(301, "GET", "/ui");
  for (const char* file : {"/ui/app.js", "/ui/app.css", "/ui/icon.svg"})
    anon.expect(200, "GET", file);
  anon.expect(404, "GET", "/ui/nope.js");
  anon.expect(405, "POST", "/ui/");
  for (const char* path :
       {"/", "/nope", "/api/nope/x/y", "/api/orgs/acme/nope",
        "/api/orgs/acme/hooks/h/deliveries/e/nope", "/api/openapi.yaml"})
    anon.expect(404, "GET", path);
}

// The checks can fail: a response the document does not describe is
// refused, whatever makes it wrong.
TEST(openapi_checks, refuse_what_the_document_does_not_list) {
  const auto& doc = hookd_openapi();
  ASSERT_FALSE(doc.doc().is_discarded());
  auto answer = [](long status, std::string body,
                   std::string type = "application/json") {
    http_response r;
    r.status = status;
    r.body = std::move(body);
    r.headers = {{"Content-Type", std::move(type)}};
    return r;
  };
  json hook{{"organizationName", "acme"},
            {"name", "h"},
            {"displayName", "H"},
            {"payloadUrl", "https://example.com/"},
            {"active", true},
            {"format", "raw"},
            {"filters", json::array()},
            {"groups", json::array()},
            {"hasSecret", false},
            {"secretCiphertext", ""}};
  const std::string path = "/api/orgs/acme/hooks/h";
  EXPECT_TRUE(doc.conforms("GET", path, answer(200, hook.dump())));
  // A status the operation does not list.
  EXPECT_FALSE(
      doc.conforms("GET", path, answer(409, R"({"code":409,"message":"x"})")));
  EXPECT_FALSE(doc.conforms("GET", path, answer(201, hook.dump())));
  // A missing field, a wrong type, a value outside an enum.
  for (const auto* field : {"name", "hasSecret", "filters"}) {
    auto wrong = hook;
    wrong.erase(field);
    EXPECT_FALSE(doc.conforms("GET", path, answer(200, wrong.dump()))) << field;
  }
  auto wrong = hook;
  wrong["active"] = "yes";
  EXPECT_FALSE(doc.conforms("GET", path, answer(200, wrong.dump())));
  wrong = hook;
  wrong["format"] = "Fax Machine"; // no behaviour can have this name
  EXPECT_FALSE(doc.conforms("GET", path, answer(200, wrong.dump())));
  // The wrong media type, a body that is not JSON.
  EXPECT_FALSE(
      doc.conforms("GET", path, answer(200, hook.dump(), "text/plain")));
  EXPECT_FALSE(doc.conforms("GET", path, answer(200, "{")));
  // Errors: their shape, and the headers they must carry.
  EXPECT_FALSE(doc.conforms("GET", path, answer(404, R"({"error":"x"})")));
  EXPECT_FALSE(doc.conforms(
      "GET", path, answer(404, R"({"code":404,"message":"x","x":1})")));
  EXPECT_TRUE(
      doc.conforms("GET", path, answer(404, R"({"code":404,"message":"x"})")));
  EXPECT_FALSE(
      doc.conforms("GET", path, answer(503, R"({"code":503,"message":"x"})")))
      << "503 without Retry-After";
  auto unavailable = answer(503, R"({"code":503,"message":"x"})");
  unavailable.headers.emplace_back("Retry-After", "1");
  EXPECT_TRUE(doc.conforms("GET", path, unavailable));
  // 405 names exactly the path's methods.
  auto not_allowed = answer(405, R"({"code":405,"message":"x"})");
  not_allowed.headers.emplace_back("Allow", "GET, PATCH, DELETE");
  EXPECT_TRUE(doc.conforms("PUT", path, not_allowed));
  EXPECT_FALSE(doc.conforms("GET", path, not_allowed));
  not_allowed.headers.back().second = "GET, PATCH";
  EXPECT_FALSE(doc.conforms("PUT", path, not_allowed));
  // 204 has no body.
  http_response empty;
  empty.status = 204;
  EXPECT_TRUE(doc.conforms("DELETE", path, empty));
  empty.body = "{}";
  EXPECT_FALSE(doc.conforms("DELETE", path, empty));
}
