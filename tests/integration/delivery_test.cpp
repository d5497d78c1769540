// Event delivery as a user observes it (SPEC sections 3-6): the real hookd
// binary posts to an in-process receiver; the tests check what arrives and
// what the deliveries history says.
//
// Absence is never proven with a sleep. A webhook takes events in the order
// they were posted, so to show hook H did not take E1 a test posts E1, then
// an event E2 that H matches, waits until H's receiver has E2, and then
// checks H's history for E1.
#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "harness.hpp"
#include "openapi.hpp"
#include "receiver.hpp"

namespace {

using namespace hookd_test;
using ojson = nlohmann::ordered_json;
using env_list
    = std::vector<std::pair<std::string, std::optional<std::string>>>;

constexpr const char* org_hooks = "/api/orgs/acme/hooks";
constexpr const char* stack_hooks = "/api/stacks/acme/web/prod/hooks";
constexpr const char* env_hooks
    = "/api/esc/environments/acme/default/dev/hooks";
constexpr const char* default_schedule = "0s,100ms,100ms,100ms";
constexpr const char* ping_message = "🍹 Just a friendly ping from Pulumi 🍹";
constexpr auto deadline = 10s;

// -- crypto, computed independently of hookd -------------------------------

std::string hmac_sha256(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
       &len);
  return std::string{reinterpret_cast<char*>(out), len};
}

std::string to_hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 0xf];
  }
  return out;
}

std::string to_base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string from_base64(const std::string& text) {
  std::string out(3 * text.size() / 4 + 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0)
    return {};
  out.resize(static_cast<std::size_t>(n));
  // EVP_DecodeBlock keeps the bytes the padding stands for.
  std::size_t pad = 0;
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it)
    ++pad;
  out.resize(out.size() - pad);
  return out;
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool is_uuid(const std::string& s) {
  static const std::regex re{"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-"
                             "9a-fA-F]{4}-[0-9a-fA-F]{12}$"};
  return std::regex_match(s, re);
}

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// -- HTTP helpers ------------------------------------------------------------

json user_ann() {
  return {{"name", "Ann"}, {"githubLogin", "ann"}, {"avatarUrl", ""}};
}

/// A stack event as a client posts it.
json stack_event(const std::string& name, const std::string& project = "web",
                 const std::string& stack = "prod",
                 json data = json::object()) {
  json ev{{"event", name},
          {"projectName", project},
          {"stackName", stack},
          {"user", user_ann()}};
  if (!data.empty())
    ev["data"] = std::move(data);
  return ev;
}

json env_event(const std::string& name, const std::string& project = "default",
               const std::string& env = "dev") {
  return {{"event", name},
          {"projectName", project},
          {"environmentName", env},
          {"user", user_ann()}};
}

/// Posts one event; expects 202 {"id"} and returns the id ("" on failure).
std::string post_event(const http_client& c, const json& ev,
                       const std::string& org = "acme") {
  auto r = c.post("/api/orgs/" + org + "/events", ev);
  EXPECT_EQ(r.status, 202) << "posting " << ev.dump() << ": " << show(r);
  auto j = r.body_json();
  if (!j.is_object() || !j.contains("id") || !j["id"].is_string()) {
    ADD_FAILURE() << "want {\"id\": ...} for " << ev.dump() << "; " << show(r);
    return {};
  }
  return j["id"].get<std::string>();
}

/// Creates an active hook; returns its item path.
std::string make_hook(const http_client& c, const std::string& collection,
                      const std::string& name, const std::string& url,
                      const json& extra = json::object()) {
  auto body = active_hook(name, url, extra);
  auto r = c.post(collection, body);
  EXPECT_EQ(r.status, 201) << "creating " << body.dump() << " in " << collection
                           << ": " << show(r);
  return collection + std::string{"/"} + name;
}

/// The deliveries history of a hook (bare array, newest first).
json history(const http_client& c, const std::string& hook,
             const std::string& query = "?limit=1000") {
  auto r = c.get(hook + "/deliveries" + query);
  EXPECT_EQ(r.status, 200) << "listing deliveries of " << hook << ": "
                           << show(r);
  auto j = r.body_json();
  if (!j.is_array()) {
    ADD_FAILURE() << "deliveries of " << hook
                  << " is not an array: " << show(r);
    return json::array();
  }
  return j;
}

std::vector<std::string> record_ids(const json& list) {
  std::vector<std::string> out;
  for (const auto& rec : list)
    out.push_back(rec.value("id", "<no id>"));
  return out;
}

std::multiset<std::string> history_ids(const http_client& c,
                                       const std::string& hook) {
  auto ids = record_ids(history(c, hook));
  return {ids.begin(), ids.end()};
}

bool is_final(const json& rec) {
  auto s = rec.value("status", "");
  return s == "succeeded" || s == "failed";
}

/// Polls the history until the record of `id` satisfies `done`; returns it
/// (null, with a failure recorded, at the deadline).
json wait_record(const http_client& c, const std::string& hook,
                 const std::string& id,
                 const std::function<bool(const json&)>& done = is_final,
                 std::chrono::milliseconds limit = deadline) {
  auto until = std::chrono::steady_clock::now() + limit;
  json last;
  for (;;) {
    auto r = c.get(hook + "/deliveries?limit=1000");
    last = r.body_json();
    if (r.status == 200 && last.is_array())
      for (const auto& rec : last)
        if (rec.is_object() && rec.value("id", "") == id && done(rec))
          return rec;
    if (std::chrono::steady_clock::now() >= until)
      break;
    std::this_thread::sleep_for(20ms);
  }
  ADD_FAILURE() << "no (finished) record of event " << id << " in " << hook
                << " within the deadline; history: " << last.dump();
  return nullptr;
}

/// The Pulumi-Webhook-Id of each request to `path`, in arrival order.
std::vector<std::string> ids_at(const receiver& rcv, const std::string& path) {
  std::vector<std::string> out;
  for (const auto& r : rcv.requests_to(path))
    out.push_back(r.header("Pulumi-Webhook-Id").value_or("<none>"));
  return out;
}

/// Waits until a request carrying event `id` arrived at `path`.
::testing::AssertionResult arrives(const receiver& rcv, const std::string& path,
                                   const std::string& id,
                                   std::chrono::milliseconds limit = deadline) {
  bool ok = rcv.wait_for(
      [&](const std::vector<received_request>& all) {
        return std::any_of(all.begin(), all.end(), [&](const auto& r) {
          return r.path == path && r.header("Pulumi-Webhook-Id") == id;
        });
      },
      limit);
  if (ok)
    return ::testing::AssertionSuccess();
  std::string got;
  for (const auto& i : ids_at(rcv, path))
    got += i + ' ';
  return ::testing::AssertionFailure()
         << "event " << id << " never reached " << path << "; ids that did: ["
         << got << "]";
}

std::multiset<std::string> as_set(std::initializer_list<std::string> ids) {
  return {ids.begin(), ids.end()};
}

std::multiset<std::string> as_set(const std::vector<std::string>& ids) {
  return {ids.begin(), ids.end()};
}

/// "Name: value\r\n" lines into pairs; a failure if the block is malformed.
::testing::AssertionResult parse_header_block(const std::string& block,
                                              header_list& out) {
  out.clear();
  std::size_t pos = 0;
  while (pos < block.size()) {
    auto eol = block.find("\r\n", pos);
    if (eol == std::string::npos)
      return ::testing::AssertionFailure()
             << "header block does not end lines with \\r\\n: '" << block
             << "'";
    auto line = block.substr(pos, eol - pos);
    auto colon = line.find(": ");
    if (colon == std::string::npos || colon == 0)
      return ::testing::AssertionFailure()
             << "line '" << line << "' is not 'Name: value'";
    out.emplace_back(line.substr(0, colon), line.substr(colon + 2));
    pos = eol + 2;
  }
  for (std::size_t i = 1; i < out.size(); ++i)
    if (lower(out[i - 1].first) > lower(out[i].first))
      return ::testing::AssertionFailure()
             << "headers not sorted by name: '" << out[i - 1].first
             << "' before '" << out[i].first << "' in '" << block << "'";
  return ::testing::AssertionSuccess();
}

std::optional<std::string> find_header(const header_list& h,
                                       const std::string& name) {
  for (const auto& [k, v] : h)
    if (iequals(k, name))
      return v;
  return std::nullopt;
}

/// Checks `rec` against the WebhookDelivery schema of Pulumi's reference
/// OpenAPI file, and against hookd's own document's record, which adds
/// hookd's fields to it.
::testing::AssertionResult matches_delivery_schema(const json& rec) {
  if (auto r = pulumi_openapi().validate_ref(
          rec, "#/components/schemas/WebhookDelivery");
      !r)
    return r << " (" << pulumi_openapi_path() << ")";
  return hookd_openapi().validate_ref(
      rec, "#/components/schemas/HookdWebhookDelivery");
}

/// A port nobody listens on: bound by the kernel, then released.
std::uint16_t dead_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// -- fixture
// -------------------------------------------------------------------

/// A receiver, and one hookd per test started with `start()`.
class delivery_base : public ::testing::Test {
protected:
  /// Starts hookd allowed to reach the loopback receiver, with a short
  /// retry schedule and the Slack prefix pointing at the receiver; `extra`
  /// overrides (a nullopt value removes a variable).
  ::testing::AssertionResult start(const env_list& extra = {}) {
    process_options opts;
    opts.env = {{"HOOKD_ALLOW_PRIVATE_TARGETS", "1"},
                {"HOOKD_RETRY_SCHEDULE", default_schedule},
                {"HOOKD_SLACK_URL_PREFIX", rcv_.url("/")},
                {"HOOKD_DELIVERY_TIMEOUT", "5s"}};
    for (const auto& e : extra)
      opts.env.push_back(e);
    proc_ = std::make_unique<hookd_process>(opts);
    if (!proc_->listening())
      return ::testing::AssertionFailure() << proc_->start_error();
    return ::testing::AssertionSuccess();
  }

