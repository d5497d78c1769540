// What a user observes over HTTP: the real hookd binary, port 0, a fresh
// data dir per test (SPEC sections 1, 2, 7 and 8).
#include <algorithm>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "harness.hpp"

namespace {

using namespace hookd_test;

constexpr const char* org_hooks = "/api/orgs/acme/hooks";
constexpr const char* stack_hooks = "/api/stacks/acme/web/prod/hooks";
constexpr const char* env_hooks
    = "/api/esc/environments/acme/default/dev/hooks";
constexpr const char* legacy_hooks = "/api/preview/environments/acme/dev/hooks";

constexpr const char* deployments_on_org_message
    = "'pulumi_deployments' format can only be used on stack or environment "
      "webhooks.";

// -- assertion helpers -----------------------------------------------------

bool is_hex8(const std::string& s) {
  static const std::regex re{"^[0-9a-f]{8}$"};
  return std::regex_match(s, re);
}

json hook_body(const std::string& name,
               const std::string& url = "https://example.com/hook") {
  json j{{"displayName", "Hook " + name}, {"payloadUrl", url}};
  if (!name.empty())
    j["name"] = name;
  return j;
}

/// Creates a hook and fails the test unless it answers 201.
json create(const http_client& c, const std::string& collection,
            const json& body) {
  auto r = c.post(collection, body);
  EXPECT_TRUE(is_json_status(r, 201)) << "creating in " << collection;
  return r.body_json();
}

/// A secret's fingerprint is keyed: 64 hex digits, and not the plain
/// SHA-256 of the secret, which would let a weak secret be guessed offline.
::testing::AssertionResult is_keyed_fingerprint(const json& value,
                                                const std::string& secret) {
  if (!value.is_string() || value.get<std::string>().size() != 64
      || value.get<std::string>().find_first_not_of("0123456789abcdef")
             != std::string::npos)
    return ::testing::AssertionFailure() << "not 64 hex digits: " << value;
  if (value == json(sha256_hex(secret)))
    return ::testing::AssertionFailure() << "the plain SHA-256 of the secret";
  return ::testing::AssertionSuccess();
}

json list(const http_client& c, const std::string& collection) {
  auto r = c.get(collection);
  EXPECT_TRUE(is_json_status(r, 200)) << "listing " << collection;
  return r.body_json();
}

/// Creates an org token and returns {id, tokenValue}.
std::pair<std::string, std::string> make_token(const http_client& c,
                                               const std::string& org,
                                               const std::string& name) {
  auto r = c.post("/api/orgs/" + org + "/tokens",
                  {{"name", name}, {"description", "d"}});
  EXPECT_TRUE(is_json_status(r, 201));
  auto j = r.body_json();
  EXPECT_TRUE(j.is_object() && j.contains("id") && j["id"].is_string()
              && j.contains("tokenValue") && j["tokenValue"].is_string())
      << r.body;
  return {j.value("id", ""), j.value("tokenValue", "")};
}

// -- fixture ---------------------------------------------------------------

/// One hookd per test, with the test admin token.
class integration : public ::testing::Test {
protected:
  void SetUp() override {
    proc_ = std::make_unique<hookd_process>();
    ASSERT_TRUE(proc_->listening()) << proc_->start_error();
  }

  // Graceful shutdown has its own tests (integration_server.sigterm_*,
  // persistence); here a test's server just goes away, so that one slow
  // shutdown cannot make every test slow.
  void TearDown() override {
    if (proc_ && proc_->running())
      proc_->kill();
  }

  http_client admin() const {
    return proc_->client();
  }

