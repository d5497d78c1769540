// Plugins as a user sees them (SPEC section 10): the real hookd binary
// loads real shared libraries (the examples, and test plugins that go wrong
// on purpose); the tests check start-up, validation, what receivers get and
// what the deliveries history says.
#include <algorithm>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "harness.hpp"
#include "receiver.hpp"

namespace {

using namespace hookd_test;
using env_list
    = std::vector<std::pair<std::string, std::optional<std::string>>>;

constexpr const char* org_hooks = "/api/orgs/acme/hooks";
constexpr const char* stack_hooks = "/api/stacks/acme/web/prod/hooks";
constexpr auto deadline = 10s;

json stack_event(const std::string& name, const json& user,
                 json data = json::object()) {
  json ev{{"event", name},
          {"projectName", "web"},
          {"stackName", "prod"},
          {"user", user}};
  if (!data.empty())
    ev["data"] = std::move(data);
  return ev;
}

json ann() {
  return {{"name", "Ann"}, {"githubLogin", "ann"}, {"avatarUrl", ""}};
}

std::string post_event(const http_client& c, const json& ev) {
  auto r = c.post("/api/orgs/acme/events", ev);
  EXPECT_EQ(r.status, 202) << show(r);
  auto j = r.body_json();
  return j.is_object() && j.contains("id") ? j["id"].get<std::string>() : "";
}

/// Polls a hook's history until the record of `id` satisfies `done`.
json wait_record(const http_client& c, const std::string& hook,
                 const std::string& id,
                 const std::function<bool(const json&)>& done) {
  json found;
  bool ok = eventually(
      [&] {
        auto list = c.get(hook + "/deliveries?limit=1000").body_json();
        if (!list.is_array())
          return false;
        for (const auto& rec : list)
          if (rec.value("id", "") == id && done(rec)) {
            found = rec;
            return true;
          }
        return false;
      },
      deadline);
  EXPECT_TRUE(ok) << "no matching record of " << id << " in " << hook << ": "
                  << c.get(hook + "/deliveries").body;
  return found;
}

bool finished(const json& rec) {
  auto s = rec.value("status", "");
  return s == "succeeded" || s == "failed";
}

/// Characters as Discord counts them (UTF-16 code units).
std::size_t discord_length(const std::string& s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    auto w = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    n += w == 4 ? 2 : 1;
    i += static_cast<std::size_t>(w);
  }
  return n;
}

/// hookd refuses to start with these plugins: a non-zero exit and an error
/// line on stderr that contains every one of `says`.
void refused_with(const std::string& plugins,
                  const std::vector<std::string>& says) {
  process_options opts;
  opts.wait_listening = false;
  opts.env = {{"HOOKD_PLUGINS", plugins}};
  hookd_process proc{opts};
  auto ended = proc.wait_exit();
  EXPECT_TRUE(ended.exited && ended.code != 0) << ended;
  EXPECT_FALSE(proc.listening());
  auto err = proc.stderr_text();
  for (const auto& s : says)
    EXPECT_NE(err.find(s), std::string::npos)
        << "stderr should say '" << s << "': " << err;
}

class plugins : public ::testing::Test {
protected:
  ::testing::AssertionResult start(const std::string& libs,
                                   const env_list& extra = {}) {
    process_options opts;
    opts.env = {{"HOOKD_ALLOW_PRIVATE_TARGETS", "1"},
                {"HOOKD_RETRY_SCHEDULE", "0s,50ms,50ms,50ms"},
                {"HOOKD_DELIVERY_TIMEOUT", "5s"},
                {"HOOKD_PLUGINS", libs}};
    for (const auto& e : extra)
      opts.env.push_back(e);
    proc_ = std::make_unique<hookd_process>(opts);
    if (!proc_->listening())
      return ::testing::AssertionFailure() << proc_->start_error() << "\n"
                                           << proc_->stderr_text();
    return ::testing::AssertionSuccess();
  }
  void TearDown() override {
    if (proc_ && proc_->running())
      proc_->stop(SIGKILL);
  }
  http_client api() const {
    return proc_->client();
  }

  receiver rcv_;
  std::unique_ptr<hookd_process> proc_;
};

// -- loading -----------------------------------------------------------------

TEST(plugin_loading, a_missing_file_stops_hookd_naming_it) {
  refused_with("/nonexistent/libhookd_nothing.so",
               {"/nonexistent/libhookd_nothing.so", "no such file"});
}

TEST(plugin_loading, a_library_without_the_entry_point_stops_hookd) {
  refused_with(
      HOOKD_PLUGIN_NO_ENTRY,
      {HOOKD_PLUGIN_NO_ENTRY, "not a hookd plugin", "hookd_plugin_register"});
}

TEST(plugin_loading, another_abi_version_stops_hookd_naming_both_versions) {
  refused_with(HOOKD_PLUGIN_WRONG_ABI,
               {HOOKD_PLUGIN_WRONG_ABI, "plugin ABI version 43",
                "this hookd has plugin ABI version 2"});
}