  /// SIGKILL: these tests are about deliveries, and a graceful stop costs
  /// seconds; the restart test stops with SIGTERM and checks the exit.
  void TearDown() override {
    if (proc_ && proc_->running())
      proc_->stop(SIGKILL);
    proc_.reset();
  }

  http_client api() const {
    return proc_->client();
  }

  receiver rcv_;
  std::unique_ptr<hookd_process> proc_;
};

// One fixture, a test suite per topic.
using delivery_raw = delivery_base;
using delivery_fanout = delivery_base;
using delivery_retry = delivery_base;
using delivery_ping = delivery_base;
using delivery_redeliver = delivery_base;
using delivery_batch = delivery_base;
using delivery_idempotency = delivery_base;
using delivery_ssrf = delivery_base;
using delivery_formats = delivery_base;
using delivery_deployments = delivery_base;
using delivery_history = delivery_base;

json update_data() {
  return {{"updateUrl", "https://app.pulumi.com/acme/web/prod/updates/4"},
          {"resourceChanges", {{"create", 3}, {"update", 1}}}};
}

// -- raw deliveries
// --------------------------------------------------------------

TEST_F(delivery_raw, signed_delivery_has_pulumi_and_standard_headers) {
  ASSERT_TRUE(start());
  auto c = api();
  const std::string secret = "s3cr3t-key";
  make_hook(c, org_hooks, "signed", rcv_.url("/signed"), {{"secret", secret}});
  auto id = post_event(
      c, stack_event("update_succeeded", "web", "prod", update_data()));
  ASSERT_TRUE(arrives(rcv_, "/signed", id));
  auto reqs = rcv_.requests_to("/signed");
  ASSERT_EQ(reqs.size(), 1u);
  const auto& req = reqs[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.header("Accept"), "*/*");
  EXPECT_EQ(req.header("Content-Type"), "application/json");
  EXPECT_EQ(req.header_count("Pulumi-Webhook-Id"), 1u);
  EXPECT_EQ(req.header("Pulumi-Webhook-Id"), id);
  EXPECT_EQ(req.header("Pulumi-Webhook-Kind"), "stack_update");
  EXPECT_EQ(req.header("Pulumi-Webhook-Signature"),
            to_hex(hmac_sha256(secret, req.body)))
      << "body: " << req.body;
  EXPECT_EQ(req.header("webhook-id"), id);
  auto ts = req.header("webhook-timestamp");
  ASSERT_TRUE(ts.has_value());
  ASSERT_TRUE(std::regex_match(*ts, std::regex{"^[0-9]{1,12}$"})) << *ts;
  EXPECT_LE(std::llabs(std::stoll(*ts) - now_seconds()), 30)
      << "webhook-timestamp " << *ts << " is not close to now";
  EXPECT_EQ(
      req.header("webhook-signature"),
      "v1," + to_base64(hmac_sha256(secret, id + '.' + *ts + '.' + req.body)));
  auto ua = req.header("User-Agent");
  ASSERT_TRUE(ua.has_value());
  EXPECT_EQ(ua->rfind("hookd/", 0), 0u) << "User-Agent: " << *ua;
}

TEST_F(delivery_raw, body_is_compact_pulumi_shape_in_order) {
  ASSERT_TRUE(start());
  auto c = api();
  make_hook(c, stack_hooks, "shape", rcv_.url("/shape"));
  // Sent as text: the data fields in this order (json would sort them).
  auto r = c.request(
      "POST", "/api/orgs/acme/events",
      R"({"event":"update_succeeded","projectName":"web","stackName":"prod",)"
      R"("user":{"name":"Ann","githubLogin":"ann","avatarUrl":""},)"
      R"("data":{"updateUrl":"https://app.pulumi.com/acme/web/prod/updates/4",)"
      R"("resourceChanges":{"create":3,"update":1}}})");
  ASSERT_EQ(r.status, 202) << show(r);
  auto id = r.body_json().value("id", "");
  ASSERT_TRUE(arrives(rcv_, "/shape", id));
  auto body_text = rcv_.requests_to("/shape").at(0).body;
  auto body = ojson::parse(body_text, nullptr, false);
  ASSERT_TRUE(body.is_object()) << body_text;
  EXPECT_EQ(body.dump(), body_text) << "the body is not compact JSON";
  std::vector<std::string> keys;
  for (auto& [k, v] : body.items())
    keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"user", "organization",
                                            "projectName", "stackName", "kind",
                                            "result", "isPreview", "updateUrl",
                                            "resourceChanges"}))
      << body_text;
  EXPECT_EQ(json::parse(body["user"].dump()), user_ann());
  ASSERT_TRUE(body["organization"].is_object()) << body_text;
  std::vector<std::string> org_keys;
  for (auto& [k, v] : body["organization"].items())
    org_keys.push_back(k);
  EXPECT_EQ(org_keys,
            (std::vector<std::string>{"name", "githubLogin", "avatarUrl"}));
  EXPECT_EQ(body["organization"]["name"], "acme");
  EXPECT_EQ(body["projectName"], "web");
  EXPECT_EQ(body["stackName"], "prod");
  EXPECT_EQ(body["kind"], "update");
  EXPECT_EQ(body["result"], "succeeded");
  EXPECT_EQ(body["isPreview"], false);
  EXPECT_EQ(json::parse(body["updateUrl"].dump()), update_data()["updateUrl"]);
  EXPECT_EQ(json::parse(body["resourceChanges"].dump()),
            update_data()["resourceChanges"]);
}

TEST_F(delivery_raw, whsec_secret_signs_with_the_decoded_key) {
  ASSERT_TRUE(start());
  auto c = api();
  const std::string key = "sixteen-byte-key\x01\x02\xfe\xff";
  const std::string secret = "whsec_" + to_base64(key);
  ASSERT_EQ(from_base64(to_base64(key)), key);
  make_hook(c, org_hooks, "svix", rcv_.url("/svix"), {{"secret", secret}});
  auto id = post_event(c, stack_event("update_failed"));
  ASSERT_TRUE(arrives(rcv_, "/svix", id));
  auto req = rcv_.requests_to("/svix").at(0);
  auto ts = req.header("webhook-timestamp").value_or("");
  EXPECT_EQ(req.header("webhook-signature"),
            "v1," + to_base64(hmac_sha256(key, id + '.' + ts + '.' + req.body)))
      << "the key must be the base64-decoded part after whsec_";
  // The Pulumi signature keys with the secret as given.
  EXPECT_EQ(req.header("Pulumi-Webhook-Signature"),
            to_hex(hmac_sha256(secret, req.body)));
}

namespace {

/// Rotates the secret of a raw webhook from `old_secret` to `new_secret`,
/// then delivers an event: the request that arrived.
received_request rotated_delivery(const http_client& c, receiver& rcv,
                                  const std::string& old_secret,
                                  const std::string& new_secret) {
  auto hook = make_hook(c, org_hooks, "rotated", rcv.url("/rotated"),
                        {{"secret", old_secret}});
  auto r = c.patch(hook, {{"displayName", "Hook rotated"},
                          {"payloadUrl", rcv.url("/rotated")},
                          {"active", true},
                          {"secret", new_secret}});
  EXPECT_EQ(r.status, 200) << show(r);
  auto id = post_event(c, stack_event("update_failed"));
  EXPECT_TRUE(arrives(rcv, "/rotated", id));
  return rcv.requests_to("/rotated").at(0);
}

std::string standard_v1(const std::string& key, const received_request& req) {
  return "v1,"
         + to_base64(
             hmac_sha256(key, req.header("webhook-id").value_or("") + '.'
                                  + req.header("webhook-timestamp").value_or("")
                                  + '.' + req.body));
}

} // namespace

// A new secret does not break receivers that still verify with the old
// one: for the overlap, the Standard Webhooks signature carries both.
TEST_F(delivery_raw, a_rotated_secret_signs_alongside_the_new_one) {
  ASSERT_TRUE(start());
  auto c = api();
  auto req = rotated_delivery(c, rcv_, "old-secret-value", "new-secret-value");
  EXPECT_EQ(req.header("webhook-signature"),
            standard_v1("new-secret-value", req) + ' '
                + standard_v1("old-secret-value", req));
  EXPECT_EQ(req.header("Pulumi-Webhook-Signature"),
            to_hex(hmac_sha256("new-secret-value", req.body)));
}

TEST_F(delivery_raw, without_an_overlap_only_the_new_secret_signs) {
  ASSERT_TRUE(start({{"HOOKD_SECRET_ROTATION_OVERLAP", "0s"}}));
  auto c = api();
  auto req = rotated_delivery(c, rcv_, "old-secret-value", "new-secret-value");
  EXPECT_EQ(req.header("webhook-signature"),
            standard_v1("new-secret-value", req));
}

TEST_F(delivery_raw, no_secret_means_no_signature_headers) {
  ASSERT_TRUE(start());
  auto c = api();
  make_hook(c, org_hooks, "plain", rcv_.url("/plain"));
  auto id = post_event(c, stack_event("update_succeeded"));
  ASSERT_TRUE(arrives(rcv_, "/plain", id));
  auto req = rcv_.requests_to("/plain").at(0);
  EXPECT_EQ(req.header("Pulumi-Webhook-Id"), id);
  EXPECT_EQ(req.header("Pulumi-Webhook-Kind"), "stack_update");
  for (const char* h : {"Pulumi-Webhook-Signature", "webhook-id",
                        "webhook-timestamp", "webhook-signature"})
    EXPECT_FALSE(req.header(h).has_value())
        << h << ": " << req.header(h).value_or("");
}