  std::unique_ptr<hookd_process> proc_;
};

// -- scopes ----------------------------------------------------------------

struct scope_case {
  std::string label;
  std::string collection;
  /// The scope fields a response carries, with their values.
  json scope_fields;
  /// Scope fields that a response of this scope must not carry.
  std::vector<std::string> absent_fields;
  std::string filter;            ///< an event allowed here
  std::string group;             ///< a group allowed here
  std::string forbidden_filter;  ///< a known event not allowed here
  std::string forbidden_group;   ///< a known group not allowed here
  std::string path_of_other_org; ///< the same collection in org "other"
};

std::ostream& operator<<(std::ostream& os, const scope_case& c) {
  return os << c.label;
}

const std::vector<scope_case>& scope_cases() {
  static const std::vector<scope_case> cases{
      {"org",
       org_hooks,
       {{"organizationName", "acme"}},
       {"projectName", "stackName", "envName"},
       "stack_created",
       "stacks",
       "",
       "",
       "/api/orgs/other/hooks"},
      {"stack",
       stack_hooks,
       {{"organizationName", "acme"},
        {"projectName", "web"},
        {"stackName", "prod"}},
       {"envName"},
       "update_succeeded",
       "deployments",
       "stack_created",
       "environments",
       "/api/stacks/other/web/prod/hooks"},
      {"env",
       env_hooks,
       {{"organizationName", "acme"},
        {"projectName", "default"},
        {"envName", "dev"}},
       {"stackName"},
       "environment_revision_created",
       "environments",
       "update_succeeded",
       "stacks",
       "/api/esc/environments/other/default/dev/hooks"},
      {"legacy",
       legacy_hooks,
       {{"organizationName", "acme"},
        {"projectName", "default"},
        {"envName", "dev"}},
       {"stackName"},
       "environment_revision_created",
       "environments",
       "stack_created",
       "deployments",
       "/api/preview/environments/other/dev/hooks"},
  };
  return cases;
}

class scoped : public integration,
               public ::testing::WithParamInterface<scope_case> {
protected:
  const scope_case& sc() const {
    return GetParam();
  }
  std::string item(const std::string& name) const {
    return sc().collection + "/" + name;
  }
  /// A full create body for this scope.
  json full_body(const std::string& name, const std::string& secret) const {
    json body = sc().scope_fields;
    body["name"] = name;
    body["displayName"] = "Deploy bot";
    body["payloadUrl"] = "https://example.com/hooks/1?x=y";
    body["active"] = true;
    body["filters"] = json::array({sc().filter});
    body["groups"] = json::array({sc().group});
    if (!secret.empty())
      body["secret"] = secret;
    return body;
  }
  void expect_scope_fields(const json& j) const {
    for (const auto& [k, v] : sc().scope_fields.items())
      EXPECT_EQ(j.value(k, json{}), v) << "field " << k << " in " << j.dump();
    for (const auto& k : sc().absent_fields)
      EXPECT_FALSE(j.contains(k)) << "field " << k << " in " << j.dump();
    EXPECT_FALSE(j.contains("secret")) << j.dump();
  }
};

TEST_P(scoped, create_answers_201_with_the_webhook_response) {
  auto r = admin().post(sc().collection, full_body("deploy-bot", "s3cret-1"));
  ASSERT_TRUE(is_json_status(r, 201));
  auto j = r.body_json();
  expect_scope_fields(j);
  EXPECT_EQ(j.value("name", ""), "deploy-bot");
  EXPECT_EQ(j.value("displayName", ""), "Deploy bot");
  EXPECT_EQ(j.value("payloadUrl", ""), "https://example.com/hooks/1?x=y");
  EXPECT_EQ(j.value("active", json{}), json(true));
  EXPECT_EQ(j.value("format", json{}), json("raw"));
  EXPECT_EQ(j.value("filters", json{}), json::array({sc().filter}));
  EXPECT_EQ(j.value("groups", json{}), json::array({sc().group}));
  EXPECT_EQ(j.value("hasSecret", json{}), json(true));
  EXPECT_TRUE(
      is_keyed_fingerprint(j.value("secretCiphertext", json{}), "s3cret-1"));
}

TEST_P(scoped, create_without_optional_fields_uses_the_defaults) {
  auto r
      = admin().post(sc().collection, {{"displayName", "Minimal"},
                                       {"payloadUrl", "http://example.com"}});
  ASSERT_TRUE(is_json_status(r, 201));
  auto j = r.body_json();
  expect_scope_fields(j);
  EXPECT_TRUE(is_hex8(j.value("name", ""))) << j.dump();
  EXPECT_EQ(j.value("active", json{}), json(false));
  EXPECT_EQ(j.value("format", json{}), json("raw"));
  EXPECT_EQ(j.value("filters", json{}), json::array());
  EXPECT_EQ(j.value("groups", json{}), json::array());
  EXPECT_EQ(j.value("hasSecret", json{}), json(false));
  EXPECT_EQ(j.value("secretCiphertext", json{}), json(""));
}

TEST_P(scoped, list_is_a_bare_array_and_get_returns_each_hook) {
  auto c = admin();
  EXPECT_EQ(list(c, sc().collection), json::array());
  auto a = create(c, sc().collection, full_body("alpha", "sa"));
  auto b = create(c, sc().collection, full_body("beta", ""));
  auto all = list(c, sc().collection);
  ASSERT_TRUE(all.is_array()) << all.dump();
  ASSERT_EQ(all.size(), 2u) << all.dump();
  std::set<std::string> names;
  for (const auto& h : all) {
    names.insert(h.value("name", ""));
    auto g = c.get(item(h.value("name", "")));
    ASSERT_TRUE(is_json_status(g, 200));
    EXPECT_EQ(g.body_json(), h);
    expect_scope_fields(h);
  }
  EXPECT_EQ(names, (std::set<std::string>{"alpha", "beta"}));
  EXPECT_EQ(c.get(item("alpha")).body_json(), a);
  EXPECT_EQ(c.get(item("beta")).body_json(), b);
  // Other scopes do not see them.
  EXPECT_EQ(list(c, sc().path_of_other_org), json::array());
}

// A listing is bounded: ?limit= pages it (by name), and a Link header
// leads to the rest, as deliveries do.
TEST_P(scoped, list_pages_with_limit_and_link_header) {
  auto c = admin();
  for (const char* name : {"c-hook", "a-hook", "b-hook"})
    create(c, sc().collection, full_body(name, ""));
  auto first = c.get(sc().collection + "?limit=2");
  ASSERT_TRUE(is_json_status(first, 200));
  std::vector<std::string> names;
  for (const auto& h : first.body_json())
    names.push_back(h.value("name", ""));
  EXPECT_EQ(names, (std::vector<std::string>{"a-hook", "b-hook"}));
  auto link = first.header("Link");
  ASSERT_TRUE(link.has_value());
  auto start = link->find('<') + 1;
  auto next_url = link->substr(start, link->find('>') - start);
  EXPECT_NE(next_url.find("continuationToken=b-hook"), std::string::npos)
      << *link;
  auto second = c.get(next_url);
  ASSERT_TRUE(is_json_status(second, 200));
  ASSERT_EQ(second.body_json().size(), 1u) << second.body;
  EXPECT_EQ(second.body_json()[0].value("name", ""), "c-hook");
  EXPECT_FALSE(second.header("Link").has_value());
  // Without a limit, all of them (up to 1000) in one page, as before.
  EXPECT_EQ(list(c, sc().collection).size(), 3u);
  EXPECT_TRUE(is_error(c.get(sc().collection + "?limit=0"), 400));
  EXPECT_TRUE(is_error(c.get(sc().collection + "?limit=1001"), 400));
  EXPECT_TRUE(is_error(
      c.get(sc().collection + "?continuationToken=%2E%2E%2Fx%2Fy"), 400));
}

TEST_P(scoped, get_of_unknown_hook_is_404) {
  EXPECT_TRUE(is_error(admin().get(item("nope")), 404));
}

TEST_P(scoped, patch_is_a_full_replace) {
  auto c = admin();
  json body = full_body("rep", "keep-me");
  body["format"] = "ms_teams";
  auto before = create(c, sc().collection, body);
  ASSERT_EQ(before.value("format", ""), "ms_teams");

  // Only displayName and payloadUrl: active -> false, filters and groups ->
  // [], format and secret unchanged, name unchanged.
  auto r = c.patch(item("rep"), {{"displayName", "Renamed"},
                                 {"payloadUrl", "https://example.org/new"}});
  ASSERT_TRUE(is_json_status(r, 200));
  auto j = r.body_json();
  expect_scope_fields(j);
  EXPECT_EQ(j.value("name", ""), "rep");
  EXPECT_EQ(j.value("displayName", ""), "Renamed");
  EXPECT_EQ(j.value("payloadUrl", ""), "https://example.org/new");
  EXPECT_EQ(j.value("active", json{}), json(false));
  EXPECT_EQ(j.value("filters", json{}), json::array());
  EXPECT_EQ(j.value("groups", json{}), json::array());
  EXPECT_EQ(j.value("format", json{}), json("ms_teams"));
  EXPECT_EQ(j.value("hasSecret", json{}), json(true));
  EXPECT_TRUE(
      is_keyed_fingerprint(j.value("secretCiphertext", json{}), "keep-me"));
  EXPECT_EQ(c.get(item("rep")).body_json(), j);

  // Format null is also "unchanged"; a given format replaces it. A name in
  // the body never renames.
  r = c.patch(item("rep"), {{"displayName", "R2"},
                            {"payloadUrl", "https://example.org/new"},
                            {"format", nullptr},
                            {"name", "other-name"},
                            {"active", true},
                            {"filters", json::array({sc().filter})}});
  ASSERT_TRUE(is_json_status(r, 200));
  j = r.body_json();
  EXPECT_EQ(j.value("name", ""), "rep");
  EXPECT_EQ(j.value("format", json{}), json("ms_teams"));
  EXPECT_EQ(j.value("active", json{}), json(true));
  EXPECT_EQ(j.value("filters", json{}), json::array({sc().filter}));
  EXPECT_TRUE(is_error(c.get(item("other-name")), 404));

  r = c.patch(item("rep"), {{"displayName", "R3"},
                            {"payloadUrl", "https://example.org/new"},
                            {"format", "raw"}});
  ASSERT_TRUE(is_json_status(r, 200));
  EXPECT_EQ(r.body_json().value("format", json{}), json("raw"));
  EXPECT_EQ(c.get(item("rep")).body_json().value("format", json{}),
            json("raw"));
  // The scope fields may be given if they match.
  json same = sc().scope_fields;
  same["displayName"] = "R4";
  same["payloadUrl"] = "https://example.org/new";
  r = c.patch(item("rep"), same);
  ASSERT_TRUE(is_json_status(r, 200));
  EXPECT_EQ(list(c, sc().collection).size(), 1u);
}

TEST_P(scoped, patch_secret_rules) {
  auto c = admin();
  auto created = create(c, sc().collection, full_body("sec", "first-secret"));
  json base{{"displayName", "Sec"}, {"payloadUrl", "https://example.com/s"}};
  auto fingerprint = [&](const json& patch) {
    auto r = c.patch(item("sec"), patch);
    EXPECT_TRUE(is_json_status(r, 200)) << patch.dump();
    auto j = r.body_json();
    EXPECT_FALSE(j.contains("secret")) << j.dump();
    auto g = c.get(item("sec")).body_json();
    EXPECT_EQ(g.value("hasSecret", json{}), j.value("hasSecret", json{}));
    EXPECT_EQ(g.value("secretCiphertext", json{}),
              j.value("secretCiphertext", json{}));
    return std::make_pair(j.value("hasSecret", json{}),
                          j.value("secretCiphertext", json{}));
  };
  auto first = std::make_pair(json(true), created["secretCiphertext"]);
  EXPECT_TRUE(is_keyed_fingerprint(first.second, "first-secret"));
  auto none = std::make_pair(json(false), json(""));

  EXPECT_EQ(fingerprint(base), first) << "absent secret keeps it";
  json p = base;
  p["secret"] = "";
  EXPECT_EQ(fingerprint(p), first) << "empty secret keeps it";
  p["secret"] = nullptr;
  EXPECT_EQ(fingerprint(p), first) << "null secret keeps it";
  p["secret"] = "second-secret";
  auto second = fingerprint(p);
  EXPECT_TRUE(is_keyed_fingerprint(second.second, "second-secret"));
  EXPECT_NE(second, first) << "a new secret replaces it";
  // Response-only fields in the request are ignored.
  p = base;
  p["hasSecret"] = false;
  p["secretCiphertext"] = "";
  EXPECT_EQ(fingerprint(p), second) << "hasSecret/secretCiphertext ignored";
  p = base;
  p["secret"] = "__remove-secret";
  EXPECT_EQ(fingerprint(p), none) << "__remove-secret removes it";
  EXPECT_EQ(fingerprint(base), none) << "stays removed";
  p["secret"] = "first-secret";
  EXPECT_EQ(fingerprint(p), first) << "set again";
}

TEST_P(scoped, patch_rejects_invalid_bodies_and_keeps_the_hook) {
  auto c = admin();
  auto before = create(c, sc().collection, full_body("keep", "k"));
  std::vector<std::pair<std::string, std::string>> bad{
      {"malformed", "{\"displayName\":"},
      {"array", "[]"},
      {"missing displayName", R"({"payloadUrl":"https://example.com"})"},
      {"bad url", R"({"displayName":"x","payloadUrl":"ftp://example.com"})"},
      {"active not bool",
       R"({"displayName":"x","payloadUrl":"https://example.com","active":"yes"})"},
      {"bad format",
       R"({"displayName":"x","payloadUrl":"https://example.com","format":"xml"})"},
      {"empty format",
       R"({"displayName":"x","payloadUrl":"https://example.com","format":""})"},
      {"org mismatch",
       R"({"organizationName":"other","displayName":"x","payloadUrl":"https://example.com"})"},
      {"unknown filter",
       R"({"displayName":"x","payloadUrl":"https://example.com","filters":["nope"]})"},
  };
  for (const auto& [label, body] : bad) {
    SCOPED_TRACE(label);
    EXPECT_TRUE(is_error(c.request("PATCH", item("keep"), body), 400));
  }
  EXPECT_EQ(c.get(item("keep")).body_json(), before);
  EXPECT_TRUE(
      is_error(c.patch(item("nope"), {{"displayName", "x"},
                                      {"payloadUrl", "https://example.com"}}),
               404));
}

TEST_P(scoped, delete_answers_204_then_get_and_delete_are_404) {
  auto c = admin();
  create(c, sc().collection, full_body("gone", "x"));
  create(c, sc().collection, full_body("stays", ""));
  auto r = c.del(item("gone"));
  EXPECT_EQ(r.status, 204) << show(r);
  EXPECT_EQ(r.body, "");
  EXPECT_TRUE(is_error(c.get(item("gone")), 404));
  EXPECT_TRUE(is_error(c.del(item("gone")), 404));
  EXPECT_TRUE(is_error(c.get(item("gone") + "/deliveries"), 404));
  auto all = list(c, sc().collection);
  ASSERT_EQ(all.size(), 1u) << all.dump();
  EXPECT_EQ(all[0].value("name", ""), "stays");
  // The name is free again.
  create(c, sc().collection, full_body("gone", ""));
}

TEST_P(scoped, generated_names_are_8_lowercase_hex) {
  auto c = admin();
  json no_name{{"displayName", "A"}, {"payloadUrl", "https://example.com"}};
  json empty_name = no_name;
  empty_name["name"] = "";
  json null_name = no_name;
  null_name["name"] = nullptr;
  std::set<std::string> names;
  for (const auto& body : {no_name, empty_name, null_name, no_name}) {
    auto j = create(c, sc().collection, body);
    auto name = j.value("name", "");
    EXPECT_TRUE(is_hex8(name)) << j.dump();
    names.insert(name);
    EXPECT_TRUE(is_json_status(c.get(item(name)), 200)) << name;
  }
  EXPECT_EQ(names.size(), 4u);
  EXPECT_EQ(list(c, sc().collection).size(), 4u);
}

TEST_P(scoped, duplicate_name_is_409) {
  auto c = admin();
  auto first = create(c, sc().collection, full_body("dup", "a"));
  auto body = full_body("dup", "b");
  body["displayName"] = "Second";
  EXPECT_TRUE(is_error(c.post(sc().collection, body), 409));
  EXPECT_EQ(c.get(item("dup")).body_json(), first);
  EXPECT_EQ(list(c, sc().collection).size(), 1u);
}

TEST_P(scoped, scope_fields_in_body_must_match_the_path) {
  auto c = admin();
  for (const auto& [field, value] : sc().scope_fields.items()) {
    SCOPED_TRACE(field);
    auto body = full_body("mm", "");
    body[field] = value.get<std::string>() + "x";
    EXPECT_TRUE(is_error(c.post(sc().collection, body), 400));
  }
  // Nothing was created; the same fields with matching values are fine.
  EXPECT_EQ(list(c, sc().collection), json::array());
  auto ok = create(c, sc().collection, full_body("mm", ""));
  expect_scope_fields(ok);
}

TEST_P(scoped, filters_and_groups_must_be_allowed_in_the_scope) {
  auto c = admin();
  auto with = [&](const char* field, const std::string& value) {
    auto body = full_body("", "");
    body.erase("name");
    body.erase("filters");
    body.erase("groups");
    body[field] = json::array({value});
    return c.post(sc().collection, body);
  };
  EXPECT_TRUE(is_json_status(with("filters", sc().filter), 201));
  EXPECT_TRUE(is_json_status(with("groups", sc().group), 201));
  EXPECT_TRUE(is_error(with("filters", "no_such_event"), 400));
  EXPECT_TRUE(is_error(with("groups", "no_such_group"), 400));
  EXPECT_TRUE(is_error(with("filters", ""), 400));
  if (!sc().forbidden_filter.empty()) {
    EXPECT_TRUE(is_error(with("filters", sc().forbidden_filter), 400));
  }
  if (!sc().forbidden_group.empty()) {
    EXPECT_TRUE(is_error(with("groups", sc().forbidden_group), 400));
  }
  EXPECT_EQ(list(c, sc().collection).size(), 2u);
}

TEST_P(scoped, pulumi_deployments_format) {
  auto c = admin();
  json body{{"displayName", "Chain"},
            {"payloadUrl", "proj/stack"},
            {"format", "pulumi_deployments"}};
  auto r = c.post(sc().collection, body);
  if (sc().label == "org") {
    ASSERT_TRUE(is_error(r, 400));
    EXPECT_EQ(r.body_json().value("message", ""), deployments_on_org_message);
    EXPECT_EQ(list(c, sc().collection), json::array());
    return;
  }
  ASSERT_TRUE(is_json_status(r, 201));
  EXPECT_EQ(r.body_json().value("format", ""), "pulumi_deployments");
  EXPECT_EQ(r.body_json().value("payloadUrl", ""), "proj/stack");
  for (const char* bad : {"proj/stack/extra", "https://example.com/x", "proj",
                          "/stack", "proj/", "pr oj/stack"}) {
    SCOPED_TRACE(bad);
    body["payloadUrl"] = bad;
    EXPECT_TRUE(is_error(c.post(sc().collection, body), 400));
  }
  EXPECT_EQ(list(c, sc().collection).size(), 1u);
}

TEST_P(scoped, deliveries_of_a_hook) {
  auto c = admin();
  create(c, sc().collection, full_body("d", ""));
  auto r = c.get(item("d") + "/deliveries");
  ASSERT_TRUE(is_json_status(r, 200));
  EXPECT_EQ(r.body_json(), json::array());
  EXPECT_TRUE(is_error(c.get(item("unknown") + "/deliveries"), 404));
}

INSTANTIATE_TEST_SUITE_P(integration, scoped,
                         ::testing::ValuesIn(scope_cases()),
                         [](const ::testing::TestParamInfo<scope_case>& info) {
                           return info.param.label;
                         });

// -- server ----------------------------------------------------------------

TEST_F(integration, healthz_needs_no_token_and_stdout_has_one_listening_line) {
  auto expected_line = "hookd listening on http://127.0.0.1:"
                       + std::to_string(proc_->port()) + "\n";
  auto only_line = [&](const char* when) {
    auto out = proc_->stdout_text();
    EXPECT_TRUE(out == expected_line)
        << when << ": want exactly '" << expected_line << "', got "
        << count_of(out, "\n") << " lines; first 600 bytes: '"
        << out.substr(0, 600) << "'";
  };
  only_line("after start");
  EXPECT_EQ(proc_->host(), "127.0.0.1");
  for (auto c : {proc_->client(std::nullopt), proc_->client("wrong-token")}) {
    auto r = c.get("/healthz");
    ASSERT_TRUE(is_json_status(r, 200));
    // A single node names itself and says nothing of a cluster.
    EXPECT_EQ(r.body_json()["status"], "ok");
    EXPECT_TRUE(r.body_json()["node"].is_string());
    EXPECT_FALSE(r.body_json().contains("cluster"));
  }
  auto st = proc_->stop(SIGTERM);
  EXPECT_TRUE(st.clean()) << st;
  only_line("after SIGTERM");
}

TEST(integration_server,
     accepts_connections_as_soon_as_it_prints_the_listening_line) {
  // A client that starts hookd waits for the line and connects at once;
  // the harness connects from its stdout reader the moment the line comes.
  process_options opts;
  opts.wait_connectable = false;
  opts.probe_at_line = true;
  int refused = 0;
  constexpr int starts = 25;
  for (int i = 0; i < starts; ++i) {
    hookd_process proc{opts};
    ASSERT_TRUE(proc.listening()) << proc.start_error();
    auto probe = proc.connect_at_line();
    ASSERT_TRUE(probe.has_value());
    if (!*probe)
      ++refused;
    proc.kill();
  }
  EXPECT_EQ(refused, 0) << refused << " of " << starts
                        << " connections made right after the listening line "
                           "were refused";
}

/// An idle server has nothing in flight: it should be gone quickly.
constexpr auto prompt_exit = 5s;

/// Stops hookd with `sig` and checks it exits 0 within `prompt_exit`.
void expect_prompt_clean_exit(hookd_process& proc, int sig) {
  auto started = std::chrono::steady_clock::now();
  auto st = proc.stop(sig, prompt_exit);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  EXPECT_FALSE(st.timed_out) << "still running " << prompt_exit.count()
                             << " s after signal " << sig << " (then killed)";
  EXPECT_TRUE(st.clean()) << st << " after " << took.count()
                          << " ms; stderr: " << proc.stderr_text();
}

TEST_F(integration, sigterm_on_an_idle_server_exits_0_promptly) {
  expect_prompt_clean_exit(*proc_, SIGTERM);
}

TEST_F(integration, sigterm_after_api_traffic_exits_0_promptly) {
  auto c = admin();
  for (const char* coll : {org_hooks, stack_hooks, env_hooks}) {
    create(c, coll, hook_body("h"));
    // Listing deliveries wakes the hook's own actor.
    EXPECT_TRUE(
        is_json_status(c.get(std::string{coll} + "/h/deliveries"), 200));
  }
  make_token(c, "acme", "ci");
  expect_prompt_clean_exit(*proc_, SIGTERM);
}

TEST_F(integration, sigint_also_exits_0_promptly) {
  EXPECT_TRUE(is_json_status(admin().get(org_hooks), 200));
  expect_prompt_clean_exit(*proc_, SIGINT);
}

TEST_F(integration, legacy_path_and_esc_default_project_share_hooks) {
  auto c = admin();
  auto made = create(c, legacy_hooks, hook_body("shared"));
  EXPECT_EQ(made.value("projectName", ""), "default");
  EXPECT_EQ(made.value("envName", ""), "dev");
  auto via_esc = c.get(std::string{env_hooks} + "/shared");
  ASSERT_TRUE(is_json_status(via_esc, 200));
  EXPECT_EQ(via_esc.body_json(), made);
  EXPECT_EQ(list(c, env_hooks), json::array({made}));

  // And the other way round, PATCH and DELETE included.
  auto other = create(c, env_hooks, hook_body("from-esc"));
  EXPECT_EQ(c.get(std::string{legacy_hooks} + "/from-esc").body_json(), other);
  EXPECT_TRUE(is_error(c.post(legacy_hooks, hook_body("from-esc")), 409));
  auto r = c.patch(std::string{legacy_hooks} + "/from-esc",
                   {{"displayName", "patched via legacy"},
                    {"payloadUrl", "https://example.com/p"}});
  ASSERT_TRUE(is_json_status(r, 200));
  EXPECT_EQ(c.get(std::string{env_hooks} + "/from-esc")
                .body_json()
                .value("displayName", ""),
            "patched via legacy");
  EXPECT_EQ(c.del(std::string{env_hooks} + "/shared").status, 204);
  EXPECT_TRUE(is_error(c.get(std::string{legacy_hooks} + "/shared"), 404));
  EXPECT_EQ(list(c, legacy_hooks).size(), 1u);
  // Another project's environment of the same name is another scope.
  EXPECT_EQ(list(c, "/api/esc/environments/acme/infra/dev/hooks"),
            json::array());
  // A legacy body may name the project only as "default".
  auto body = hook_body("proj");
  body["projectName"] = "infra";
  EXPECT_TRUE(is_error(c.post(legacy_hooks, body), 400));
  body["projectName"] = "default";
  EXPECT_TRUE(is_json_status(c.post(legacy_hooks, body), 201));
}

// -- validation ------------------------------------------------------------

/// Posts each body to the org collection; each must be a 400 error and
/// nothing may be created.
void expect_all_rejected(
    const http_client& c,
    const std::vector<std::pair<std::string, std::string>>& cases,
    const std::string& collection = org_hooks) {
  for (const auto& [label, body] : cases) {
    SCOPED_TRACE(label);
    EXPECT_TRUE(is_error(c.request("POST", collection, body), 400));
  }
  EXPECT_EQ(list(c, collection), json::array());
}

TEST_F(integration, malformed_and_non_object_bodies_are_400) {
  expect_all_rejected(
      admin(),
      {
          {"truncated", "{\"displayName\":\"x\""},
          {"garbage", "not json"},
          {"trailing comma",
           R"({"displayName":"x","payloadUrl":"https://e.com",})"},
          {"trailing garbage",
           R"({"displayName":"x","payloadUrl":"https://e.com"} x)"},
          {"empty body", ""},
          {"array", R"([{"displayName":"x","payloadUrl":"https://e.com"}])"},
          {"string", R"("hello")"},
          {"number", "42"},
          {"null", "null"},
      });
}

TEST_F(integration, wrong_field_types_are_400) {
  std::vector<std::pair<std::string, std::string>> cases;
  auto with = [](const std::string& extra) {
    return R"({"displayName":"x","payloadUrl":"https://example.com",)" + extra
           + "}";
  };
  cases.emplace_back("active string", with(R"("active":"yes")"));
  cases.emplace_back("active number", with(R"("active":1)"));
  cases.emplace_back("filters string", with(R"("filters":"stack_created")"));
  cases.emplace_back("filters object", with(R"("filters":{})"));
  cases.emplace_back("filters of numbers", with(R"("filters":[1])"));
  cases.emplace_back("groups string", with(R"("groups":"stacks")"));
  cases.emplace_back("name number", with(R"("name":7)"));
  cases.emplace_back("secret number", with(R"("secret":7)"));
  cases.emplace_back("format number", with(R"("format":1)"));
  cases.emplace_back("organizationName number",
                     with(R"("organizationName":1)"));
  cases.emplace_back("displayName number",
                     R"({"displayName":1,"payloadUrl":"https://example.com"})");
  cases.emplace_back(
      "payloadUrl array",
      R"({"displayName":"x","payloadUrl":["https://example.com"]})");
  expect_all_rejected(admin(), cases);
}

TEST_F(integration, display_name_is_required_and_bounded) {
  auto c = admin();
  expect_all_rejected(
      c,
      {
          {"missing", R"({"payloadUrl":"https://example.com"})"},
          {"empty", R"({"displayName":"","payloadUrl":"https://example.com"})"},
          {"null",
           R"({"displayName":null,"payloadUrl":"https://example.com"})"},
          {"257 chars", json{{"displayName", std::string(257, 'd')},
                             {"payloadUrl", "https://example.com"}}
                            .dump()},
      });
  EXPECT_TRUE(
      is_json_status(c.post(org_hooks, {{"displayName", std::string(256, 'd')},
                                        {"payloadUrl", "https://example.com"}}),
                     201));
  // Characters, not bytes: 256 two-byte characters are fine.
  std::string accented;
  for (int i = 0; i < 256; ++i)
    accented += "\xc3\xa9";
  auto r = c.post(org_hooks, {{"displayName", accented},
                              {"payloadUrl", "https://example.com"}});
  ASSERT_TRUE(is_json_status(r, 201));
  EXPECT_EQ(r.body_json().value("displayName", ""), accented);
}

TEST_F(integration, payload_url_must_be_absolute_http_with_a_host) {
  auto c = admin();
  std::vector<std::pair<std::string, std::string>> cases;
  for (const std::string& url : std::vector<std::string>{
           "ftp://example.com/x", "http://", "https://", "http:///path",
           "/relative/path", "relative", "example.com/hook", "",
           "https://:443/x", "http://exa mple.com/", "javascript:alert(1)",
           "file:///etc/passwd", "http://example.com:99999/",
           "https://example.com/" + std::string(2048, 'a'),
           // Credentials would be stored and listed in clear.
           "https://user:pw@example.com:8443/p?q=1#f"}) {
    cases.emplace_back("url '" + url.substr(0, 40) + "'",
                       json{{"displayName", "x"}, {"payloadUrl", url}}.dump());
  }
  cases.emplace_back("missing", R"({"displayName":"x"})");
  expect_all_rejected(c, cases);
  for (const std::string& url : std::vector<std::string>{
           "http://example.com", "HTTPS://EXAMPLE.COM/x",
           "https://example.com:8443/p?q=1#f", "http://[2001:db8::1]:8080/x",
           "https://example.com/" + std::string(2048 - 20, 'a')}) {
    SCOPED_TRACE(url.substr(0, 60));
    auto r = c.post(org_hooks, {{"displayName", "x"}, {"payloadUrl", url}});
    ASSERT_TRUE(is_json_status(r, 201));
    EXPECT_EQ(r.body_json().value("payloadUrl", ""), url);
  }
}

TEST_F(integration, format_must_be_known) {
  auto c = admin();
  std::vector<std::pair<std::string, std::string>> cases;
  for (const char* f : {"", "xml", "RAW", "Slack", "teams", " raw"})
    cases.emplace_back(std::string{"format '"} + f + "'",
                       json{{"displayName", "x"},
                            {"payloadUrl", "https://example.com"},
                            {"format", f}}
                           .dump());
  expect_all_rejected(c, cases);
  for (const char* f : {"raw", "ms_teams"}) {
    auto r = c.post(org_hooks, {{"displayName", "x"},
                                {"payloadUrl", "https://example.com"},
                                {"format", f}});
    ASSERT_TRUE(is_json_status(r, 201)) << f;
    EXPECT_EQ(r.body_json().value("format", ""), f);
  }
  auto r = c.post(org_hooks, {{"displayName", "x"},
                              {"payloadUrl", "https://example.com"},
                              {"format", nullptr}});
  ASSERT_TRUE(is_json_status(r, 201));
  EXPECT_EQ(r.body_json().value("format", ""), "raw");
}

TEST_F(integration, pulumi_deployments_on_org_hook_has_the_pulumi_message) {
  auto r = admin().post(org_hooks, {{"displayName", "x"},
                                    {"payloadUrl", "proj/stack"},
                                    {"format", "pulumi_deployments"}});
  ASSERT_TRUE(is_error(r, 400));
  EXPECT_EQ(r.body_json().value("message", ""), deployments_on_org_message);
}

TEST_F(integration, slack_url_must_start_with_the_slack_prefix) {
  auto c = admin();
  std::vector<std::pair<std::string, std::string>> cases;
  for (const char* url :
       {"https://example.com/services/x", "http://hooks.slack.com/services/x",
        "https://hooks.slack.com.evil.example/x", "https://hooks.slack.com",
        "hooks.slack.com/services/x", ""})
    cases.emplace_back(
        std::string{"url '"} + url + "'",
        json{{"displayName", "x"}, {"payloadUrl", url}, {"format", "slack"}}
            .dump());
  expect_all_rejected(c, cases);
  auto r = c.post(org_hooks,
                  {{"displayName", "x"},
                   {"payloadUrl", "https://hooks.slack.com/services/T0/B0/XYZ"},
                   {"format", "slack"}});
  ASSERT_TRUE(is_json_status(r, 201));
  EXPECT_EQ(r.body_json().value("format", ""), "slack");
}

TEST_F(integration, slack_prefix_is_configurable) {
  process_options options;
  options.env = {{"HOOKD_SLACK_URL_PREFIX", "https://slack.internal.example/"}};
  auto custom = std::make_unique<hookd_process>(options);
  ASSERT_TRUE(custom->listening()) << custom->start_error();
  auto c = custom->client();
  EXPECT_TRUE(is_json_status(
      c.post(org_hooks, {{"displayName", "x"},
                         {"payloadUrl", "https://slack.internal.example/h/1"},
                         {"format", "slack"}}),
      201));
  EXPECT_TRUE(is_error(
      c.post(org_hooks, {{"displayName", "x"},
                         {"payloadUrl", "https://hooks.slack.com/services/x"},
                         {"format", "slack"}}),
      400));
  custom->kill();
}

TEST_F(integration, hook_names_are_validated) {
  auto c = admin();
  std::vector<std::pair<std::string, std::string>> cases;
  for (std::string name :
       {std::string(33, 'n'), std::string{".."}, std::string{"."},
        std::string{"a\x01"
                    "b"},
        std::string{"a\nb"}, std::string{"a\tb"},
        std::string{"a\x7f"
                    "b"},
        std::string{"a/b"}, std::string{"a b"}, std::string{"a%2Fb"},
        std::string{"caf\xc3\xa9"}, std::string{"a\\b"}, std::string{"a:b"},
        std::string{"a?b"}}) {
    std::string label = "name '";
    for (char ch : name)
      label += (static_cast<unsigned char>(ch) < 0x20
                || static_cast<unsigned char>(ch) >= 0x7f)
                   ? '?'
                   : ch;
    cases.emplace_back(label + "'", json{{"name", name},
                                         {"displayName", "x"},
                                         {"payloadUrl", "https://example.com"}}
                                        .dump());
  }
  expect_all_rejected(c, cases);
  for (std::string name :
       {std::string(32, 'n'), std::string{"a"}, std::string{"A.b_c-9"},
        std::string{"..."}, std::string{".hidden"}}) {
    SCOPED_TRACE(name);
    auto r = c.post(org_hooks, hook_body(name));
    ASSERT_TRUE(is_json_status(r, 201));
    EXPECT_EQ(r.body_json().value("name", ""), name);
    EXPECT_TRUE(
        is_json_status(c.get(std::string{org_hooks} + "/" + name), 200));
  }
}

/// Bodies whose JSON strings hold bytes that are not UTF-8.
const std::vector<std::pair<std::string, std::string>>& non_utf8_bodies() {
  static const std::vector<std::pair<std::string, std::string>> cases{
      {"display name 0xff 0xfe",
       "{\"displayName\":\"bad \xff\xfe\",\"payloadUrl\":\"https://e.com\"}"},
      {"overlong slash",
       "{\"displayName\":\"\xc0\xaf\",\"payloadUrl\":\"https://e.com\"}"},
      {"lone continuation byte",
       "{\"displayName\":\"a\x80z\",\"payloadUrl\":\"https://e.com\"}"},
      {"truncated sequence",
       "{\"displayName\":\"a\xe2\x82\",\"payloadUrl\":\"https://e.com\"}"},
      {"latin-1 name", "{\"name\":\"caf\xe9\",\"displayName\":\"x\","
                       "\"payloadUrl\":\"https://e.com\"}"},
      {"0xff in a field name",
       "{\"\xff\":1,\"displayName\":\"x\",\"payloadUrl\":\"https://e.com\"}"},
  };
  return cases;
}

TEST(integration_non_utf8, body_is_400) {
  // A fresh server per body, so that one case cannot spoil the next.
  for (const auto& [label, body] : non_utf8_bodies()) {
    SCOPED_TRACE(label);
    hookd_process proc;
    ASSERT_TRUE(proc.listening()) << proc.start_error();
    auto c = proc.client();
    EXPECT_TRUE(is_error(c.request("POST", org_hooks, body), 400));
    EXPECT_EQ(list(c, org_hooks), json::array());
    proc.kill();
  }
}

TEST(integration_non_utf8, body_over_a_raw_socket_is_400) {
  hookd_process proc;
  ASSERT_TRUE(proc.listening()) << proc.start_error();
  std::string body
      = "{\"displayName\":\"raw \xff\",\"payloadUrl\":\"https://e.com\"}";
  auto r = raw_request(
      proc.port(),
      std::string{"POST /api/orgs/acme/hooks HTTP/1.1\r\n"}
          + "Host: 127.0.0.1\r\nAuthorization: token " + test_admin_token
          + "\r\nContent-Type: application/json\r\nContent-Length: "
          + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n"
          + body);
  EXPECT_TRUE(r.error.empty()) << r.error;
  EXPECT_TRUE(is_error(r, 400));
  proc.kill();
}

TEST(integration_non_utf8, escaped_lone_surrogate_is_400) {
  hookd_process proc;
  ASSERT_TRUE(proc.listening()) << proc.start_error();
  auto c = proc.client();
  EXPECT_TRUE(is_error(
      c.request("POST", org_hooks,
                R"({"displayName":"\udc00","payloadUrl":"https://e.com"})"),
      400));
  EXPECT_EQ(list(c, org_hooks), json::array());
  proc.kill();
}

TEST(integration_non_utf8, server_keeps_serving_after_a_non_utf8_body) {
  hookd_process proc;
  ASSERT_TRUE(proc.listening()) << proc.start_error();
  auto c = proc.client();
  c.request("POST", org_hooks, non_utf8_bodies().front().second);
  // Every organization must still be served, acme included.
  for (const char* org : {"acme", "other", "a", "b", "c", "d", "e", "f"}) {
    SCOPED_TRACE(org);
    auto r = c.get(std::string{"/api/orgs/"} + org + "/hooks");
    EXPECT_TRUE(is_json_status(r, 200));
    EXPECT_EQ(r.body_json(), json::array());
  }
  EXPECT_TRUE(is_json_status(c.post(org_hooks, hook_body("after")), 201));
  EXPECT_TRUE(is_json_status(c.get("/healthz"), 200));
  EXPECT_TRUE(proc.stop().clean());
}

TEST(integration_non_utf8, bytes_in_path_names_are_400) {
  hookd_process proc;
  ASSERT_TRUE(proc.listening()) << proc.start_error();
  auto c = proc.client();
  for (const char* path :
       {"/api/orgs/%FF/hooks", "/api/orgs/ac%C0%AFme/hooks",
        "/api/orgs/acme/hooks/%FF", "/api/stacks/acme/%E2%82/prod/hooks",
        "/api/stacks/acme/web/%80/hooks",
        "/api/esc/environments/acme/default/%FE/hooks",
        "/api/preview/environments/%FF/dev/hooks", "/api/orgs/%FF/tokens"}) {
    SCOPED_TRACE(path);
    EXPECT_TRUE(is_error(c.get(path), 400));
  }
  EXPECT_TRUE(is_json_status(c.get(org_hooks), 200));
  proc.kill();
}

TEST_F(integration, response_only_and_unknown_fields_are_ignored) {
  auto r = admin().post(org_hooks, {{"name", "ign"},
                                    {"displayName", "x"},
                                    {"payloadUrl", "https://example.com"},
                                    {"hasSecret", true},
                                    {"secretCiphertext", "abc"},
                                    {"somethingNew", {{"a", 1}}}});
  ASSERT_TRUE(is_json_status(r, 201));
  auto j = r.body_json();
  EXPECT_EQ(j.value("hasSecret", json{}), json(false));
  EXPECT_EQ(j.value("secretCiphertext", json{}), json(""));
  EXPECT_FALSE(j.contains("somethingNew"));
}

// -- paths -----------------------------------------------------------------

TEST_F(integration, hostile_names_in_paths_are_400) {
  auto c = admin();
  create(c, org_hooks, hook_body("real"));
  for (const std::string& path : std::vector<std::string>{
           "/api/orgs/acme/hooks/a%2Fb",
           "/api/orgs/acme/hooks/a%2fb",
           "/api/orgs/acme/hooks/..",
           "/api/orgs/acme/hooks/.",
           "/api/orgs/acme/hooks/%2e%2e",
           "/api/orgs/acme/hooks/%2E%2E",
           "/api/orgs/acme/hooks/a%00b",
           "/api/orgs/acme/hooks/%00",
           "/api/orgs/acme/hooks/a%0Ab",
           "/api/orgs/acme/hooks/a%0D%0AX-Evil:%201",
           "/api/orgs/acme/hooks/a%20b",
           "/api/orgs/acme/hooks/" + std::string(33, 'n'),
           "/api/orgs/acme/hooks/../hooks",
           "/api/orgs/acme/hooks/..%2Freal",
           "/api/orgs/acme/hooks/real%2F..%2F..",
           "/api/orgs/a%2Fb/hooks",
           "/api/orgs/../hooks/real",
           "/api/orgs/%2e%2e/hooks",
           "/api/orgs/ac%00me/hooks",
           "/api/orgs/ac%0Ame/hooks",
           "/api/stacks/acme/we%2Fb/prod/hooks",
           "/api/stacks/acme/../prod/hooks",
           "/api/stacks/acme/web/%00/hooks",
           "/api/esc/environments/acme/%2e%2e/dev/hooks",
           "/api/esc/environments/acme/default/a%2Fb/hooks",
           "/api/preview/environments/acme/..%2F/hooks"}) {
    SCOPED_TRACE(path);
    EXPECT_TRUE(is_error(c.get(path), 400));
  }
  for (const char* path :
       {"/api/orgs/acme/hooks/..", "/api/orgs/acme/hooks/a%2Fb",
        "/api/orgs/acme/hooks/%00"}) {
    SCOPED_TRACE(path);
    EXPECT_TRUE(is_error(c.del(path), 400));
    EXPECT_TRUE(is_error(c.patch(path, hook_body("")), 400));
  }
  EXPECT_TRUE(is_error(c.post("/api/orgs/a%2Fb/hooks", hook_body("x")), 400));
  // Nothing was touched.
  auto all = list(c, org_hooks);
  ASSERT_EQ(all.size(), 1u) << all.dump();
  EXPECT_EQ(all[0].value("name", ""), "real");
}

TEST_F(integration, dot_dot_over_a_raw_socket_is_400) {
  create(admin(), org_hooks, hook_body("real"));
  for (const char* target :
       {"/api/orgs/acme/hooks/..", "/api/orgs/acme/hooks/../hooks",
        "/api/orgs/acme/hooks/../hooks/real", "/api/orgs/../orgs/acme/hooks"}) {
    SCOPED_TRACE(target);
    auto r
        = raw_request(proc_->port(),
                      std::string{"DELETE "} + target + " HTTP/1.1\r\nHost: "
                          + "127.0.0.1\r\nAuthorization: token "
                          + test_admin_token + "\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(r.error.empty()) << r.error;
    EXPECT_TRUE(is_error(r, 400));
  }
  EXPECT_EQ(list(admin(), org_hooks).size(), 1u);
}

// Requests pipelined on one connection get their answers in order, those
// the front end gives itself (health, 404, 405) and the actors' alike.
TEST_F(integration, pipelined_requests_each_get_their_answer_in_order) {
  const std::string host = "Host: 127.0.0.1\r\n";
  const std::string auth
      = "Authorization: token " + std::string{test_admin_token} + "\r\n";
  auto stream = raw_stream(
      proc_->port(),
      "GET /healthz HTTP/1.1\r\n" + host + "\r\n" + "GET /nowhere HTTP/1.1\r\n"
          + host + "\r\n" + "DELETE /healthz HTTP/1.1\r\n" + host + "\r\n"
          + "GET " + org_hooks + " HTTP/1.1\r\n" + host + auth + "\r\n"
          + "GET /healthz HTTP/1.1\r\n" + host + "Connection: close\r\n\r\n");
  std::vector<int> statuses;
  std::regex status_line{"HTTP/1\\.1 (\\d{3}) "};
  for (std::sregex_iterator it{stream.begin(), stream.end(), status_line}, end;
       it != end; ++it)
    statuses.push_back(std::stoi((*it)[1]));
  EXPECT_EQ(statuses, (std::vector<int>{200, 404, 405, 200, 200})) << stream;
}

// -- limits ----------------------------------------------------------------

TEST_F(integration, body_over_1_mib_is_413_and_creates_nothing) {
  auto c = admin();
  auto existing = create(c, org_hooks, hook_body("existing"));
  auto before = list(c, org_hooks);
  json big = hook_body("big");
  big["padding"] = std::string(2 * 1024 * 1024, 'p');
  auto r = c.post(org_hooks, big);
  EXPECT_TRUE(is_error(r, 413));
  EXPECT_EQ(list(c, org_hooks), before);
  EXPECT_TRUE(is_error(c.get(std::string{org_hooks} + "/big"), 404));

  json patch{{"displayName", "changed"},
             {"payloadUrl", "https://example.com/changed"},
             {"padding", std::string(2 * 1024 * 1024, 'p')}};
  EXPECT_TRUE(
      is_error(c.patch(std::string{org_hooks} + "/existing", patch), 413));
  EXPECT_EQ(c.get(std::string{org_hooks} + "/existing").body_json(), existing);

  // Just over the limit, too.
  json edge = hook_body("edge");
  edge["padding"] = "";
  auto base = edge.dump().size();
  edge["padding"] = std::string(1024 * 1024 + 1 - base, 'p');
  ASSERT_EQ(edge.dump().size(), 1024u * 1024u + 1u);
  EXPECT_TRUE(is_error(c.post(org_hooks, edge), 413));
  EXPECT_EQ(list(c, org_hooks), before);
  // The server still serves.
  EXPECT_TRUE(is_json_status(c.get("/healthz"), 200));
}

TEST_F(integration, body_of_exactly_1_mib_is_accepted) {
  json edge = hook_body("edge");
  edge["padding"] = "";
  auto base = edge.dump().size();
  edge["padding"] = std::string(1024 * 1024 - base, 'p');
  ASSERT_EQ(edge.dump().size(), 1024u * 1024u);
  auto r = admin().post(org_hooks, edge);
  ASSERT_TRUE(is_json_status(r, 201));
  EXPECT_FALSE(r.body_json().contains("padding"));
}

// -- routing ---------------------------------------------------------------

TEST_F(integration, unknown_routes_are_404) {
  auto c = admin();
  for (const char* path :
       {"/", "/nope", "/api", "/api/orgs", "/api/orgs/acme",
        "/api/orgs/acme/nope", "/api/orgs/acme/hooks/x/y",
        "/api/stacks/acme/web/hooks", "/api/esc/environments/acme/dev/hooks",
        "/api/users/acme/hooks", "/healthz/x"}) {
    SCOPED_TRACE(path);
    EXPECT_TRUE(is_error(c.get(path), 404));
  }
  EXPECT_TRUE(is_error(proc_->client(std::nullopt).get("/nope"), 404))
      << "an unknown route is 404 with or without a token";
}

TEST_F(integration, wrong_methods_are_405) {
  auto c = admin();
  create(c, org_hooks, hook_body("h"));
  struct call {
    const char* method;
    std::string path;
  };
  for (const auto& [method, path] :
       std::vector<call>{{"PUT", org_hooks},
                         {"DELETE", org_hooks},
                         {"PATCH", org_hooks},
                         {"PUT", std::string{org_hooks} + "/h"},
                         {"POST", std::string{org_hooks} + "/h"},
                         {"PUT", std::string{stack_hooks}},
                         {"PUT", std::string{env_hooks}},
                         {"PUT", std::string{legacy_hooks}},
                         {"POST", std::string{org_hooks} + "/h/deliveries"},
                         {"GET", std::string{org_hooks} + "/h/ping"},
                         {"POST", "/healthz"}}) {
    SCOPED_TRACE(std::string{method} + " " + path);
    auto r = c.request(method, path, "{}");
    EXPECT_TRUE(is_error(r, 405));
    EXPECT_TRUE(r.header("Allow").has_value()) << "405 without an Allow header";
  }
  auto r = c.request("PUT", org_hooks, hook_body("put").dump());
  ASSERT_TRUE(is_error(r, 405));
  auto allow = r.header("Allow").value_or("");
  EXPECT_NE(allow.find("GET"), std::string::npos) << allow;
  EXPECT_NE(allow.find("POST"), std::string::npos) << allow;
  EXPECT_EQ(list(c, org_hooks).size(), 1u);
}

// -- access ----------------------------------------------------------------

TEST_F(integration, missing_or_wrong_token_is_401) {
  auto c = admin();
  create(c, org_hooks, hook_body("h"));
  for (const auto& [label, header] :
       std::vector<std::pair<std::string, std::optional<std::string>>>{
           {"none", std::nullopt},
           {"wrong", "token not-the-admin-token-0123456789abcdef"},
           {"admin token with a suffix",
            std::string{"token "} + test_admin_token + "x"},
           {"admin token prefix",
            std::string{"token "}
                + std::string{test_admin_token}.substr(0, 20)},
           {"basic scheme", std::string{"Basic "} + test_admin_token},
           {"bare token", std::string{test_admin_token}},
           {"empty", ""},
           {"scheme only", "token"},
           {"forged org token", "hookd_0011223344556677_deadbeef"}}) {
    SCOPED_TRACE(label);
    header_list h;
    if (header)
      h.emplace_back("Authorization", *header);
    auto anon = proc_->client(std::nullopt);
    EXPECT_TRUE(is_error(anon.request("GET", org_hooks, {}, h), 401));
    EXPECT_TRUE(is_error(
        anon.request("POST", org_hooks, hook_body("sneaky").dump(), h), 401));
    EXPECT_TRUE(is_error(
        anon.request("DELETE", std::string{org_hooks} + "/h", {}, h), 401));
    EXPECT_TRUE(is_error(anon.request("GET", stack_hooks, {}, h), 401));
    EXPECT_TRUE(
        is_error(anon.request("GET", "/api/orgs/acme/tokens", {}, h), 401));
  }
  auto all = list(c, org_hooks);
  ASSERT_EQ(all.size(), 1u) << all.dump();
}

TEST_F(integration, bearer_and_token_schemes_are_accepted) {
  auto anon = proc_->client(std::nullopt);
  for (const std::string& header : {std::string{"token "} + test_admin_token,
                                    std::string{"Bearer "} + test_admin_token,
                                    std::string{"bearer "} + test_admin_token,
                                    std::string{"Token "} + test_admin_token}) {
    SCOPED_TRACE(header);
    auto r = anon.request("GET", org_hooks, {}, {{"Authorization", header}});
    EXPECT_TRUE(is_json_status(r, 200));
    EXPECT_EQ(r.body_json(), json::array());
  }
}

TEST_F(integration, org_token_works_on_its_org_only) {
  auto c = admin();
  create(c, org_hooks, hook_body("o"));
  create(c, stack_hooks, hook_body("s"));
  create(c, "/api/orgs/other/hooks", hook_body("theirs"));
  auto [id, value] = make_token(c, "acme", "ci");
  ASSERT_FALSE(value.empty());
  EXPECT_FALSE(id.empty());
  EXPECT_EQ(value.find(' '), std::string::npos);
  auto t = c.as(value);

  auto r = t.get(org_hooks);
  ASSERT_TRUE(is_json_status(r, 200));
  EXPECT_EQ(r.body_json().size(), 1u);
  EXPECT_TRUE(is_json_status(t.get(stack_hooks), 200));
  EXPECT_TRUE(is_json_status(t.get(env_hooks), 200));
  EXPECT_TRUE(is_json_status(t.get(legacy_hooks), 200));
  EXPECT_TRUE(is_json_status(t.post(org_hooks, hook_body("by-token")), 201));
  EXPECT_TRUE(is_json_status(
      t.request("GET", org_hooks, {}, {{"Authorization", "Bearer " + value}}),
      200));

  for (const char* path :
       {"/api/orgs/other/hooks", "/api/orgs/other/hooks/theirs",
        "/api/stacks/other/p/s/hooks",
        "/api/esc/environments/other/default/dev/hooks",
        "/api/preview/environments/other/dev/hooks",
        "/api/orgs/other/tokens"}) {
    SCOPED_TRACE(path);
    EXPECT_TRUE(is_error(t.get(path), 403));
  }
  EXPECT_TRUE(is_error(t.post("/api/orgs/other/hooks", hook_body("x")), 403));
  EXPECT_TRUE(is_error(t.del("/api/orgs/other/hooks/theirs"), 403));
  EXPECT_TRUE(
      is_error(t.post("/api/orgs/other/tokens", {{"name", "escalate"}}), 403));
  EXPECT_EQ(list(c, "/api/orgs/other/hooks").size(), 1u);
}

TEST_F(integration, listing_tokens_never_shows_the_value_or_hash) {
  auto c = admin();
  auto [id1, v1] = make_token(c, "acme", "ci");
  auto [id2, v2] = make_token(c, "acme", "deploy");
  auto [id3, v3] = make_token(c, "other", "theirs");
  auto r = c.get("/api/orgs/acme/tokens");
  ASSERT_TRUE(is_json_status(r, 200));
  auto j = r.body_json();
  ASSERT_TRUE(j.is_array()) << r.body;
  ASSERT_EQ(j.size(), 2u) << r.body;
  std::set<std::string> ids;
  for (const auto& t : j) {
    ids.insert(t.value("id", ""));
    EXPECT_FALSE(t.contains("tokenValue")) << t.dump();
    EXPECT_FALSE(t.contains("hash")) << t.dump();
  }
  EXPECT_EQ(ids, (std::set<std::string>{id1, id2}));
  auto ci = std::find_if(j.begin(), j.end(), [&](const json& t) {
    return t.value("id", "") == id1;
  });
  ASSERT_NE(ci, j.end());
  EXPECT_EQ(ci->value("name", ""), "ci");
  EXPECT_EQ(ci->value("description", ""), "d");
  for (const auto& v : {v1, v2, v3}) {
    EXPECT_EQ(r.body.find(v), std::string::npos);
    EXPECT_EQ(r.body.find(sha256_hex(v)), std::string::npos);
  }
  // The org token may list its own org's tokens, same shape.
  auto own = c.as(v1).get("/api/orgs/acme/tokens");
  ASSERT_TRUE(is_json_status(own, 200));
  EXPECT_EQ(own.body_json().size(), 2u);
  EXPECT_EQ(own.body.find(v1), std::string::npos);
}

// One organization's token cannot fill the store with webhooks or tokens:
// each is bounded per organization, over every scope, and another
// organization is not affected.
TEST(integration_bounds, webhooks_and_tokens_per_organization_are_bounded) {
  process_options opts;
  opts.env.emplace_back("HOOKD_MAX_HOOKS_PER_ORG", "3");
  hookd_process proc{opts};
  ASSERT_TRUE(proc.listening()) << proc.start_error();
  auto c = proc.client();
  create(c, "/api/orgs/acme/hooks", hook_body("one"));
  create(c, "/api/stacks/acme/web/a/hooks", hook_body("two"));
  create(c, "/api/preview/environments/acme/dev/hooks", hook_body("three"));
  auto refused = c.post("/api/stacks/acme/web/b/hooks", hook_body("four"));
  EXPECT_TRUE(is_error(refused, 409)) << show(refused);
  EXPECT_NE(refused.body.find("the most it may have"), std::string::npos)
      << refused.body;
  EXPECT_TRUE(is_error(c.get("/api/stacks/acme/web/b/hooks/four"), 404));
  create(c, "/api/orgs/other/hooks", hook_body("theirs"));
  // Room again once one is deleted.
  ASSERT_EQ(c.del("/api/stacks/acme/web/a/hooks/two").status, 204);
  create(c, "/api/stacks/acme/web/b/hooks", hook_body("four"));

  for (int i = 0; i < 100; ++i)
    make_token(c, "acme", "t" + std::to_string(i));
  auto token_refused = c.post("/api/orgs/acme/tokens", {{"name", "t100"}});
  EXPECT_TRUE(is_error(token_refused, 409)) << show(token_refused);
  EXPECT_EQ(list(c, "/api/orgs/acme/tokens").size(), 100u);
  make_token(c, "other", "theirs");
}

TEST_F(integration, create_token_validates_its_body) {
  auto c = admin();
  for (const auto& [label, body] :
       std::vector<std::pair<std::string, std::string>>{
           {"malformed", "{"},
           {"array", "[]"},
           {"no name", R"({"description":"d"})"},
           {"empty name", R"({"name":""})"},
           {"name number", R"({"name":1})"},
           {"description number", R"({"name":"n","description":1})"}}) {
    SCOPED_TRACE(label);
    EXPECT_TRUE(
        is_error(c.request("POST", "/api/orgs/acme/tokens", body), 400));
  }
  EXPECT_EQ(list(c, "/api/orgs/acme/tokens"), json::array());
}

TEST_F(integration, deleted_token_is_401) {
  auto c = admin();
  auto [id, value] = make_token(c, "acme", "ci");
  auto [id2, value2] = make_token(c, "acme", "keep");
  ASSERT_TRUE(is_json_status(c.as(value).get(org_hooks), 200));
  auto r = c.del("/api/orgs/acme/tokens/" + id);
  EXPECT_EQ(r.status, 204) << show(r);
  EXPECT_EQ(r.body, "");
  EXPECT_TRUE(is_error(c.as(value).get(org_hooks), 401));
  EXPECT_TRUE(is_error(c.del("/api/orgs/acme/tokens/" + id), 404));
  EXPECT_TRUE(is_json_status(c.as(value2).get(org_hooks), 200));
  auto left = list(c, "/api/orgs/acme/tokens");
  ASSERT_EQ(left.size(), 1u) << left.dump();
  EXPECT_EQ(left[0].value("id", ""), id2);
}

// A read of one webhook, once kept, is answered by the front end itself
// (read_board.hpp): the answers must stay those of the actors, through
// changes, deleted tokens and foreign tokens.
TEST_F(integration, a_kept_read_follows_changes_and_tokens) {
  auto c = admin();
  create(c, org_hooks, hook_body("kept"));
  auto path = std::string{org_hooks} + "/kept";
  auto [id, value] = make_token(c, "acme", "reader");
  auto [other_id, other_value] = make_token(c, "other", "theirs");
  auto t = c.as(value);
  auto display = [&](const http_client& who) {
    auto r = who.get(path);
    EXPECT_TRUE(is_json_status(r, 200)) << show(r);
    return r.status == 200 ? r.body_json().value("displayName", "")
                           : std::string{};
  };
  auto first = display(c);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(display(c), first);
    EXPECT_EQ(display(t), first);
  }
  ASSERT_TRUE(is_json_status(
      c.patch(path, {{"displayName", "changed"},
                     {"payloadUrl", "https://example.com/hook"}}),
      200));
  EXPECT_EQ(display(t), "changed");
  EXPECT_EQ(display(c), "changed");
  // Someone else's token, a forged secret, no token.
  EXPECT_TRUE(is_error(c.as(other_value).get(path), 403));
  auto forged
      = value.substr(0, value.size() - 1) + (value.back() == 'a' ? "b" : "a");
  EXPECT_TRUE(is_error(c.as(forged).get(path), 401));
  EXPECT_TRUE(is_error(proc_->client(std::nullopt).get(path), 401));
  // A deleted token stops reading at once.
  ASSERT_EQ(c.del("/api/orgs/acme/tokens/" + id).status, 204);
  EXPECT_TRUE(is_error(t.get(path), 401));
  // A deleted webhook is gone for every reader.
  ASSERT_EQ(c.del(path).status, 204);
  EXPECT_TRUE(is_error(c.get(path), 404));
}

TEST_F(integration, deleting_an_unknown_token_is_404) {
  auto c = admin();
  EXPECT_TRUE(is_error(c.del("/api/orgs/acme/tokens/0011223344556677"), 404));
  EXPECT_TRUE(is_error(c.del("/api/orgs/acme/tokens/nope"), 404));
}

TEST_F(integration, a_token_of_another_org_cannot_delete_acme_tokens) {
  auto c = admin();
  auto [acme_id, acme_value] = make_token(c, "acme", "ci");
  auto [other_id, other_value] = make_token(c, "other", "theirs");
  auto r = c.as(other_value).del("/api/orgs/acme/tokens/" + acme_id);
  EXPECT_TRUE(r.status == 403 || r.status == 404) << show(r);
  EXPECT_TRUE(is_error(r, r.status));
  // Nor through its own org's path.
  r = c.as(other_value).del("/api/orgs/other/tokens/" + acme_id);
  EXPECT_TRUE(is_error(r, 404));
  // The admin cannot delete it through the wrong org either.
  EXPECT_TRUE(is_error(c.del("/api/orgs/other/tokens/" + acme_id), 404));
  EXPECT_TRUE(is_json_status(c.as(acme_value).get(org_hooks), 200));
  EXPECT_EQ(list(c, "/api/orgs/acme/tokens").size(), 1u);
}

// -- persistence -----------------------------------------------------------

TEST(integration_persistence, hooks_and_tokens_survive_a_restart) {
  auto first = std::make_unique<hookd_process>();
  ASSERT_TRUE(first->listening()) << first->start_error();
  auto c = first->client();
  std::vector<std::string> items;
  json hooks;
  for (const auto& [coll, name, secret] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {org_hooks, "org-hook", "org-secret"},
           {stack_hooks, "stack-hook", ""},
           {env_hooks, "env-hook", "env-secret"}}) {
    auto body = hook_body(name);
    body["active"] = true;
    if (!secret.empty())
      body["secret"] = secret;
    auto made = create(c, coll, body);
    EXPECT_EQ(made.value("hasSecret", false), !secret.empty());
    items.push_back(coll + "/" + name);
    hooks[coll + "/" + name] = made;
  }
  auto [id, value] = make_token(c, "acme", "ci");
  auto [gone_id, gone_value] = make_token(c, "acme", "revoked");
  ASSERT_EQ(c.del("/api/orgs/acme/tokens/" + gone_id).status, 204);
  ASSERT_EQ(c.del(std::string{org_hooks} + "/org-hook").status, 204);
  hooks.erase(std::string{org_hooks} + "/org-hook");
  auto recreated = create(c, org_hooks, [] {
    auto b = hook_body("org-hook");
    b["secret"] = "second-life";
    return b;
  }());
  hooks[std::string{org_hooks} + "/org-hook"] = recreated;

  auto st = first->stop(SIGTERM);
  ASSERT_TRUE(st.clean()) << st << "; stderr: " << first->stderr_text();

  auto second = first->restart();
  ASSERT_TRUE(second->listening()) << second->start_error();
  auto c2 = second->client();
  for (const auto& [path, made] : hooks.items()) {
    SCOPED_TRACE(path);
    auto r = c2.get(path);
    ASSERT_TRUE(is_json_status(r, 200));
    EXPECT_EQ(r.body_json(), made);
  }
  EXPECT_EQ(list(c2, org_hooks).size(), 1u);
  EXPECT_EQ(list(c2, stack_hooks).size(), 1u);
  EXPECT_EQ(list(c2, legacy_hooks).size(), 1u);
  EXPECT_EQ(c2.get(std::string{org_hooks} + "/org-hook")
                .body_json()
                .value("secretCiphertext", ""),
            recreated.value("secretCiphertext", ""));
  EXPECT_TRUE(
      is_keyed_fingerprint(recreated["secretCiphertext"], "second-life"));
  EXPECT_TRUE(is_json_status(c2.as(value).get(org_hooks), 200));
  EXPECT_TRUE(is_error(c2.as(value).get("/api/orgs/other/hooks"), 403));
  EXPECT_TRUE(is_error(c2.as(gone_value).get(org_hooks), 401));
  auto tokens = list(c2, "/api/orgs/acme/tokens");
  ASSERT_EQ(tokens.size(), 1u) << tokens.dump();
  EXPECT_EQ(tokens[0].value("id", ""), id);
  // Still editable after the restart.
  auto r = c2.patch(std::string{env_hooks} + "/env-hook",
                    {{"displayName", "after restart"},
                     {"payloadUrl", "https://example.com/r"}});
  ASSERT_TRUE(is_json_status(r, 200));
  EXPECT_EQ(r.body_json()["secretCiphertext"],
            hooks[std::string{env_hooks} + "/env-hook"]["secretCiphertext"]);
  EXPECT_TRUE(
      is_keyed_fingerprint(r.body_json()["secretCiphertext"], "env-secret"));
  EXPECT_TRUE(is_error(c2.post(stack_hooks, hook_body("stack-hook")), 409));
  st = second->stop(SIGTERM);
  EXPECT_TRUE(st.clean()) << st;
}

TEST(integration_persistence,
     generated_admin_token_is_printed_once_and_persists) {
  process_options opts;
  opts.admin_token = false;
  auto first = std::make_unique<hookd_process>(opts);
  ASSERT_TRUE(first->listening()) << first->start_error();
  // Printed for the operator on stdout, never into the log on stderr.
  static const std::regex token_re{"hookd_admin_[A-Za-z0-9_-]+"};
  auto out = first->stdout_text();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, token_re)) << "stdout: " << out;
  auto token = m.str();
  EXPECT_EQ(count_of(out, "hookd_admin_"), 1u) << out;
  EXPECT_EQ(first->stderr_text().find(token), std::string::npos);
  auto c = first->client(token);
  EXPECT_TRUE(is_json_status(c.get(org_hooks), 200));
  create(c, org_hooks, hook_body("h"));
  EXPECT_TRUE(is_error(first->client().get(org_hooks), 401))
      << "the test token is not configured here";
  auto st = first->stop(SIGTERM);
  ASSERT_TRUE(st.clean()) << st;
  EXPECT_EQ(count_of(first->stdout_text(), token), 1u);
  EXPECT_EQ(count_of(first->stderr_text(), token), 0u);
  EXPECT_TRUE(files_containing(first->data_dir(), token).empty())
      << "the admin token is stored in clear";

  auto second = first->restart();
  ASSERT_TRUE(second->listening()) << second->start_error();
  EXPECT_EQ(second->stdout_text().find("hookd_admin_"), std::string::npos)
      << "a new admin token was printed: " << second->stdout_text();
  auto c2 = second->client(token);
  auto r = c2.get(org_hooks);
  ASSERT_TRUE(is_json_status(r, 200));
  EXPECT_EQ(r.body_json().size(), 1u);
  st = second->stop(SIGTERM);
  EXPECT_TRUE(st.clean()) << st;
  EXPECT_EQ(second->stderr_text().find("hookd_admin_"), std::string::npos);
}

// -- secrets ---------------------------------------------------------------

TEST(integration_secrets, never_stored_or_logged_in_clear) {
  const std::string secret1 = "hookd-it-secret-Zq9Xw3Lp7Rt2-first";
  const std::string secret2 = "hookd-it-secret-Mv4Kd8Nc1Hs6-rotated";
  const std::string secret3 = "whsec_aG9va2QtaXQtc3RkLXdlYmhvb2tzLXNlY3JldA==";
  auto proc = std::make_unique<hookd_process>();
  ASSERT_TRUE(proc->listening()) << proc->start_error();
  auto c = proc->client();
  auto body = hook_body("sec");
  body["secret"] = secret1;
  create(c, org_hooks, body);
  body = hook_body("std");
  body["secret"] = secret3;
  create(c, stack_hooks, body);
  auto r = c.patch(std::string{org_hooks} + "/sec",
                   {{"displayName", "x"},
                    {"payloadUrl", "https://example.com"},
                    {"secret", secret2}});
  ASSERT_TRUE(is_json_status(r, 200));
  auto [id, value] = make_token(c, "acme", "ci");
  ASSERT_FALSE(value.empty());
  ASSERT_TRUE(is_json_status(c.as(value).get(org_hooks), 200));
  // The random part of the token alone must not appear either.
  auto token_secret = value.substr(value.rfind('_') + 1);
  ASSERT_GE(token_secret.size(), 16u) << value;

  // Responses never carry them either.
  for (const auto& path :
       {std::string{org_hooks}, std::string{org_hooks} + "/sec",
        std::string{stack_hooks}}) {
    auto g = c.get(path);
    EXPECT_EQ(g.body.find(secret1), std::string::npos);
    EXPECT_EQ(g.body.find(secret2), std::string::npos);
    EXPECT_EQ(g.body.find(secret3), std::string::npos);
  }

  auto st = proc->stop(SIGTERM);
  ASSERT_TRUE(st.clean()) << st;
  auto files = files_under(proc->data_dir());
  EXPECT_FALSE(files.empty()) << "the data dir is empty";
  for (const std::string& needle :
       {secret1, secret2, secret3, value, token_secret,
        std::string{test_admin_token}}) {
    SCOPED_TRACE(needle);
    auto found = files_containing(proc->data_dir(), needle);
    EXPECT_TRUE(found.empty()) << "found in clear in " << found.front();
    EXPECT_EQ(proc->stderr_text().find(needle), std::string::npos)
        << "stderr: " << proc->stderr_text();
    EXPECT_EQ(proc->stdout_text().find(needle), std::string::npos)
        << "stdout: " << proc->stdout_text();
  }
}

// -- settings --------------------------------------------------------------

struct bad_setting {
  std::string variable;
  std::string value;
};

std::ostream& operator<<(std::ostream& os, const bad_setting& b) {
  return os << b.variable << "=" << b.value;
}

class settings : public ::testing::TestWithParam<bad_setting> {};

TEST_P(settings, bad_setting_exits_non_zero_naming_the_variable) {
  process_options opts;
  opts.wait_listening = false;
  opts.env.emplace_back(GetParam().variable, GetParam().value);
  hookd_process proc{opts};
  auto st = proc.wait_exit(start_deadline);
  EXPECT_FALSE(st.timed_out) << "hookd kept running with "
                             << GetParam().variable << "=" << GetParam().value;
  EXPECT_TRUE(st.exited) << st;
  EXPECT_NE(st.code, 0) << st;
  auto err = proc.stderr_text();
  EXPECT_NE(err.find(GetParam().variable), std::string::npos)
      << "stderr: " << err;
  EXPECT_EQ(proc.stdout_text().find("listening"), std::string::npos)
      << proc.stdout_text();
}

INSTANTIATE_TEST_SUITE_P(
    integration, settings,
    ::testing::Values(bad_setting{"HOOKD_HTTP_PORT", "abc"},
                      bad_setting{"HOOKD_HTTP_PORT", "70000"},
                      bad_setting{"HOOKD_RETRY_SCHEDULE", "zz"},
                      bad_setting{"HOOKD_DELIVERY_TIMEOUT", "soon"},
                      bad_setting{"HOOKD_ADMIN_TOKEN", "short"},
                      bad_setting{"HOOKD_MASTER_KEY", "not-hex"},
                      bad_setting{"HOOKD_SYNC", "maybe"},
                      bad_setting{"HOOKD_MAX_HOOKS_PER_ORG", "-1"},
                      bad_setting{"HOOKD_MAX_PLUGIN_HOOKS_PER_ORG", "many"},
                      bad_setting{"HOOKD_EVENT_RETENTION", "0s"},
                      bad_setting{"HOOKD_SECRET_ROTATION_OVERLAP", "soon"}),
    [](const ::testing::TestParamInfo<bad_setting>& info) {
      return info.param.variable.substr(6) + "_" + std::to_string(info.index);
    });

TEST(integration_settings_ok, a_valid_retry_schedule_starts) {
  process_options opts;
  opts.env.emplace_back("HOOKD_RETRY_SCHEDULE", "0s,200ms,1s");
  opts.env.emplace_back("HOOKD_DELIVERY_TIMEOUT", "2s");
  hookd_process proc{opts};
  ASSERT_TRUE(proc.listening()) << proc.start_error();
  EXPECT_TRUE(is_json_status(proc.client().get("/healthz"), 200));
  proc.kill();
}

} // namespace

// -- hostile bodies --------------------------------------------------------

// Nesting is bounded at the door for every JSON body: a deep event (which
// once overflowed the stack when serialized) and deep hook and token
// bodies are a 400 naming the bound, and hookd goes on serving. Numbers
// out of range are a 400 too, not a 500.
TEST_F(integration, deep_nesting_and_huge_numbers_are_400) {
  auto c = admin();
  auto nested = [](std::size_t depth) {
    return std::string(depth, '[') + std::string(depth, ']');
  };
  auto event_with = [](const std::string& data) {
    return R"({"event":"update_succeeded","projectName":"p","stackName":"s","data":)"
           + data + "}";
  };
  for (std::size_t depth : {65u, 1000u, 100000u}) {
    auto r
        = c.request("POST", "/api/orgs/acme/events", event_with(nested(depth)));
    EXPECT_TRUE(is_error(r, 400)) << depth;
    EXPECT_NE(r.body.find("nested deeper than 64"), std::string::npos)
        << r.body;
    EXPECT_TRUE(is_error(
        c.request("POST", stack_hooks,
                  R"({"displayName":"x","payloadUrl":"https://e.com","x":)"
                      + nested(depth) + "}"),
        400));
    EXPECT_TRUE(is_error(c.request("POST", "/api/orgs/acme/tokens",
                                   R"({"name":"t","x":)" + nested(depth) + "}"),
                         400));
  }
  // Within the bound, and brackets inside strings do not count.
  EXPECT_TRUE(
      is_json_status(c.request("POST", "/api/orgs/acme/events",
                               event_with("{\"a\":" + nested(60) + ",\"s\":\""
                                          + std::string(500, '[') + "\"}")),
                     202));
  for (const char* number : {"1e400", "-1e400"}) {
    auto r = c.request("POST", "/api/orgs/acme/events",
                       event_with(std::string{"{\"n\":"} + number + "}"));
    EXPECT_TRUE(is_error(r, 400)) << number << ' ' << r.body;
    EXPECT_TRUE(is_error(
        c.request(
            "POST", stack_hooks,
            std::string{
                R"({"displayName":"x","payloadUrl":"https://e.com","active":)"}
                + number + "}"),
        400))
        << number;
  }
  auto r = c.request("POST", "/api/orgs/acme/events",
                     event_with("{\"n\":" + std::string(100000, '7') + "}"));
  EXPECT_TRUE(is_error(r, 400)) << r.body.substr(0, 200);
  EXPECT_TRUE(is_json_status(c.get("/healthz"), 200));
}

// A "whsec_" secret is a Standard Webhooks key: one that is empty, not
// base64 or too short would sign with a key anyone can guess, so it is
// refused, on create and on update.
TEST_F(integration, standard_webhooks_secrets_must_carry_a_real_key) {
  auto c = admin();
  auto body = [](const std::string& secret) {
    return json{{"displayName", "x"},
                {"payloadUrl", "https://example.com/hook"},
                {"secret", secret}}
        .dump();
  };
  for (const char* bad :
       {"whsec_", "whsec_!!!not-base64!!!", "whsec_c2hvcnQ="}) {
    auto r = c.request("POST", stack_hooks, body(bad));
    EXPECT_TRUE(is_error(r, 400)) << bad;
    EXPECT_NE(r.body.find("whsec_"), std::string::npos) << r.body;
    // The error names the rule, never the secret.
    if (std::string{bad}.size() > 6) {
      EXPECT_EQ(r.body.find(bad + 6), std::string::npos) << r.body;
    }
  }
  EXPECT_EQ(list(c, stack_hooks).size(), 0u);
  auto created = c.request(
      "POST", stack_hooks,
      json{{"name", "std"},
           {"displayName", "x"},
           {"payloadUrl", "https://example.com/hook"},
           {"secret", "whsec_aG9va2QtaXQtc3RkLXdlYmhvb2tzLXNlY3JldA=="}}
          .dump());
  ASSERT_TRUE(is_json_status(created, 201)) << created.body;
  EXPECT_TRUE(is_error(c.request("PATCH", std::string{stack_hooks} + "/std",
                                 R"({"secret":"whsec_"})"),
                       400));
}