TEST(plugin_loading, two_behaviours_with_one_name_stop_hookd) {
  refused_with(std::string{HOOKD_PLUGIN_TWIN_A} + "," + HOOKD_PLUGIN_TWIN_B,
               {"twin_b", "format named 'twin'", "twin_a"});
}

TEST(plugin_loading, the_same_plugin_twice_is_refused) {
  refused_with(std::string{HOOKD_PLUGIN_EXPLODE} + "," + HOOKD_PLUGIN_EXPLODE,
               {"format named 'explode'"});
}

TEST_F(plugins, formats_are_registered_names_and_unknown_ones_are_400) {
  ASSERT_TRUE(start(HOOKD_PLUGIN_DISCORD));
  auto c = api();
  auto r = c.post(org_hooks,
                  active_hook("d", rcv_.url("/d"), {{"format", "discord"}}));
  ASSERT_EQ(r.status, 201) << show(r);
  EXPECT_EQ(r.body_json()["format"], "discord");
  EXPECT_FALSE(r.body_json().contains("destination"));
  EXPECT_FALSE(r.body_json().contains("pipeline"));
  r = c.post(org_hooks, active_hook("x", rcv_.url("/x"), {{"format", "nope"}}));
  EXPECT_TRUE(is_error(r, 400));
  EXPECT_NE(r.body.find("discord"), std::string::npos) << r.body;
  r = c.patch(org_hooks + std::string{"/d"},
              active_hook("d", rcv_.url("/d"), {{"format", "slack2"}}));
  EXPECT_TRUE(is_error(r, 400));
}

TEST_F(plugins, without_the_plugin_its_format_is_unknown) {
  ASSERT_TRUE(start(""));
  auto r = api().post(
      org_hooks, active_hook("d", rcv_.url("/d"), {{"format", "discord"}}));
  EXPECT_TRUE(is_error(r, 400));
}

// -- discord
// -------------------------------------------------------------------

TEST_F(plugins, discord_message_is_within_limits_and_pings_nobody) {
  ASSERT_TRUE(start(HOOKD_PLUGIN_DISCORD));
  auto c = api();
  ASSERT_EQ(c.post(org_hooks, active_hook("disc", rcv_.url("/disc"),
                                          {{"format", "discord"}}))
                .status,
            201);
  // Hostile text everywhere a user controls it, and far too much of it.
  std::string hostile = "@everyone @here <@123456> <@&987> **bold** "
                        "[click](https://evil.example) `code` ||spoiler|| ";
  std::string huge;
  while (huge.size() < 9000)
    huge += hostile + "😀";
  json user{{"name", huge}, {"githubLogin", "x"}, {"avatarUrl", ""}};
  json data{{"updateUrl", "https://app.pulumi.com/acme/web/prod/updates/4"},
            {"resourceChanges", {{"create", 3}}},
            {"message", huge}};
  auto id = post_event(c, stack_event("update_failed", user, data));
  ASSERT_TRUE(rcv_.wait_for_path("/disc", 1, deadline));
  auto req = rcv_.requests_to("/disc").front();
  EXPECT_EQ(req.header("Pulumi-Webhook-Id"), id);
  EXPECT_EQ(req.header("Content-Type"), "application/json");
  auto body = json::parse(req.body, nullptr, false);
  ASSERT_TRUE(body.is_object()) << req.body;

  // No mention is parsed, and none would be even if it were.
  ASSERT_TRUE(body.contains("allowed_mentions"));
  EXPECT_EQ(body["allowed_mentions"], json({{"parse", json::array()}}));
  EXPECT_EQ(req.body.find("@everyone"), std::string::npos);
  EXPECT_EQ(req.body.find("@here"), std::string::npos);
  EXPECT_EQ(req.body.find("<@123456>"), std::string::npos);
  EXPECT_EQ(req.body.find("<@&987>"), std::string::npos);
  // Markdown shows as typed.
  EXPECT_EQ(req.body.find("[click](https"), std::string::npos);
  EXPECT_EQ(req.body.find(" **bold**"), std::string::npos);

  // Discord's documented limits.
  auto content = body["content"].get<std::string>();
  EXPECT_LE(discord_length(content), 2000u);
  EXPECT_NE(content.find("Update failed on acme/web/prod"), std::string::npos);
  ASSERT_TRUE(body["embeds"].is_array());
  ASSERT_EQ(body["embeds"].size(), 1u);
  auto embed = body["embeds"][0];
  EXPECT_LE(discord_length(embed["title"].get<std::string>()), 256u);
  EXPECT_LE(discord_length(embed["description"].get<std::string>()), 4096u);
  EXPECT_EQ(embed["url"], "https://app.pulumi.com/acme/web/prod/updates/4");
  std::size_t total = discord_length(embed["title"].get<std::string>())
                      + discord_length(embed["description"].get<std::string>());
  ASSERT_TRUE(embed["fields"].is_array());
  EXPECT_LE(embed["fields"].size(), 25u);
  EXPECT_GE(embed["fields"].size(), 2u);
  for (const auto& f : embed["fields"]) {
    EXPECT_LE(discord_length(f["name"].get<std::string>()), 256u);
    EXPECT_LE(discord_length(f["value"].get<std::string>()), 1024u);
    total += discord_length(f["name"].get<std::string>())
             + discord_length(f["value"].get<std::string>());
  }
  EXPECT_LE(total, 6000u);

  // The history keeps the exact body, like any delivery.
  auto rec = wait_record(c, org_hooks + std::string{"/disc"}, id, finished);
  EXPECT_EQ(rec.value("status", ""), "succeeded");
  EXPECT_EQ(rec.value("payload", ""), req.body);
}