TEST_F(delivery_raw, record_mirrors_the_exchange_and_fits_the_schema) {
  ASSERT_TRUE(start());
  rcv_.reply_on("/rec", {[] {
                  reply r;
                  r.status = 200;
                  r.headers = {{"X-Receiver", "yes"},
                               {"Content-Type", "application/json"}};
                  r.body = R"({"received":true})";
                  return r;
                }()});
  auto c = api();
  auto hook = make_hook(c, org_hooks, "rec", rcv_.url("/rec"),
                        {{"secret", "rec-secret"}});
  auto id = post_event(
      c, stack_event("update_succeeded", "web", "prod", update_data()));
  auto rec = wait_record(c, hook, id);
  ASSERT_TRUE(rec.is_object());
  auto reqs = rcv_.requests_to("/rec");
  ASSERT_EQ(reqs.size(), 1u);
  const auto& req = reqs[0];

  EXPECT_TRUE(matches_delivery_schema(rec));
  EXPECT_EQ(rec["id"], id);
  EXPECT_EQ(rec["kind"], "stack_update");
  EXPECT_EQ(rec.value("status", ""), "succeeded") << rec.dump();
  EXPECT_EQ(rec.value("attempts", -1), 1) << rec.dump();
  EXPECT_EQ(rec["responseCode"], 200);
  EXPECT_EQ(rec["payload"], req.body) << "payload must be the exact body sent";
  EXPECT_EQ(rec["requestUrl"], rcv_.url("/rec"));
  EXPECT_EQ(rec["responseBody"], R"({"received":true})");
  ASSERT_TRUE(rec["timestamp"].is_number_integer());
  EXPECT_LE(std::llabs(rec["timestamp"].get<std::int64_t>() - now_seconds()),
            30);
  ASSERT_TRUE(rec["duration"].is_number_integer());
  EXPECT_GE(rec["duration"].get<std::int64_t>(), 0);

  header_list sent;
  ASSERT_TRUE(parse_header_block(rec.value("requestHeaders", ""), sent));
  for (const char* name :
       {"Accept", "Content-Type", "Pulumi-Webhook-Id", "Pulumi-Webhook-Kind",
        "Pulumi-Webhook-Signature", "User-Agent", "webhook-id",
        "webhook-signature", "webhook-timestamp"}) {
    auto recorded = find_header(sent, name);
    EXPECT_TRUE(recorded.has_value())
        << name << " missing from requestHeaders: " << rec["requestHeaders"];
    EXPECT_EQ(recorded, req.header(name))
        << name << ": requestHeaders differs from what arrived";
  }
  header_list got;
  ASSERT_TRUE(parse_header_block(rec.value("responseHeaders", ""), got));
  EXPECT_EQ(find_header(got, "X-Receiver"), "yes")
      << "responseHeaders: " << rec["responseHeaders"];
  EXPECT_EQ(find_header(got, "Content-Type"), "application/json");

  // The same record in the history.
  auto list = history(c, hook);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0], rec);
}

// -- fan-out
// -------------------------------------------------------------------

TEST_F(delivery_fanout, org_hook_gets_stack_and_environment_events) {
  ASSERT_TRUE(start());
  auto c = api();
  auto hook = make_hook(c, org_hooks, "all", rcv_.url("/all"));
  auto e1 = post_event(c, stack_event("update_succeeded"));
  auto e2 = post_event(c, env_event("environment_revision_created"));
  auto e3 = post_event(c, stack_event("stack_created"));
  auto e4 = post_event(c, env_event("environment_created"));
  auto e5
      = post_event(c, stack_event("policy_violation_advisory", "api", "dev"));
  for (const auto& id : {e1, e2, e3, e4, e5})
    EXPECT_TRUE(arrives(rcv_, "/all", id));
  std::map<std::string, std::string> kinds;
  for (const auto& r : rcv_.requests_to("/all"))
    kinds[r.header("Pulumi-Webhook-Id").value_or("")]
        = r.header("Pulumi-Webhook-Kind").value_or("");
  EXPECT_EQ(kinds[e1], "stack_update");
  EXPECT_EQ(kinds[e2], "environment_revision");
  EXPECT_EQ(kinds[e3], "stack");
  EXPECT_EQ(kinds[e4], "environment");
  EXPECT_EQ(kinds[e5], "policy_violation");
  EXPECT_EQ(as_set(ids_at(rcv_, "/all")), as_set({e1, e2, e3, e4, e5}));
}

TEST_F(delivery_fanout, stack_hook_filter_takes_only_that_event) {
  ASSERT_TRUE(start());
  auto c = api();
  auto hook = make_hook(c, stack_hooks, "failed", rcv_.url("/failed"),
                        {{"filters", {"update_failed"}}});
  post_event(c, stack_event("update_succeeded"));
  post_event(c, stack_event("preview_failed"));
  post_event(c, stack_event("destroy_failed"));
  post_event(c, stack_event("deployment_failed"));
  auto wanted = post_event(c, stack_event("update_failed"));
  ASSERT_TRUE(arrives(rcv_, "/failed", wanted));
  EXPECT_EQ(history_ids(c, hook), as_set({wanted}));
  EXPECT_EQ(ids_at(rcv_, "/failed"), std::vector<std::string>{wanted});
}

TEST_F(delivery_fanout, stack_hook_group_takes_deployment_events_only) {
  ASSERT_TRUE(start());
  auto c = api();
  auto hook = make_hook(c, stack_hooks, "deploys", rcv_.url("/deploys"),
                        {{"groups", {"deployments"}}});
  post_event(c, stack_event("update_succeeded"));
  auto q = post_event(c, stack_event("deployment_queued"));
  post_event(c, stack_event("update_failed"));
  auto drift = post_event(c, stack_event("drift_detected"));
  post_event(c, stack_event("policy_violation_mandatory"));
  post_event(c, stack_event("preview_succeeded"));
  auto last = post_event(c, stack_event("deployment_succeeded"));
  ASSERT_TRUE(arrives(rcv_, "/deploys", last));
  EXPECT_EQ(history_ids(c, hook), as_set({q, drift, last}));
  // Deliveries of one hook run concurrently: the others may come later.
  EXPECT_TRUE(arrives(rcv_, "/deploys", q));
  EXPECT_TRUE(arrives(rcv_, "/deploys", drift));
  EXPECT_EQ(as_set(ids_at(rcv_, "/deploys")), as_set({q, drift, last}));
  for (const auto& r : rcv_.requests_to("/deploys"))
    if (r.header("Pulumi-Webhook-Id") == q) {
      EXPECT_EQ(r.header("Pulumi-Webhook-Kind"), "deployment");
    }
}

TEST_F(delivery_fanout, env_hook_gets_events_of_its_environment_only) {
  ASSERT_TRUE(start());
  auto c = api();
  auto hook = make_hook(c, env_hooks, "envh", rcv_.url("/env"));
  auto mine = post_event(c, env_event("environment_revision_created"));
  post_event(c,
             env_event("environment_revision_created", "default", "staging"));
  post_event(c, env_event("environment_tag_created", "other", "dev"));
  post_event(c, env_event("environment_created")); // org-only
  post_event(c, env_event("environment_deleted")); // org-only
  post_event(c, stack_event("update_succeeded", "default", "dev"));
  auto last = post_event(c, env_event("environment_tag_created"));
  ASSERT_TRUE(arrives(rcv_, "/env", last));
  EXPECT_EQ(history_ids(c, hook), as_set({mine, last}));
  EXPECT_TRUE(arrives(rcv_, "/env", mine));
  EXPECT_EQ(as_set(ids_at(rcv_, "/env")), as_set({mine, last}));

  for (const auto& r : rcv_.requests_to("/env")) {
    if (r.header("Pulumi-Webhook-Id") != mine)
      continue;
    EXPECT_EQ(r.header("Pulumi-Webhook-Kind"), "environment_revision");
    auto body = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << r.body;
    EXPECT_EQ(body.value("projectName", ""), "default") << r.body;
    EXPECT_EQ(body.value("environmentName", ""), "dev") << r.body;
    EXPECT_FALSE(body.contains("stackName")) << r.body;
  }
}

TEST_F(delivery_fanout, org_only_events_skip_stack_hooks) {
  ASSERT_TRUE(start());
  auto c = api();
  auto plain = make_hook(c, stack_hooks, "plain", rcv_.url("/plain"));
  make_hook(c, org_hooks, "org", rcv_.url("/org"));
  auto created = post_event(c, stack_event("stack_created"));
  auto deleted = post_event(c, stack_event("stack_deleted"));
  auto update = post_event(c, stack_event("update_succeeded"));
  ASSERT_TRUE(arrives(rcv_, "/plain", update));
  EXPECT_TRUE(arrives(rcv_, "/org", created));
  EXPECT_TRUE(arrives(rcv_, "/org", deleted));
  EXPECT_EQ(history_ids(c, plain), as_set({update}));
  EXPECT_EQ(ids_at(rcv_, "/plain"), std::vector<std::string>{update});
}

TEST_F(delivery_fanout, stack_hook_ignores_other_stacks) {
  ASSERT_TRUE(start());
  auto c = api();
  auto plain = make_hook(c, stack_hooks, "plain", rcv_.url("/plain"));
  post_event(c, stack_event("update_succeeded", "web", "staging"));
  post_event(c, stack_event("update_succeeded", "api", "prod"));
  auto mine = post_event(c, stack_event("update_succeeded", "web", "prod"));
  ASSERT_TRUE(arrives(rcv_, "/plain", mine));
  EXPECT_EQ(history_ids(c, plain), as_set({mine}));
}

TEST_F(delivery_fanout, inactive_hook_gets_nothing) {
  ASSERT_TRUE(start());
  auto c = api();
  auto sleepy = make_hook(c, org_hooks, "sleepy", rcv_.url("/sleepy"),
                          {{"active", false}});
  auto awake_stack = make_hook(c, stack_hooks, "sleepy-stack",
                               rcv_.url("/sleepy-stack"), {{"active", false}});
  post_event(c, stack_event("update_succeeded"));
  post_event(c, stack_event("stack_created"));
  post_event(c, env_event("environment_revision_created"));
  // Waking them up is ordered after the events above (ingest fans out
  // before its 202): from here on they take events.
  for (const auto& [hook, path] :
       {std::pair{sleepy, std::string{"/sleepy"}},
        std::pair{awake_stack, std::string{"/sleepy-stack"}}}) {
    auto r = c.patch(hook, {{"displayName", "awake"},
                            {"payloadUrl", rcv_.url(path)},
                            {"active", true}});
    ASSERT_EQ(r.status, 200) << show(r);
  }
  auto last = post_event(c, stack_event("update_failed"));
  ASSERT_TRUE(arrives(rcv_, "/sleepy", last));
  ASSERT_TRUE(arrives(rcv_, "/sleepy-stack", last));
  EXPECT_EQ(history_ids(c, sleepy), as_set({last}));
  EXPECT_EQ(history_ids(c, awake_stack), as_set({last}));
  EXPECT_EQ(ids_at(rcv_, "/sleepy"), std::vector<std::string>{last});
  EXPECT_EQ(ids_at(rcv_, "/sleepy-stack"), std::vector<std::string>{last});
}

TEST_F(delivery_fanout, hook_of_another_org_gets_nothing) {
  ASSERT_TRUE(start());
  auto c = api();
  auto theirs
      = make_hook(c, "/api/orgs/other/hooks", "theirs", rcv_.url("/theirs"));
  auto theirs_stack = make_hook(c, "/api/stacks/other/web/prod/hooks",
                                "theirs-stack", rcv_.url("/theirs-stack"));
  make_hook(c, org_hooks, "ours", rcv_.url("/ours"));
  auto a = post_event(c, stack_event("update_succeeded"));
  post_event(c, stack_event("stack_created"));
  post_event(c, env_event("environment_revision_created"));
  ASSERT_TRUE(arrives(rcv_, "/ours", a));
  auto last = post_event(c, stack_event("update_failed"), "other");
  ASSERT_TRUE(arrives(rcv_, "/theirs", last));
  ASSERT_TRUE(arrives(rcv_, "/theirs-stack", last));
  EXPECT_EQ(history_ids(c, theirs), as_set({last}));
  EXPECT_EQ(history_ids(c, theirs_stack), as_set({last}));
  auto body
      = json::parse(rcv_.requests_to("/theirs").at(0).body, nullptr, false);
  EXPECT_EQ(body["organization"]["name"], "other");
}

// -- retries
// -------------------------------------------------------------------

TEST_F(delivery_retry, server_errors_then_success_retries_same_delivery) {
  ASSERT_TRUE(start({{"HOOKD_RETRY_SCHEDULE", "0s,100ms,100ms,100ms"}}));
  rcv_.reply_on("/flaky", {reply::with_status(500), reply::with_status(500),
                           reply::with_status(200)});
  auto c = api();
  auto hook
      = make_hook(c, org_hooks, "flaky", rcv_.url("/flaky"), {{"secret", "k"}});
  auto id = post_event(c, stack_event("update_succeeded"));
  auto rec = wait_record(c, hook, id);
  ASSERT_TRUE(rec.is_object());
  EXPECT_EQ(rec.value("status", ""), "succeeded") << rec.dump();
  EXPECT_EQ(rec.value("attempts", -1), 3) << rec.dump();
  EXPECT_EQ(rec["responseCode"], 200);
  auto reqs = rcv_.requests_to("/flaky");
  ASSERT_EQ(reqs.size(), 3u);
  for (const auto& r : reqs) {
    EXPECT_EQ(r.header("Pulumi-Webhook-Id"), id);
    EXPECT_EQ(r.body, reqs[0].body);
    EXPECT_EQ(r.header("Pulumi-Webhook-Signature"),
              reqs[0].header("Pulumi-Webhook-Signature"));
  }
  EXPECT_EQ(rec["payload"], reqs[0].body);
  // 100 ms -20% jitter at the least between attempts.
  for (std::size_t i = 1; i < reqs.size(); ++i)
    EXPECT_GE(std::chrono::duration_cast<std::chrono::milliseconds>(
                  reqs[i].arrived - reqs[i - 1].arrived)
                  .count(),
              70)
        << "attempt " << i + 1 << " came too soon (ms after the previous)";
  EXPECT_EQ(history(c, hook).size(), 1u) << "one record per event";
}

TEST_F(delivery_retry, always_500_fails_when_the_schedule_is_used_up) {
  ASSERT_TRUE(start({{"HOOKD_RETRY_SCHEDULE", "0s,50ms,50ms"}}));
  rcv_.reply_on("/broken", {reply::with_status(500, "boom")});
  auto c = api();
  auto hook = make_hook(c, org_hooks, "broken", rcv_.url("/broken"));
  auto id = post_event(c, stack_event("update_succeeded"));
  auto rec = wait_record(c, hook, id);
  ASSERT_TRUE(rec.is_object());
  EXPECT_EQ(rec.value("status", ""), "failed") << rec.dump();
  EXPECT_EQ(rec.value("attempts", -1), 3) << rec.dump();
  EXPECT_EQ(rec["responseCode"], 500);
  EXPECT_EQ(rec["responseBody"], "boom");
  EXPECT_NE(rec.value("error", "").find("500"), std::string::npos)
      << rec.dump();
  EXPECT_EQ(rcv_.requests_to("/broken").size(), 3u);
}

TEST_F(delivery_retry, client_error_400_is_final) {
  ASSERT_TRUE(start());
  rcv_.reply_on("/reject", {reply::with_status(400, "no thanks")});
  auto c = api();
  auto hook = make_hook(c, org_hooks, "reject", rcv_.url("/reject"));
  auto id = post_event(c, stack_event("update_succeeded"));
  auto rec = wait_record(c, hook, id);
  ASSERT_TRUE(rec.is_object());
  EXPECT_EQ(rec.value("status", ""), "failed") << rec.dump();
  EXPECT_EQ(rec.value("attempts", -1), 1) << rec.dump();
  EXPECT_EQ(rec["responseCode"], 400);
  EXPECT_EQ(rec["responseBody"], "no thanks");
  EXPECT_EQ(rcv_.requests_to("/reject").size(), 1u);
}

TEST_F(delivery_retry, redirect_is_not_followed_and_fails) {
  ASSERT_TRUE(start());
  reply moved = reply::with_status(302);
  moved.headers = {{"Location", rcv_.url("/elsewhere")}};
  rcv_.reply_on("/moved", {moved});
  auto c = api();
  auto hook = make_hook(c, org_hooks, "moved", rcv_.url("/moved"));
  auto id = post_event(c, stack_event("update_succeeded"));
  auto rec = wait_record(c, hook, id);
  ASSERT_TRUE(rec.is_object());
  EXPECT_EQ(rec.value("status", ""), "failed") << rec.dump();
  EXPECT_EQ(rec.value("attempts", -1), 1) << rec.dump();
  EXPECT_EQ(rec["responseCode"], 302);
  EXPECT_EQ(rcv_.requests_to("/moved").size(), 1u);
  EXPECT_TRUE(rcv_.requests_to("/elsewhere").empty())
      << "the redirect was followed";
}

TEST_F(delivery_retry, retry_after_on_429_is_honoured) {
  ASSERT_TRUE(start({{"HOOKD_RETRY_SCHEDULE", "0s,10ms"}}));
  reply slow_down = reply::with_status(429);
  slow_down.headers = {{"Retry-After", "1"}};
  rcv_.reply_on("/limited", {slow_down, reply::with_status(200)});
  auto c = api();
  auto hook = make_hook(c, org_hooks, "limited", rcv_.url("/limited"));
  auto id = post_event(c, stack_event("update_succeeded"));
  auto rec = wait_record(c, hook, id);
  ASSERT_TRUE(rec.is_object());
  EXPECT_EQ(rec.value("status", ""), "succeeded") << rec.dump();
  EXPECT_EQ(rec.value("attempts", -1), 2) << rec.dump();
  auto reqs = rcv_.requests_to("/limited");
  ASSERT_EQ(reqs.size(), 2u);
  auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(
      reqs[1].arrived - reqs[0].arrived);
  EXPECT_GE(gap.count(), 900)
      << "ms between attempts; Retry-After: 1 was not honoured (the schedule "
         "said 10 ms)";
}

TEST_F(delivery_retry, no_answer_is_retried) {
  ASSERT_TRUE(start());
  rcv_.reply_on("/hangup", {reply::hang_up(), reply::with_status(200)});
  auto c = api();
  auto hook = make_hook(c, org_hooks, "hangup", rcv_.url("/hangup"));
  auto id = post_event(c, stack_event("update_succeeded"));
  auto rec = wait_record(c, hook, id);
  ASSERT_TRUE(rec.is_object());
  EXPECT_EQ(rec.value("status", ""), "succeeded") << rec.dump();
  EXPECT_EQ(rec.value("attempts", -1), 2) << rec.dump();
  EXPECT_EQ(rec["responseCode"], 200);
  auto reqs = rcv_.requests_to("/hangup");
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].body, reqs[0].body);
}