TEST_F(plugins, discord_ping_is_a_message) {
  ASSERT_TRUE(start(HOOKD_PLUGIN_DISCORD));
  auto c = api();
  ASSERT_EQ(c.post(stack_hooks,
                   active_hook("disc", rcv_.url("/p"), {{"format", "discord"}}))
                .status,
            201);
  auto r = c.post(stack_hooks + std::string{"/disc/ping"}, json::object());
  ASSERT_EQ(r.status, 200) << show(r);
  ASSERT_TRUE(rcv_.wait_for_path("/p", 1, deadline));
  auto body = json::parse(rcv_.requests_to("/p").front().body, nullptr, false);
  EXPECT_NE(body.value("content", "").find("friendly ping"), std::string::npos);
  EXPECT_EQ(body["allowed_mentions"], json({{"parse", json::array()}}));
}

// -- isolation
// -------------------------------------------------------------------

TEST_F(plugins, a_throwing_format_fails_its_delivery_and_nothing_else) {
  ASSERT_TRUE(start(HOOKD_PLUGIN_EXPLODE));
  auto c = api();
  ASSERT_EQ(c.post(org_hooks, active_hook("boom", rcv_.url("/boom"),
                                          {{"format", "explode"}}))
                .status,
            201);
  ASSERT_EQ(c.post(org_hooks, active_hook("calm", rcv_.url("/calm"))).status,
            201);
  auto bad = post_event(
      c, stack_event("update_failed", ann(), {{"message", "boom"}}));
  auto good = post_event(c, stack_event("update_succeeded", ann()));
  // The other webhook gets both; the exploding one gets the second, with
  // its format's header.
  ASSERT_TRUE(rcv_.wait_for_path("/calm", 2, deadline));
  ASSERT_TRUE(rcv_.wait_for_path("/boom", 1, deadline));
  auto req = rcv_.requests_to("/boom").front();
  EXPECT_EQ(req.header("Pulumi-Webhook-Id"), good);
  EXPECT_EQ(req.header("X-Explode"), "no");
  auto rec = wait_record(c, org_hooks + std::string{"/boom"}, bad, finished);
  EXPECT_EQ(rec.value("status", ""), "failed");
  EXPECT_NE(rec.value("error", "").find("format 'explode' failed: boom"),
            std::string::npos)
      << rec.dump();
}