TEST_F(delivery_retry, timeouts_are_retried_then_fail_with_a_reason) {
  ASSERT_TRUE(start({{"HOOKD_RETRY_SCHEDULE", "0s,50ms"},
                     {"HOOKD_DELIVERY_TIMEOUT", "300ms"}}));
  reply slow = reply::with_status(200);
  slow.delay = 3s;
  rcv_.reply_on("/slow", {slow});
  auto c = api();
  auto hook = make_hook(c, org_hooks, "slow", rcv_.url("/slow"));
  auto id = post_event(c, stack_event("update_succeeded"));
  auto rec = wait_record(c, hook, id);
  ASSERT_TRUE(rec.is_object());
  EXPECT_EQ(rec.value("status", ""), "failed") << rec.dump();
  EXPECT_EQ(rec.value("attempts", -1), 2) << rec.dump();
  EXPECT_EQ(rec["responseCode"], 0);
  EXPECT_NE(lower(rec.value("error", "")).find("time"), std::string::npos)
      << "the error should say it timed out: " << rec.dump();
  EXPECT_EQ(rcv_.requests_to("/slow").size(), 2u);
}

// -- ping
// ----------------------------------------------------------------------

TEST_F(delivery_ping, ping_reaches_the_receiver_and_is_recorded) {
  ASSERT_TRUE(start());
  auto c = api();
  auto hook = make_hook(c, org_hooks, "pinged", rcv_.url("/pinged"),
                        {{"secret", "ping-secret"}});
  auto r = c.request("POST", hook + "/ping");
  ASSERT_EQ(r.status, 200) << show(r);
  auto rec = r.body_json();
  ASSERT_TRUE(rec.is_object()) << show(r);
  EXPECT_TRUE(matches_delivery_schema(rec));
  EXPECT_EQ(rec["kind"], "ping");
  EXPECT_TRUE(rec["id"].is_string() && is_uuid(rec["id"].get<std::string>()))
      << rec.dump();
  EXPECT_EQ(rec.value("status", ""), "succeeded");
  EXPECT_EQ(rec["responseCode"], 200);
  auto payload = json::parse(rec.value("payload", ""), nullptr, false);
  ASSERT_TRUE(payload.is_object()) << rec.dump();
  EXPECT_EQ(payload.value("message", ""), ping_message);
  ASSERT_TRUE(payload["timestamp"].is_number_integer()) << rec["payload"];
  EXPECT_LE(
      std::llabs(payload["timestamp"].get<std::int64_t>() - now_seconds()), 30);
  EXPECT_EQ(rec["payload"].get<std::string>().rfind(R"({"timestamp":)", 0), 0u)
      << "ping body: " << rec["payload"];

  auto reqs = rcv_.requests_to("/pinged");
  ASSERT_EQ(reqs.size(), 1u) << "ping is synchronous: it must have arrived";
  EXPECT_EQ(reqs[0].body, rec["payload"]);
  EXPECT_EQ(reqs[0].header("Pulumi-Webhook-Kind"), "ping");
  EXPECT_EQ(reqs[0].header("Pulumi-Webhook-Id"), rec["id"]);
  EXPECT_EQ(reqs[0].header("Pulumi-Webhook-Signature"),
            to_hex(hmac_sha256("ping-secret", reqs[0].body)));

  auto list = history(c, hook);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0], rec);
}

// Slack and Teams refuse Pulumi's ping JSON (Slack answers "no_text"): a
// ping to such a webhook is a message in its format.
TEST_F(delivery_ping, a_chat_webhook_is_pinged_in_its_format) {
  ASSERT_TRUE(start());
  auto c = api();
  auto slack = make_hook(c, org_hooks, "slack", rcv_.url("/slack"),
                         {{"format", "slack"}});
  auto teams = make_hook(c, org_hooks, "teams", rcv_.url("/teams"),
                         {{"format", "ms_teams"}});
  ASSERT_EQ(c.request("POST", slack + "/ping").status, 200);
  ASSERT_EQ(c.request("POST", teams + "/ping").status, 200);
  auto slack_body
      = json::parse(rcv_.requests_to("/slack").at(0).body, nullptr, false);
  ASSERT_TRUE(slack_body.is_object());
  EXPECT_EQ(slack_body.value("text", ""), ping_message) << slack_body;
  EXPECT_TRUE(slack_body["blocks"].is_array()) << slack_body;
  auto teams_body
      = json::parse(rcv_.requests_to("/teams").at(0).body, nullptr, false);
  ASSERT_TRUE(teams_body.is_object());
  EXPECT_EQ(teams_body.value("type", ""), "message") << teams_body;
  EXPECT_EQ(teams_body["attachments"][0]["content"]["body"][0]["text"],
            ping_message)
      << teams_body;
}

TEST_F(delivery_ping, ping_to_a_dead_port_is_a_failed_record) {
  ASSERT_TRUE(start());
  auto c = api();
  auto port = dead_port();
  auto hook = make_hook(c, org_hooks, "dead",
                        "http://127.0.0.1:" + std::to_string(port) + "/x");
  auto r = c.request("POST", hook + "/ping");
  ASSERT_EQ(r.status, 200) << show(r);
  auto rec = r.body_json();
  ASSERT_TRUE(rec.is_object()) << show(r);
  EXPECT_TRUE(matches_delivery_schema(rec));
  EXPECT_EQ(rec["responseCode"], 0);
  EXPECT_EQ(rec.value("status", ""), "failed");
  EXPECT_FALSE(rec.value("error", "").empty()) << rec.dump();
  auto list = history(c, hook);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0], rec);
}

TEST_F(delivery_ping, ping_works_on_an_inactive_hook) {
  ASSERT_TRUE(start());
  auto c = api();
  auto hook = make_hook(c, stack_hooks, "idle", rcv_.url("/idle"),
                        {{"active", false}});
  auto r = c.request("POST", hook + "/ping");
  ASSERT_EQ(r.status, 200) << show(r);
  auto rec = r.body_json();
  EXPECT_EQ(rec.value("status", ""), "succeeded") << show(r);
  EXPECT_EQ(rec["responseCode"], 200);
  EXPECT_EQ(rcv_.requests_to("/idle").size(), 1u);
}

TEST_F(delivery_ping, ping_of_an_unknown_hook_is_404) {
  ASSERT_TRUE(start());
  auto c = api();
  EXPECT_TRUE(
      is_error(c.request("POST", std::string{org_hooks} + "/nope/ping"), 404));
  EXPECT_TRUE(is_error(
      c.request("POST", std::string{stack_hooks} + "/nope/ping"), 404));
  EXPECT_EQ(rcv_.count(), 0u);
}

// -- redelivery
// ----------------------------------------------------------------

TEST_F(delivery_redeliver, redeliver_sends_the_same_id_and_body) {
  ASSERT_TRUE(start());
  auto c = api();
  auto hook = make_hook(c, org_hooks, "again", rcv_.url("/again"),
                        {{"secret", "again-secret"}});
  auto id = post_event(
      c, stack_event("update_succeeded", "web", "prod", update_data()));
  auto first = wait_record(c, hook, id);
  ASSERT_TRUE(first.is_object());
  ASSERT_EQ(first.value("status", ""), "succeeded") << first.dump();
  auto r = c.request("POST", hook + "/deliveries/" + id + "/redeliver");
  ASSERT_EQ(r.status, 200) << show(r);
  auto rec = r.body_json();
  ASSERT_TRUE(rec.is_object()) << show(r);
  EXPECT_TRUE(matches_delivery_schema(rec));
  EXPECT_EQ(rec["id"], id);
  EXPECT_EQ(rec.value("attempts", -1), 2) << rec.dump();
  EXPECT_EQ(rec.value("status", ""), "succeeded");
  EXPECT_EQ(rec["payload"], first["payload"]);

  auto reqs = rcv_.requests_to("/again");
  ASSERT_EQ(reqs.size(), 2u) << "redelivery is synchronous";
  EXPECT_EQ(reqs[1].header("Pulumi-Webhook-Id"), id);
  EXPECT_EQ(reqs[1].body, reqs[0].body) << "the body must be byte-identical";
  EXPECT_EQ(reqs[1].header("Pulumi-Webhook-Signature"),
            reqs[0].header("Pulumi-Webhook-Signature"));

  auto list = history(c, hook);
  ASSERT_EQ(list.size(), 1u) << "one record per event: " << list.dump();
  EXPECT_EQ(list[0], rec);
}

TEST_F(delivery_redeliver, unknown_event_or_hook_is_404) {
  ASSERT_TRUE(start());
  auto c = api();
  auto hook = make_hook(c, org_hooks, "again", rcv_.url("/again"));
  EXPECT_TRUE(is_error(
      c.request("POST",
                hook
                    + "/deliveries/8c0a8b6e-3f1e-4d7a-9b2c-5e6f7a8b9c0d/"
                      "redeliver"),
      404));
  auto id = post_event(c, stack_event("update_succeeded"));
  ASSERT_TRUE(wait_record(c, hook, id).is_object());
  EXPECT_TRUE(
      is_error(c.request("POST", std::string{org_hooks} + "/nope/deliveries/"
                                     + id + "/redeliver"),
               404));
  // An event the hook never took.
  auto other = make_hook(c, stack_hooks, "other", rcv_.url("/other"),
                         {{"filters", {"update_failed"}}});
  EXPECT_TRUE(is_error(
      c.request("POST", other + "/deliveries/" + id + "/redeliver"), 404));
}

// -- batches and validation
// ------------------------------------------------------

TEST_F(delivery_batch, array_answers_ids_in_order_and_delivers_all) {
  ASSERT_TRUE(start());
  auto c = api();
  make_hook(c, org_hooks, "batch", rcv_.url("/batch"));
  json batch = json::array();
  batch.push_back(stack_event("update_succeeded", "web", "prod", {{"seq", 0}}));
  batch.push_back(
      stack_event("deployment_queued", "web", "prod", {{"seq", 1}}));
  auto env = env_event("environment_revision_created");
  env["data"] = {{"seq", 2}};
  batch.push_back(env);
  auto r = c.post("/api/orgs/acme/events", batch);
  ASSERT_EQ(r.status, 202) << show(r);
  auto j = r.body_json();
  ASSERT_TRUE(j.is_object() && j.contains("ids") && j["ids"].is_array()
              && j["ids"].size() == 3)
      << show(r);
  std::vector<std::string> ids;
  for (const auto& i : j["ids"]) {
    ASSERT_TRUE(i.is_string() && is_uuid(i.get<std::string>())) << show(r);
    ids.push_back(i.get<std::string>());
  }
  EXPECT_EQ(as_set(ids).size(), 3u) << "ids must be distinct";
  for (const auto& id : ids)
    ASSERT_TRUE(arrives(rcv_, "/batch", id));
  for (const auto& req : rcv_.requests_to("/batch")) {
    auto pos = std::find(ids.begin(), ids.end(),
                         req.header("Pulumi-Webhook-Id").value_or(""));
    ASSERT_NE(pos, ids.end());
    auto body = json::parse(req.body, nullptr, false);
    EXPECT_EQ(body.value("seq", -1), pos - ids.begin())
        << "ids[" << pos - ids.begin() << "] delivered body " << req.body;
  }
}

TEST_F(delivery_batch, invalid_element_rejects_the_whole_batch) {
  ASSERT_TRUE(start());
  auto c = api();
  auto hook = make_hook(c, org_hooks, "batch", rcv_.url("/batch"));
  const std::string x0 = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";
  const std::string x2 = "6fa459ea-ee8a-4ca4-894e-db77e160355e";
  auto first = stack_event("update_succeeded");
  first["id"] = x0;
  auto third = stack_event("update_failed");
  third["id"] = x2;
  json batch = json::array({first,
                            {{"event", "update_exploded"},
                             {"projectName", "web"},
                             {"stackName", "prod"}},
                            third});
  auto r = c.post("/api/orgs/acme/events", batch);
  ASSERT_TRUE(is_error(r, 400));
  auto msg = r.body_json()["message"].get<std::string>();
  EXPECT_TRUE(std::regex_search(msg, std::regex{"(^|[^0-9])1([^0-9]|$)"}))
      << "the message should name index 1: " << msg;

  auto sentinel = post_event(c, stack_event("stack_created"));
  ASSERT_TRUE(arrives(rcv_, "/batch", sentinel));
  EXPECT_EQ(history_ids(c, hook), as_set({sentinel}));
  // Nothing was stored: the ids are fresh and deliver now.
  EXPECT_EQ(post_event(c, first), x0);
  EXPECT_TRUE(arrives(rcv_, "/batch", x0));
  EXPECT_EQ(post_event(c, third), x2);
  EXPECT_TRUE(arrives(rcv_, "/batch", x2));
}

TEST_F(delivery_batch, more_than_1000_events_is_400) {
  ASSERT_TRUE(start());
  auto c = api();
  auto hook = make_hook(c, org_hooks, "batch", rcv_.url("/batch"));
  json batch = json::array();
  for (int i = 0; i < 1001; ++i)
    batch.push_back(json{{"event", "update_succeeded"},
                         {"projectName", "web"},
                         {"stackName", "prod"}});
  EXPECT_TRUE(is_error(c.post("/api/orgs/acme/events", batch), 400));
  // 1000 is the limit itself (to an org without hooks).
  batch.erase(batch.begin());
  auto r = c.post("/api/orgs/quiet/events", batch);
  EXPECT_EQ(r.status, 202) << show(r);
  EXPECT_EQ(r.body_json().value("ids", json::array()).size(), 1000u);

  auto sentinel = post_event(c, stack_event("stack_created"));
  ASSERT_TRUE(arrives(rcv_, "/batch", sentinel));
  EXPECT_EQ(history_ids(c, hook), as_set({sentinel}));
}

TEST_F(delivery_batch, malformed_events_are_400) {
  ASSERT_TRUE(start());
  auto c = api();
  auto hook = make_hook(c, org_hooks, "strict", rcv_.url("/strict"));
  const std::vector<std::string> bodies = {
      R"({"event":"update_exploded","projectName":"web","stackName":"prod"})",
      R"({"event":"update_succeeded","projectName":"web"})",
      R"({"event":"update_succeeded","stackName":"prod"})",
      R"({"projectName":"web","stackName":"prod"})",
      R"({"event":42,"projectName":"web","stackName":"prod"})",
      R"({"event":"update_succeeded","projectName":7,"stackName":"prod"})",
      R"({"event":"update_succeeded","projectName":"web","stackName":["prod"]})",
      R"({"event":"update_succeeded","projectName":"web","stackName":"prod","data":"x"})",
      R"({"event":"update_succeeded","projectName":"web","stackName":"prod","user":3})",
      R"({"event":"update_succeeded","projectName":"web","stackName":"prod","id":"not-a-uuid"})",
      R"({"event":"environment_revision_created","projectName":"default"})",
      R"({"event":"environment_revision_created","projectName":"default","stackName":"dev"})",
      R"([{"event":"update_succeeded","projectName":"web","stackName":"prod"},7])",
      R"("update_succeeded")",
      R"({"event":"update_succeeded",)",
      "not json",
  };
  for (const auto& body : bodies)
    EXPECT_TRUE(is_error(c.request("POST", "/api/orgs/acme/events", body), 400))
        << "body: " << body;
  auto sentinel = post_event(c, stack_event("update_succeeded"));
  ASSERT_TRUE(arrives(rcv_, "/strict", sentinel));
  EXPECT_EQ(history_ids(c, hook), as_set({sentinel}));
  EXPECT_EQ(ids_at(rcv_, "/strict"), std::vector<std::string>{sentinel});
}

// Every webhook's history keeps a copy of an event: one is bounded, alone
// or in a batch, and nothing of a refused request is taken.
TEST_F(delivery_batch, an_event_larger_than_64_kib_is_413) {
  ASSERT_TRUE(start());
  auto c = api();
  auto hook = make_hook(c, org_hooks, "sized", rcv_.url("/sized"));
  auto big = stack_event("update_succeeded");
  big["data"] = {{"log", std::string(70 * 1024, 'x')}};
  auto alone = c.post("/api/orgs/acme/events", big);
  EXPECT_TRUE(is_error(alone, 413)) << show(alone);
  auto in_batch = c.post("/api/orgs/acme/events",
                         json::array({stack_event("update_succeeded"), big}));
  EXPECT_TRUE(is_error(in_batch, 413)) << show(in_batch);
  EXPECT_NE(in_batch.body.find("event 1"), std::string::npos) << show(in_batch);
  // Just under the bound is taken.
  auto fits = stack_event("update_succeeded");
  fits["data"] = {{"log", std::string(60 * 1024, 'x')}};
  auto id = post_event(c, fits);
  ASSERT_TRUE(arrives(rcv_, "/sized", id));
  EXPECT_EQ(history_ids(c, hook), as_set({id}));
}

// -- idempotency
// ---------------------------------------------------------------

// Written by the front end's I/O thread (HOOKD_SYNC=0) or by the store
// writer, which gathers the fsync (HOOKD_SYNC=1): the same answers.
class delivery_idempotency_writes
    : public delivery_base,
      public ::testing::WithParamInterface<const char*> {};

INSTANTIATE_TEST_SUITE_P(sync, delivery_idempotency_writes,
                         ::testing::Values("0", "1"));

TEST_P(delivery_idempotency_writes, repeated_client_id_is_delivered_once) {
  ASSERT_TRUE(start({{"HOOKD_SYNC", std::string{GetParam()}}}));
  auto c = api();
  auto hook = make_hook(c, org_hooks, "once", rcv_.url("/once"));
  const std::string x = "5d1f0c1e-8a4b-4c1e-9d2f-0a1b2c3d4e5f";
  auto ev = stack_event("update_succeeded");
  ev["id"] = x;
  EXPECT_EQ(post_event(c, ev), x);
  EXPECT_EQ(post_event(c, ev), x);
  // The same id in capitals is the same id: acknowledged in its one
  // spelling, delivered once, and taken for every other organization.
  auto upper = ev;
  std::string shouted = x;
  for (auto& ch : shouted)
    ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  upper["id"] = shouted;
  EXPECT_EQ(post_event(c, upper), x);
  // Ids are kept by partition (SPEC section 9): another organization of
  // acme's partition finds it taken.
  EXPECT_TRUE(is_error(
      c.post("/api/orgs/" + org_in_partition_of("acme") + "/events", upper),
      409));
  // The same id twice inside one batch.
  const std::string y = "0e7c2b1a-4d3c-4b5a-8f9e-1a2b3c4d5e6f";
  auto ev2 = stack_event("update_failed");
  ev2["id"] = y;
  auto r = c.post("/api/orgs/acme/events", json::array({ev2, ev2}));
  ASSERT_EQ(r.status, 202) << show(r);
  EXPECT_EQ(r.body_json()["ids"], json::array({y, y})) << show(r);

  auto sentinel = post_event(c, stack_event("stack_created"));
  // Deliveries of one hook run concurrently: wait for each of them.
  for (const auto& id : {x, y, sentinel})
    ASSERT_TRUE(arrives(rcv_, "/once", id));
  EXPECT_EQ(as_set(ids_at(rcv_, "/once")), as_set({x, y, sentinel}));
  EXPECT_EQ(history_ids(c, hook), as_set({x, y, sentinel}));
}