TEST_F(plugins, destinations_are_validated_by_their_behaviour) {
  ASSERT_TRUE(start(HOOKD_PLUGIN_EXPLODE));
  auto c = api();
  auto r = c.post(org_hooks,
                  active_hook("d", "", {{"destination", {{"name", "nope"}}}}));
  ASSERT_TRUE(is_error(r, 400));
  EXPECT_NE(r.body.find("'nope'"), std::string::npos) << r.body;
  r = c.post(
      org_hooks,
      active_hook("d", "",
                  {{"destination",
                    {{"name", "explode"}, {"config", {{"mode", "x"}}}}}}));
  ASSERT_TRUE(is_error(r, 400));
  EXPECT_NE(r.body.find("destination 'explode'"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("'mode'"), std::string::npos) << r.body;
  r = c.post(org_hooks, active_hook("d", "", {{"destination", "explode"}}));
  EXPECT_TRUE(is_error(r, 400));
  r = c.post(
      org_hooks,
      active_hook("d", "",
                  {{"destination",
                    {{"name", "explode"}, {"config", {{"mode", "throw"}}}}}}));
  ASSERT_EQ(r.status, 201) << show(r);
  EXPECT_EQ(r.body_json()["destination"],
            json({{"name", "explode"}, {"config", {{"mode", "throw"}}}}));
  // PATCH without the field keeps it (Pulumi's clients do not send it);
  // a bad one is refused; null removes it.
  auto item = org_hooks + std::string{"/d"};
  r = c.patch(item, active_hook("d", rcv_.url("/d")));
  ASSERT_EQ(r.status, 200) << show(r);
  EXPECT_TRUE(r.body_json().contains("destination"));
  r = c.patch(item, active_hook("d", rcv_.url("/d"),
                                {{"destination", {{"name", "explode"}}}}));
  EXPECT_TRUE(is_error(r, 400));
  r = c.patch(item,
              active_hook("d", rcv_.url("/d"), {{"destination", nullptr}}));
  ASSERT_EQ(r.status, 200) << show(r);
  EXPECT_FALSE(r.body_json().contains("destination"));
  // The HTTP POST is a registered destination too, and takes no config.
  r = c.post(org_hooks, active_hook("h", rcv_.url("/h"),
                                    {{"destination", {{"name", "http"}}}}));
  EXPECT_EQ(r.status, 201) << show(r);
  r = c.post(org_hooks,
             active_hook("h2", rcv_.url("/h"),
                         {{"destination",
                           {{"name", "http"}, {"config", {{"x", 1}}}}}}));
  EXPECT_TRUE(is_error(r, 400));
}

TEST_F(plugins, a_throwing_destination_is_retried_and_the_node_goes_on) {
  ASSERT_TRUE(start(HOOKD_PLUGIN_EXPLODE));
  auto c = api();
  ASSERT_EQ(
      c.post(org_hooks, active_hook("boom", "",
                                    {{"destination",
                                      {{"name", "explode"},
                                       {"config", {{"mode", "throw"}}}}}}))
          .status,
      201);
  ASSERT_EQ(c.post(org_hooks, active_hook("calm", rcv_.url("/calm"))).status,
            201);
  auto first = post_event(c, stack_event("update_succeeded", ann()));
  auto rec = wait_record(c, org_hooks + std::string{"/boom"}, first, finished);
  EXPECT_EQ(rec.value("status", ""), "failed");
  // Every attempt of the schedule was made, each by a fresh destination.
  EXPECT_EQ(rec.value("attempts", 0), 4) << rec.dump();
  EXPECT_NE(rec.value("error", "")
                .find("destination 'explode' failed: boom in the destination"),
            std::string::npos)
      << rec.dump();
  // The rest of the node goes on: the other webhook, new events, pings.
  auto second = post_event(c, stack_event("update_failed", ann()));
  ASSERT_TRUE(rcv_.wait_for_path("/calm", 2, deadline));
  rec = wait_record(c, org_hooks + std::string{"/boom"}, second, finished);
  EXPECT_EQ(rec.value("attempts", 0), 4) << rec.dump();
  auto ping = c.post(org_hooks + std::string{"/boom/ping"}, json::object());
  ASSERT_EQ(ping.status, 200) << show(ping);
  EXPECT_NE(ping.body_json().value("error", "").find("boom"), std::string::npos)
      << ping.body;
  EXPECT_EQ(c.get("/healthz").status, 200);
}

// -- jsonl
// ---------------------------------------------------------------------

/// The JSON lines of a file (none when it does not exist).
std::vector<json> lines_of(const std::string& path) {
  std::vector<json> out;
  std::ifstream in{path};
  std::string line;
  while (std::getline(in, line))
    out.push_back(json::parse(line, nullptr, false));
  return out;
}

TEST_F(plugins, jsonl_refuses_file_names_that_are_not_plain) {
  temp_dir dir;
  ASSERT_TRUE(start(HOOKD_PLUGIN_JSONL, {{"HOOKD_JSONL_DIR", dir.path()}}));
  auto c = api();
  std::vector<json> files{"../escape.jsonl",
                          "a/b.jsonl",
                          "/etc/passwd",
                          std::string{"bad\x01name.jsonl"},
                          "..",
                          "",
                          7};
  for (const auto& file : files) {
    json cfg{{"file", file}};
    auto r = c.post(
        org_hooks,
        active_hook("j", "",
                    {{"destination", {{"name", "jsonl"}, {"config", cfg}}}}));
    ASSERT_TRUE(is_error(r, 400)) << cfg.dump() << ": " << show(r);
    EXPECT_NE(r.body.find("destination 'jsonl'"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("'file'"), std::string::npos) << r.body;
  }
  auto r = c.post(org_hooks,
                  active_hook("j", "", {{"destination", {{"name", "jsonl"}}}}));
  EXPECT_TRUE(is_error(r, 400)) << show(r);
  EXPECT_TRUE(files_under(dir.path()).empty());
}

TEST_F(plugins, jsonl_appends_one_record_a_line_per_delivery) {
  temp_dir dir;
  ASSERT_TRUE(start(HOOKD_PLUGIN_JSONL, {{"HOOKD_JSONL_DIR", dir.path()}}));
  auto c = api();
  auto hook = std::string{stack_hooks} + "/lines";
  auto r = c.post(stack_hooks,
                  active_hook("lines", "",
                              {{"destination",
                                {{"name", "jsonl"},
                                 {"config", {{"file", "events.jsonl"}}}}}}));
  ASSERT_EQ(r.status, 201) << show(r);
  EXPECT_EQ(r.body_json()["destination"],
            json({{"name", "jsonl"}, {"config", {{"file", "events.jsonl"}}}}));
  auto path = dir.path() + "/events.jsonl";
  auto first = post_event(c, stack_event("update_succeeded", ann()));
  auto second = post_event(c, stack_event("preview_failed", ann()));
  ASSERT_TRUE(eventually([&] { return lines_of(path).size() >= 2; }, deadline))
      << lines_of(path).size();
  auto lines = lines_of(path);
  ASSERT_EQ(lines.size(), 2u);
  std::vector<std::string> ids;
  for (const auto& line : lines) {
    ASSERT_TRUE(line.is_object());
    ids.push_back(line.value("id", ""));
    EXPECT_TRUE(line["timestamp"].is_number_integer());
    ASSERT_TRUE(line["payload"].is_object()) << line.dump();
    EXPECT_EQ(line["payload"]["stackName"], "prod");
    EXPECT_EQ(line["payload"]["user"]["name"], "Ann");
  }
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> want{first, second};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(ids, want);
  for (const auto& line : lines)
    EXPECT_EQ(line["kind"],
              line["id"] == first ? "stack_update" : "stack_preview");
  // The history records the deliveries as it does POSTs.
  auto rec = wait_record(c, hook, first, finished);
  EXPECT_EQ(rec.value("status", ""), "succeeded");
  EXPECT_EQ(rec.value("responseCode", 0), 200);
  EXPECT_EQ(json::parse(rec.value("payload", "{}")), lines[0]["id"] == first
                                                         ? lines[0]["payload"]
                                                         : lines[1]["payload"]);
  // A redelivery appends the same event again; a ping appends a ping.
  r = c.request("POST", hook + "/deliveries/" + first + "/redeliver");
  ASSERT_EQ(r.status, 200) << show(r);
  r = c.post(hook + "/ping", json::object());
  ASSERT_EQ(r.status, 200) << show(r);
  EXPECT_EQ(r.body_json().value("status", ""), "succeeded") << r.body;
  lines = lines_of(path);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[2]["id"], first);
  EXPECT_EQ(lines[3]["kind"], "ping");
  EXPECT_TRUE(lines[3]["payload"].is_object());
}

TEST_F(plugins, jsonl_failures_are_recorded_and_retried) {
  temp_dir dir;
  // A directory that does not exist: every attempt fails with the reason.
  ASSERT_TRUE(start(HOOKD_PLUGIN_JSONL,
                    {{"HOOKD_JSONL_DIR", dir.path() + "/missing"}}));
  auto c = api();
  ASSERT_EQ(
      c.post(org_hooks, active_hook("j", "",
                                    {{"destination",
                                      {{"name", "jsonl"},
                                       {"config", {{"file", "x.jsonl"}}}}}}))
          .status,
      201);
  auto id = post_event(c, stack_event("update_succeeded", ann()));
  auto rec = wait_record(c, org_hooks + std::string{"/j"}, id, finished);
  EXPECT_EQ(rec.value("status", ""), "failed");
  EXPECT_EQ(rec.value("attempts", 0), 4);
  EXPECT_NE(rec.value("error", "").find("cannot open"), std::string::npos)
      << rec.dump();
  // The record names the file, never where the operator keeps it.
  EXPECT_EQ(rec.dump().find(dir.path()), std::string::npos) << rec.dump();
}

// -- stages: debounce ---------------------------------------------------------

json stack_event_of(const std::string& name, const std::string& stack) {
  return {{"event", name},
          {"projectName", "web"},
          {"stackName", stack},
          {"user", ann()}};
}

json debounce_pipeline(const std::string& window) {
  return json::array(
      {{{"name", "debounce"}, {"config", {{"window", window}}}}});
}

/// The event ids of the requests received on `path`, in arrival order.
std::vector<std::string> ids_received(const receiver& rcv,
                                      const std::string& path) {
  std::vector<std::string> ids;
  for (const auto& req : rcv.requests_to(path))
    ids.push_back(req.header("Pulumi-Webhook-Id").value_or(""));
  return ids;
}

/// The event ids in a hook's history.
std::vector<std::string> ids_recorded(const http_client& c,
                                      const std::string& hook) {
  std::vector<std::string> ids;
  auto list = c.get(hook + "/deliveries?limit=1000").body_json();
  if (list.is_array())
    for (const auto& rec : list)
      ids.push_back(rec.value("id", ""));
  return ids;
}

TEST_F(plugins,
       debounce_delivers_the_last_event_of_each_stack_after_its_window) {
  ASSERT_TRUE(start(HOOKD_PLUGIN_DEBOUNCE));
  auto c = api();
  auto hook = std::string{org_hooks} + "/deb";
  auto r
      = c.post(org_hooks, active_hook("deb", rcv_.url("/deb"),
                                      {{"pipeline", debounce_pipeline("1s")}}));
  ASSERT_EQ(r.status, 201) << show(r);
  EXPECT_EQ(r.body_json()["pipeline"], debounce_pipeline("1s"));
  auto began = std::chrono::steady_clock::now();
  auto e1 = post_event(c, stack_event_of("update_succeeded", "prod"));
  auto f1 = post_event(c, stack_event_of("update_failed", "dev"));
  auto e2 = post_event(c, stack_event_of("update_failed", "prod"));
  auto e3 = post_event(c, stack_event_of("preview_succeeded", "prod"));
  ASSERT_TRUE(rcv_.wait_for_path("/deb", 2, deadline));
  auto first = rcv_.requests_to("/deb").front().arrived;
  // Nothing before the window closed.
  EXPECT_GE(first - began, 1s);
  auto got = ids_received(rcv_, "/deb");
  std::sort(got.begin(), got.end());
  std::vector<std::string> want{e3, f1};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
  // A later window of the same stack: once it is delivered, nothing else
  // of the first window came.
  auto g1 = post_event(c, stack_event_of("update_succeeded", "prod"));
  ASSERT_TRUE(rcv_.wait_for_path("/deb", 3, deadline));
  EXPECT_EQ(ids_received(rcv_, "/deb").back(), g1);
  EXPECT_TRUE(wait_record(c, hook, g1, finished).is_object());
  auto recorded = ids_recorded(c, hook);
  EXPECT_EQ(recorded.size(), 3u);
  for (const auto& dropped : {e1, e2})
    EXPECT_EQ(std::count(recorded.begin(), recorded.end(), dropped), 0)
        << dropped;
  // The delivered event is the last one, as it came.
  auto req = rcv_.requests_to("/deb");
  for (const auto& q : req)
    if (q.header("Pulumi-Webhook-Id") == e3) {
      EXPECT_EQ(q.header("Pulumi-Webhook-Kind"), "stack_preview");
      EXPECT_EQ(json::parse(q.body)["stackName"], "prod");
    }
  EXPECT_EQ(rcv_.requests_to("/deb").size(), 3u);
}

TEST_F(plugins, webhooks_using_plugin_behaviours_are_bounded_per_org) {
  ASSERT_TRUE(
      start(std::string{HOOKD_PLUGIN_DEBOUNCE} + "," + HOOKD_PLUGIN_EXPLODE,
            {{"HOOKD_MAX_PLUGIN_HOOKS_PER_ORG", "2"}}));
  auto c = api();
  auto piped = [&](const std::string& name) {
    return active_hook(name, rcv_.url("/" + name),
                       {{"pipeline", debounce_pipeline("2s")}});
  };
  // In several scopes (and so, likely, registry shards).
  ASSERT_EQ(c.post(org_hooks, piped("a")).status, 201);
  auto r = c.post(stack_hooks, piped("b"));
  ASSERT_EQ(r.status, 201) << show(r);
  r = c.post("/api/stacks/acme/web/dev/hooks", piped("c"));
  ASSERT_TRUE(is_error(r, 409)) << show(r);
  EXPECT_NE(r.body.find("max_plugin_hooks_per_org"), std::string::npos)
      << r.body;
  // A plugin destination counts as much as a pipeline.
  r = c.post(
      org_hooks,
      active_hook("d", "",
                  {{"destination",
                    {{"name", "explode"}, {"config", {{"mode", "throw"}}}}}}));
  ASSERT_TRUE(is_error(r, 409)) << show(r);
  EXPECT_NE(r.body.find("max_plugin_hooks_per_org"), std::string::npos)
      << r.body;
  // Plain webhooks are not bounded by it.
  ASSERT_EQ(c.post(org_hooks, active_hook("plain", rcv_.url("/plain"))).status,
            201);
  ASSERT_EQ(c.post("/api/stacks/acme/web/dev/hooks",
                   active_hook("plain", rcv_.url("/plain")))
                .status,
            201);
  // Nor are other organizations.
  ASSERT_EQ(c.post("/api/orgs/beta/hooks", piped("a")).status, 201);
  // A PATCH that adds a pipeline needs room too, and changes nothing.
  auto plain = std::string{org_hooks} + "/plain";
  r = c.patch(plain, piped("plain"));
  ASSERT_TRUE(is_error(r, 409)) << show(r);
  EXPECT_NE(r.body.find("max_plugin_hooks_per_org"), std::string::npos)
      << r.body;
  EXPECT_FALSE(c.get(plain).body_json().contains("pipeline"));
  // One that keeps using them does not.
  r = c.patch(std::string{org_hooks} + "/a",
              active_hook("a", rcv_.url("/a"),
                          {{"pipeline", debounce_pipeline("3s")}}));
  ASSERT_EQ(r.status, 200) << show(r);
  // Deleting one frees a place.
  ASSERT_EQ(c.del(std::string{stack_hooks} + "/b").status, 204);
  r = c.post("/api/stacks/acme/web/dev/hooks", piped("c"));
  ASSERT_EQ(r.status, 201) << show(r);
  r = c.patch(plain, piped("plain"));
  ASSERT_TRUE(is_error(r, 409)) << show(r);
  // So does removing a pipeline.
  r = c.patch(std::string{org_hooks} + "/a",
              active_hook("a", rcv_.url("/a"), {{"pipeline", nullptr}}));
  ASSERT_EQ(r.status, 200) << show(r);
  r = c.patch(plain, piped("plain"));
  ASSERT_EQ(r.status, 200) << show(r);
  EXPECT_EQ(r.body_json()["pipeline"], debounce_pipeline("2s"));
}

TEST_F(plugins, stages_are_validated_by_their_behaviour) {
  ASSERT_TRUE(
      start(std::string{HOOKD_PLUGIN_DEBOUNCE} + "," + HOOKD_PLUGIN_EXPLODE));
  auto c = api();
  std::vector<json> bad{json{{"window", "2 parsecs"}}, json{{"window", "50ms"}},
                        json{{"window", "2h"}}, json{{"window", 2}},
                        json::object()};
  for (const auto& cfg : bad) {
    auto r
        = c.post(org_hooks,
                 active_hook("d", rcv_.url("/d"),
                             {{"pipeline", json::array({{{"name", "debounce"},
                                                         {"config", cfg}}})}}));
    ASSERT_TRUE(is_error(r, 400)) << cfg.dump() << ": " << show(r);
    EXPECT_NE(r.body.find("stage 'debounce'"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("'window'"), std::string::npos) << r.body;
  }
  auto r
      = c.post(org_hooks,
               active_hook("d", rcv_.url("/d"),
                           {{"pipeline", json::array({{{"name", "nope"}}})}}));
  ASSERT_TRUE(is_error(r, 400));
  EXPECT_NE(r.body.find("'nope'"), std::string::npos) << r.body;
  json too_many = json::array();
  for (int i = 0; i < 17; ++i)
    too_many.push_back({{"name", "explode"}});
  r = c.post(org_hooks,
             active_hook("d", rcv_.url("/d"), {{"pipeline", too_many}}));
  EXPECT_TRUE(is_error(r, 400));
  // Deployments count the hops of chains of events, which stages' events
  // would not carry.
  r = c.post(stack_hooks, active_hook("d", "web/staging",
                                      {{"pipeline", debounce_pipeline("2s")},
                                       {"format", "pulumi_deployments"}}));
  ASSERT_TRUE(is_error(r, 400)) << show(r);
  EXPECT_NE(r.body.find("'pipeline'"), std::string::npos) << r.body;
  r = c.post(stack_hooks, active_hook("d", "web/staging",
                                      {{"pipeline", json::array()},
                                       {"format", "pulumi_deployments"}}));
  ASSERT_EQ(r.status, 201) << show(r);
  EXPECT_FALSE(r.body_json().contains("pipeline"));
  // PATCH adds one, keeps it when absent, removes it with null.
  ASSERT_EQ(c.post(org_hooks, active_hook("p", rcv_.url("/p"))).status, 201);
  auto item = org_hooks + std::string{"/p"};
  r = c.patch(item, active_hook("p", rcv_.url("/p"),
                                {{"pipeline", debounce_pipeline("2s")}}));
  ASSERT_EQ(r.status, 200) << show(r);
  EXPECT_EQ(r.body_json()["pipeline"], debounce_pipeline("2s"));
  r = c.patch(item, active_hook("p", rcv_.url("/p")));
  ASSERT_EQ(r.status, 200) << show(r);
  EXPECT_EQ(r.body_json()["pipeline"], debounce_pipeline("2s"));
  r = c.patch(item, active_hook("p", rcv_.url("/p"),
                                {{"pipeline", debounce_pipeline("2 s")}}));
  EXPECT_TRUE(is_error(r, 400)) << show(r);
  r = c.patch(item, active_hook("p", rcv_.url("/p"), {{"pipeline", nullptr}}));
  ASSERT_EQ(r.status, 200) << show(r);
  EXPECT_FALSE(r.body_json().contains("pipeline"));
}

TEST_F(plugins, a_stage_past_the_bound_on_its_keys_fails_the_event) {
  ASSERT_TRUE(start(HOOKD_PLUGIN_HOARD));
  auto c = api();
  auto hook = std::string{org_hooks} + "/hoard";
  ASSERT_EQ(
      c.post(org_hooks,
             active_hook("hoard", rcv_.url("/hoard"),
                         {{"pipeline", json::array({{{"name", "hoard"}}})}}))
          .status,
      201);
  // 6000 keys fit; 12000 would not.
  auto first = post_event(c, stack_event("update_succeeded", ann()));
  ASSERT_TRUE(rcv_.wait_for_path("/hoard", 1, deadline));
  auto second = post_event(c, stack_event("update_failed", ann()));
  auto rec = wait_record(c, hook, second, finished);
  EXPECT_EQ(rec.value("status", ""), "failed");
  auto error = rec.value("error", "");
  EXPECT_NE(error.find("stage 'hoard' (pipeline[0]) failed"), std::string::npos)
      << rec.dump();
  EXPECT_NE(error.find("more than 10000 keys"), std::string::npos)
      << rec.dump();
  EXPECT_NE(error.find("stage_state_keys_max"), std::string::npos)
      << rec.dump();
  EXPECT_EQ(wait_record(c, hook, first, finished).value("status", ""),
            "succeeded");
  EXPECT_EQ(rcv_.requests_to("/hoard").size(), 1u);
  EXPECT_EQ(c.get("/healthz").status, 200);
}

// A format may choose where a delivery goes: the POST reaches its target,
// the record says so, a redelivery goes there again, and a target that is
// not an http(s) URL is a failed delivery naming the format.
TEST_F(plugins, a_format_target_is_where_the_delivery_goes) {
  ASSERT_TRUE(start(HOOKD_PLUGIN_ROUTER));
  auto c = api();
  auto hook = std::string{org_hooks} + "/routed";
  ASSERT_EQ(c.post(org_hooks, active_hook("routed", rcv_.url("/base"),
                                          {{"format", "router"}}))
                .status,
            201);
  auto id = post_event(c, stack_event("update_succeeded", ann()));
  ASSERT_TRUE(rcv_.wait_for_path("/base/stack_update", 1, deadline));
  EXPECT_TRUE(rcv_.requests_to("/base").empty());
  auto rec = wait_record(c, hook, id, finished);
  EXPECT_EQ(rec.value("status", ""), "succeeded") << rec.dump();
  EXPECT_EQ(rec.value("requestUrl", ""), rcv_.url("/base/stack_update"));
  EXPECT_EQ(c.request("POST", hook + "/deliveries/" + id + "/redeliver").status,
            200);
  EXPECT_TRUE(rcv_.wait_for_path("/base/stack_update", 2, deadline));

  auto lost = post_event(
      c, stack_event("update_failed", ann(), {{"note", "nowhere"}}));
  auto failed = wait_record(c, hook, lost, finished);
  EXPECT_EQ(failed.value("status", ""), "failed");
  EXPECT_EQ(failed.value("attempts", -1), 0) << failed.dump();
  EXPECT_NE(failed.value("error", "").find("format 'router' gave a target"),
            std::string::npos)
      << failed.dump();
  EXPECT_EQ(rcv_.count(), 2u);
}

TEST_F(plugins, a_throwing_stage_fails_its_event_and_the_node_goes_on) {
  ASSERT_TRUE(start(HOOKD_PLUGIN_EXPLODE));
  auto c = api();
  auto hook = std::string{org_hooks} + "/boom";
  ASSERT_EQ(
      c.post(org_hooks,
             active_hook("boom", rcv_.url("/boom"),
                         {{"pipeline", json::array({{{"name", "explode"}}})}}))
          .status,
      201);
  ASSERT_EQ(c.post(org_hooks, active_hook("calm", rcv_.url("/calm"))).status,
            201);
  auto bad = post_event(
      c, stack_event("update_failed", ann(), {{"message", "boom"}}));
  auto good = post_event(c, stack_event("update_succeeded", ann()));
  ASSERT_TRUE(rcv_.wait_for_path("/calm", 2, deadline));
  ASSERT_TRUE(rcv_.wait_for_path("/boom", 1, deadline));
  EXPECT_EQ(rcv_.requests_to("/boom").front().header("Pulumi-Webhook-Id"),
            good);
  auto rec = wait_record(c, hook, bad, finished);
  EXPECT_EQ(rec.value("status", ""), "failed");
  EXPECT_NE(
      rec.value("error", "").find("stage 'explode' (pipeline[0]) failed: boom"),
      std::string::npos)
      << rec.dump();
  // The stage is made again: later events pass.
  auto later = post_event(c, stack_event("update_succeeded", ann()));
  ASSERT_TRUE(rcv_.wait_for_path("/boom", 2, deadline));
  EXPECT_EQ(rcv_.requests_to("/boom").back().header("Pulumi-Webhook-Id"),
            later);
  EXPECT_EQ(c.get("/healthz").status, 200);
  // Operators see one stage failure, and no webhook actor crashed.
  auto scrape = c.get("/metrics").body;
  EXPECT_NE(scrape.find("hookd_plugin_failures_total{kind=\"stage\"} 1\n"),
            std::string::npos)
      << scrape;
  EXPECT_NE(scrape.find("hookd_webhook_actors_revived_total 0\n"),
            std::string::npos)
      << scrape;
}

class debounce_restart : public plugins,
                         public ::testing::WithParamInterface<int> {};

TEST_P(debounce_restart, a_window_open_at_a_stop_closes_after_the_restart) {
  ASSERT_TRUE(start(HOOKD_PLUGIN_DEBOUNCE));
  auto c = api();
  auto hook = std::string{org_hooks} + "/deb";
  ASSERT_EQ(
      c.post(org_hooks, active_hook("deb", rcv_.url("/deb"),
                                    {{"pipeline", debounce_pipeline("3s")}}))
          .status,
      201);
  post_event(c, stack_event_of("update_succeeded", "prod"));
  post_event(c, stack_event_of("update_failed", "prod"));
  auto last = post_event(c, stack_event_of("preview_failed", "prod"));
  // Acknowledged, so stored: stopped inside the window, by either signal.
  auto st = proc_->stop(GetParam());
  EXPECT_EQ(rcv_.requests_to("/deb").size(), 0u);
  proc_ = proc_->restart();
  ASSERT_TRUE(proc_->listening()) << proc_->start_error();
  c = api();
  ASSERT_TRUE(rcv_.wait_for_path("/deb", 1, deadline)) << st;
  EXPECT_EQ(ids_received(rcv_, "/deb"), std::vector<std::string>{last});
  // Once a later window of another stack has closed too, still one.
  auto other = post_event(c, stack_event_of("update_succeeded", "dev"));
  ASSERT_TRUE(rcv_.wait_for_path("/deb", 2, deadline));
  EXPECT_EQ(ids_received(rcv_, "/deb"),
            (std::vector<std::string>{last, other}));
  auto rec = wait_record(c, hook, last, finished);
  EXPECT_EQ(rec.value("status", ""), "succeeded");
  EXPECT_EQ(ids_recorded(c, hook).size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(signals, debounce_restart,
                         ::testing::Values(SIGTERM, SIGKILL),
                         [](const auto& info) {
                           return std::string{
                               info.param == SIGTERM ? "sigterm" : "sigkill"};
                         });

} // namespace