// Events are kept for their retention, then deleted: their ids are free
// again, and the webhooks' histories (their own copies) stay.
TEST_F(delivery_idempotency, an_event_is_forgotten_after_its_retention) {
  ASSERT_TRUE(start({{"HOOKD_EVENT_RETENTION", "2s"}}));
  auto c = api();
  auto hook = make_hook(c, org_hooks, "kept", rcv_.url("/kept"));
  const std::string x = "7a0c9d2e-1b3f-4a5c-8d6e-9f0a1b2c3d4e";
  auto ev = stack_event("update_succeeded");
  ev["id"] = x;
  EXPECT_EQ(post_event(c, ev), x);
  ASSERT_TRUE(arrives(rcv_, "/kept", x));
  // While kept, the id is taken for another organization of its partition.
  const auto other = org_in_partition_of("acme");
  EXPECT_TRUE(is_error(c.post("/api/orgs/" + other + "/events", ev), 409));
  // Then it is not: the event is gone.
  auto until = std::chrono::steady_clock::now() + deadline;
  long status = 0;
  while (std::chrono::steady_clock::now() < until) {
    status = c.post("/api/orgs/" + other + "/events", ev).status;
    if (status == 202)
      break;
    EXPECT_EQ(status, 409);
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(status, 202);
  EXPECT_EQ(history_ids(c, hook), as_set({x}));
  auto again = c.request("POST", hook + "/deliveries/" + x + "/redeliver");
  EXPECT_EQ(again.status, 200) << show(again);
}

// -- private targets
// -------------------------------------------------------------

TEST_F(delivery_ssrf, loopback_target_is_refused_without_opt_in) {
  ASSERT_TRUE(start({{"HOOKD_ALLOW_PRIVATE_TARGETS", std::nullopt}}));
  auto c = api();
  auto by_ip = make_hook(c, org_hooks, "loop", rcv_.url("/loop"));
  auto by_name
      = make_hook(c, org_hooks, "local",
                  "http://localhost:" + std::to_string(rcv_.port()) + "/local");
  auto id = post_event(c, stack_event("update_succeeded"));
  for (const auto& hook : {by_ip, by_name}) {
    auto rec = wait_record(c, hook, id);
    ASSERT_TRUE(rec.is_object());
    EXPECT_EQ(rec.value("status", ""), "failed") << rec.dump();
    EXPECT_EQ(rec["responseCode"], 0);
    EXPECT_NE(rec.value("error", "").find("private address"), std::string::npos)
        << rec.dump();
  }
  EXPECT_EQ(rcv_.count(), 0u) << "a refused target must get nothing";
  EXPECT_EQ(rcv_.connections(), 0u);
}

TEST_F(delivery_ssrf, ping_to_loopback_is_refused_without_opt_in) {
  ASSERT_TRUE(start({{"HOOKD_ALLOW_PRIVATE_TARGETS", std::nullopt}}));
  auto c = api();
  auto hook = make_hook(c, org_hooks, "loop", rcv_.url("/loop"));
  auto r = c.request("POST", hook + "/ping");
  ASSERT_EQ(r.status, 200) << show(r);
  auto rec = r.body_json();
  EXPECT_EQ(rec.value("status", ""), "failed") << show(r);
  EXPECT_EQ(rec["responseCode"], 0);
  EXPECT_NE(rec.value("error", "").find("private address"), std::string::npos)
      << show(r);
  EXPECT_EQ(rcv_.count(), 0u);
  EXPECT_EQ(rcv_.connections(), 0u);
}

// A proxy in hookd's environment is not used: the delivery goes straight
// to the receiver, whose address the guard checks (through a proxy it would
// check the proxy's instead).
TEST_F(delivery_ssrf, proxies_in_the_environment_are_ignored) {
  receiver proxy;
  ASSERT_TRUE(start({{"http_proxy", proxy.url("/")},
                     {"https_proxy", proxy.url("/")},
                     {"HTTPS_PROXY", proxy.url("/")},
                     {"ALL_PROXY", proxy.url("/")},
                     {"all_proxy", proxy.url("/")}}));
  auto c = api();
  auto hook = make_hook(c, org_hooks, "direct", rcv_.url("/direct"));
  auto id = post_event(c, stack_event("update_succeeded"));
  auto rec = wait_record(c, hook, id);
  ASSERT_TRUE(rec.is_object());
  EXPECT_EQ(rec.value("status", ""), "succeeded") << rec.dump();
  EXPECT_EQ(rcv_.requests_to("/direct").size(), 1u);
  EXPECT_EQ(proxy.count(), 0u);
  EXPECT_EQ(proxy.connections(), 0u);
}

// -- formats
// -------------------------------------------------------------------

TEST_F(delivery_formats, slack_gets_text_and_blocks) {
  ASSERT_TRUE(start());
  auto c = api();
  auto hook = make_hook(c, stack_hooks, "slack", rcv_.url("/slack"),
                        {{"format", "slack"}});
  auto id = post_event(
      c, stack_event("update_succeeded", "web", "prod", update_data()));
  ASSERT_TRUE(arrives(rcv_, "/slack", id));
  auto req = rcv_.requests_to("/slack").at(0);
  EXPECT_EQ(req.header("Content-Type"), "application/json");
  auto body = json::parse(req.body, nullptr, false);
  ASSERT_TRUE(body.is_object()) << req.body;
  ASSERT_TRUE(body.contains("text") && body["text"].is_string()) << req.body;
  auto text = body["text"].get<std::string>();
  EXPECT_NE(text.find("prod"), std::string::npos) << "text: " << text;
  EXPECT_NE(lower(text).find("update"), std::string::npos) << "text: " << text;
  EXPECT_NE(lower(text).find("succe"), std::string::npos) << "text: " << text;
  EXPECT_EQ(text.find('\n'), std::string::npos) << "one line: " << text;
  ASSERT_TRUE(body.contains("blocks") && body["blocks"].is_array()
              && !body["blocks"].empty())
      << req.body;
  for (const auto& b : body["blocks"])
    EXPECT_TRUE(b.is_object() && b.contains("type") && b["type"].is_string())
        << b.dump();
  EXPECT_EQ(body["blocks"][0]["type"], "section");
  auto rec = wait_record(c, hook, id);
  EXPECT_EQ(rec.value("status", ""), "succeeded") << rec.dump();
  EXPECT_EQ(rec["payload"], req.body);
}

TEST_F(delivery_formats, ms_teams_gets_an_adaptive_card) {
  ASSERT_TRUE(start());
  auto c = api();
  make_hook(c, org_hooks, "teams", rcv_.url("/teams"),
            {{"format", "ms_teams"}});
  auto id = post_event(
      c, stack_event("update_failed", "web", "prod", update_data()));
  ASSERT_TRUE(arrives(rcv_, "/teams", id));
  auto body
      = json::parse(rcv_.requests_to("/teams").at(0).body, nullptr, false);
  ASSERT_TRUE(body.is_object()) << body;
  EXPECT_EQ(body["type"], "message");
  ASSERT_TRUE(body["attachments"].is_array() && !body["attachments"].empty())
      << body;
  const auto& att = body["attachments"][0];
  EXPECT_EQ(att["contentType"], "application/vnd.microsoft.card.adaptive");
  ASSERT_TRUE(att["content"].is_object()) << body;
  EXPECT_EQ(att["content"]["type"], "AdaptiveCard");
  EXPECT_EQ(att["content"]["version"], "1.4");
  EXPECT_TRUE(att["content"]["body"].is_array()
              && !att["content"]["body"].empty())
      << body;
}

// -- pulumi_deployments
// -----------------------------------------------------------

json deployments_of(const http_client& c, const std::string& project,
                    const std::string& stack) {
  auto r = c.get("/api/stacks/acme/" + project + "/" + stack + "/deployments");
  EXPECT_EQ(r.status, 200) << show(r);
  auto j = r.body_json();
  if (!j.is_array()) {
    ADD_FAILURE() << "deployments of " << project << "/" << stack
                  << " is not an array: " << show(r);
    return json::array();
  }
  return j;
}

std::set<std::int64_t> versions_of(const json& deployments) {
  std::set<std::int64_t> out;
  for (const auto& d : deployments)
    out.insert(d.value("version", std::int64_t{-1}));
  return out;
}

TEST_F(delivery_deployments, hook_queues_a_deployment_and_raises_its_event) {
  ASSERT_TRUE(start());
  auto c = api();
  make_hook(c, org_hooks, "org", rcv_.url("/org"));
  auto deployer = make_hook(
      c, stack_hooks, "deployer", "web/staging",
      {{"format", "pulumi_deployments"}, {"filters", {"update_succeeded"}}});
  for (int version = 1; version <= 2; ++version) {
    SCOPED_TRACE("deployment version " + std::to_string(version));
    auto id = post_event(c, stack_event("update_succeeded"));
    auto rec = wait_record(c, deployer, id);
    ASSERT_TRUE(rec.is_object());
    EXPECT_EQ(rec["responseCode"], 202) << rec.dump();
    EXPECT_EQ(rec.value("status", ""), "succeeded") << rec.dump();
    auto dep = json::parse(rec.value("responseBody", ""), nullptr, false);
    ASSERT_TRUE(dep.is_object()) << rec.dump();
    EXPECT_EQ(dep.value("version", -1), version) << dep;
    EXPECT_EQ(dep.value("projectName", ""), "web") << dep;
    EXPECT_EQ(dep.value("stackName", ""), "staging") << dep;

    auto list = deployments_of(c, "web", "staging");
    EXPECT_EQ(list.size(), static_cast<std::size_t>(version)) << list;
    std::set<std::int64_t> want;
    for (int v = 1; v <= version; ++v)
      want.insert(v);
    EXPECT_EQ(versions_of(list), want) << list;
    for (const auto& d : list)
      EXPECT_EQ(d.value("status", ""), "queued") << d;

    // The org hook hears of it as deployment_queued for web/staging.
    bool heard = rcv_.wait_for(
        [&](const std::vector<received_request>& all) {
          return std::any_of(all.begin(), all.end(), [&](const auto& r) {
            if (r.path != "/org"
                || r.header("Pulumi-Webhook-Kind") != "deployment")
              return false;
            auto b = json::parse(r.body, nullptr, false);
            return b.is_object() && b.value("stackName", "") == "staging"
                   && b.value("version", -1) == version;
          });
        },
        deadline);
    EXPECT_TRUE(heard) << "no deployment_queued version " << version
                       << " for web/staging reached the org hook";
  }
  for (const auto& r : rcv_.requests_to("/org")) {
    if (r.header("Pulumi-Webhook-Kind") != "deployment")
      continue;
    auto b = json::parse(r.body, nullptr, false);
    EXPECT_EQ(b.value("projectName", ""), "web") << r.body;
    EXPECT_EQ(b.value("status", ""), "queued") << r.body;
    EXPECT_EQ(b.value("operation", ""), "update") << r.body;
  }
  EXPECT_TRUE(deployments_of(c, "web", "prod").empty());
}

TEST_F(delivery_deployments, loop_between_stacks_ends_after_8_hops) {
  ASSERT_TRUE(start());
  auto c = api();
  auto to_b = make_hook(
      c, "/api/stacks/acme/web/a/hooks", "to-b", "web/b",
      {{"format", "pulumi_deployments"}, {"filters", {"deployment_queued"}}});
  auto to_a = make_hook(
      c, "/api/stacks/acme/web/b/hooks", "to-a", "web/a",
      {{"format", "pulumi_deployments"}, {"filters", {"deployment_queued"}}});
  post_event(c, stack_event("deployment_queued", "web", "a"));

  auto until = std::chrono::steady_clock::now() + deadline;
  json stopped;
  json all;
  while (stopped.is_null() && std::chrono::steady_clock::now() < until) {
    all = json::array();
    for (const auto& hook : {to_b, to_a})
      for (const auto& rec : history(c, hook))
        all.push_back(rec);
    for (const auto& rec : all)
      if (rec.value("status", "") == "failed"
          && rec.value("error", "").find("hops") != std::string::npos)
        stopped = rec;
    if (stopped.is_null())
      std::this_thread::sleep_for(20ms);
  }
  ASSERT_FALSE(stopped.is_null())
      << "no failed record mentioning hops; records: " << all.dump();
  auto total = deployments_of(c, "web", "a").size()
               + deployments_of(c, "web", "b").size();
  EXPECT_GE(total, 1u);
  EXPECT_LE(total, 8u);
  std::size_t failed = 0;
  for (const auto& rec : all)
    failed += rec.value("status", "") == "failed" ? 1 : 0;
  EXPECT_EQ(failed, 1u) << all.dump();
}

// Three webhooks that each deploy their own stack again on every
// deployment_queued would turn one event into 3 + 9 + ... + 3^8 deployments:
// hops bound the depth, the event's budget the total.
TEST_F(delivery_deployments, one_event_sets_off_a_bounded_number_of_them) {
  ASSERT_TRUE(start());
  auto c = api();
  std::vector<std::string> hooks;
  for (int i = 0; i < 3; ++i)
    hooks.push_back(make_hook(c, "/api/stacks/acme/web/a/hooks",
                              "again-" + std::to_string(i), "web/a",
                              {{"format", "pulumi_deployments"},
                               {"filters", {"deployment_queued"}}}));
  post_event(c, stack_event("deployment_queued", "web", "a"));

  // Settled: every deployment_queued event (the client's and one per
  // deployment) has a finished record at every webhook.
  auto until = std::chrono::steady_clock::now() + deadline;
  std::size_t deployed = 0, finished = 0, refused = 0;
  json all;
  do {
    deployed = deployments_of(c, "web", "a").size();
    all = json::array();
    finished = refused = 0;
    for (const auto& hook : hooks)
      for (const auto& rec : history(c, hook)) {
        auto status = rec.value("status", "");
        finished += status == "succeeded" || status == "failed";
        refused += rec.value("error", "").find("at most 64 deployments")
                   != std::string::npos;
        all.push_back(rec);
      }
    if (deployed > 0 && finished == 3 * (deployed + 1))
      break;
    std::this_thread::sleep_for(50ms);
  } while (std::chrono::steady_clock::now() < until);
  EXPECT_EQ(deployed, 64u);
  EXPECT_EQ(finished, 3 * (deployed + 1));
  // Every attempt past the budget failed at once, saying why.
  EXPECT_EQ(refused, finished - deployed) << all.dump().substr(0, 2000);
}

// -- history
// -------------------------------------------------------------------

TEST_F(delivery_history, pages_with_limit_and_link_header) {
  ASSERT_TRUE(start());
  auto c = api();
  auto hook = make_hook(c, org_hooks, "paged", rcv_.url("/paged"));
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i)
    ids.push_back(post_event(c, stack_event("update_succeeded")));
  for (const auto& id : ids)
    ASSERT_TRUE(wait_record(c, hook, id).is_object());

  auto first = c.get(hook + "/deliveries?limit=2");
  ASSERT_EQ(first.status, 200) << show(first);
  auto page1 = first.body_json();
  ASSERT_TRUE(page1.is_array()) << show(first);
  EXPECT_EQ(record_ids(page1), (std::vector<std::string>{ids[2], ids[1]}))
      << "newest first";
  auto link = first.header("Link");
  ASSERT_TRUE(link.has_value()) << "no Link header with 3 records, limit 2";
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      *link, m, std::regex{R"re(<([^>]*)>\s*;\s*rel="next")re"}))
      << "Link: " << *link;
  std::string next = m[1].str();
  EXPECT_NE(next.find("limit=2"), std::string::npos) << next;
  EXPECT_NE(next.find("continuationToken="), std::string::npos) << next;
  if (next.rfind("http", 0) == 0)
    next = next.substr(next.find('/', next.find("//") + 2));
  auto second = c.get(next);
  ASSERT_EQ(second.status, 200) << "following " << next << ": " << show(second);
  auto page2 = second.body_json();
  EXPECT_EQ(record_ids(page2), std::vector<std::string>{ids[0]});
  EXPECT_FALSE(second.header("Link").has_value())
      << "nothing remains, yet Link: " << *second.header("Link");

  auto whole = history(c, hook, "");
  EXPECT_EQ(record_ids(whole),
            (std::vector<std::string>{ids[2], ids[1], ids[0]}));
  json joined = page1;
  for (const auto& rec : page2)
    joined.push_back(rec);
  EXPECT_EQ(whole, joined);
  for (const auto& rec : whole)
    EXPECT_TRUE(matches_delivery_schema(rec));
}

TEST_F(delivery_history, history_survives_a_restart) {
  ASSERT_TRUE(start({{"HOOKD_RETRY_SCHEDULE", "0s"}}));
  rcv_.reply_on("/kept", {reply::with_status(200), reply::with_status(503)});
  auto c = api();
  auto hook = make_hook(c, org_hooks, "kept", rcv_.url("/kept"));
  auto a = post_event(c, stack_event("update_succeeded"));
  ASSERT_TRUE(wait_record(c, hook, a).is_object());
  auto b = post_event(c, stack_event("update_failed"));
  ASSERT_TRUE(wait_record(c, hook, b).is_object());
  auto ping = c.request("POST", hook + "/ping");
  ASSERT_EQ(ping.status, 200) << show(ping);
  auto before = history(c, hook);
  ASSERT_EQ(before.size(), 3u) << before;

  auto st = proc_->stop(SIGTERM);
  ASSERT_TRUE(st.clean()) << st << "; stderr: " << proc_->stderr_text();
  auto next = proc_->restart();
  proc_ = std::move(next);
  ASSERT_TRUE(proc_->listening()) << proc_->start_error();
  auto after = history(api(), hook);
  EXPECT_EQ(after, before);
}

TEST_F(delivery_history, bad_limit_is_400) {
  ASSERT_TRUE(start());
  auto c = api();
  auto hook = make_hook(c, org_hooks, "lim", rcv_.url("/lim"));
  for (const char* q : {"0", "1001", "x", "-1", "2.5", "1e3"})
    EXPECT_TRUE(is_error(c.get(hook + "/deliveries?limit=" + q), 400))
        << "limit=" << q;
  for (const char* q : {"1", "1000"})
    EXPECT_EQ(c.get(hook + "/deliveries?limit=" + q).status, 200)
        << "limit=" << q;
  EXPECT_TRUE(
      is_error(c.get(std::string{org_hooks} + "/nope/deliveries"), 404));
}

} // namespace
