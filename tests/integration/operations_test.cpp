// What an operator sees of a running hookd: the Prometheus scrape at
// /metrics and the JSON lines of its log on stderr.
#include <cmath>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "harness.hpp"
#include "receiver.hpp"

using namespace hookd_test;

namespace {

// -- A strict reader of the Prometheus text format 0.0.4 --------------------

/// One sample: its metric name, labels and value.
struct sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

/// A scrape read back, or why it is not valid text format.
struct scrape {
  std::vector<sample> samples;
  std::map<std::string, std::string> types; ///< family -> type
  std::string error;                        ///< empty when it parsed

  /// The value of the one sample named `name` whose labels include
  /// `labels`; NaN when there is none.
  double value(const std::string& name,
               const std::map<std::string, std::string>& labels = {}) const {
    for (const auto& s : samples) {
      if (s.name != name)
        continue;
      bool match = true;
      for (const auto& [k, v] : labels) {
        auto it = s.labels.find(k);
        if (it == s.labels.end() || it->second != v)
          match = false;
      }
      if (match)
        return s.value;
    }
    return std::nan("");
  }

  /// The sum over every sample named `name`.
  double sum(const std::string& name) const {
    double total = 0;
    for (const auto& s : samples)
      if (s.name == name)
        total += s.value;
    return total;
  }

  std::size_t series(const std::string& name) const {
    std::size_t n = 0;
    for (const auto& s : samples)
      n += s.name == name ? 1 : 0;
    return n;
  }
};

/// The family a sample belongs to: histogram samples carry a suffix.
std::string family_of(const std::string& name,
                      const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    std::string s{suffix};
    if (name.size() > s.size()
        && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      auto base = name.substr(0, name.size() - s.size());
      auto it = types.find(base);
      if (it != types.end() && it->second == "histogram")
        return base;
    }
  }
  return name;
}

bool parse_labels(const std::string& text,
                  std::map<std::string, std::string>& out) {
  static const std::regex name_re{"[a-zA-Z_][a-zA-Z0-9_]*"};
  std::size_t i = 0;
  while (i < text.size()) {
    auto eq = text.find('=', i);
    if (eq == std::string::npos)
      return false;
    auto key = text.substr(i, eq - i);
    if (!std::regex_match(key, name_re) || eq + 1 >= text.size()
        || text[eq + 1] != '"')
      return false;
    std::string value;
    std::size_t j = eq + 2;
    bool closed = false;
    for (; j < text.size(); ++j) {
      char c = text[j];
      if (c == '\\') {
        if (++j >= text.size())
          return false;
        char e = text[j];
        if (e == 'n')
          value += '\n';
        else if (e == '\\' || e == '"')
          value += e;
        else
          return false;
      } else if (c == '"') {
        closed = true;
        break;
      } else {
        value += c;
      }
    }
    if (!closed || !out.emplace(key, value).second)
      return false;
    i = j + 1;
    if (i < text.size()) {
      if (text[i] != ',')
        return false;
      ++i;
    }
  }
  return true;
}

bool parse_value(const std::string& text, double& out) {
  if (text == "+Inf" || text == "-Inf" || text == "NaN") {
    out = text == "NaN" ? std::nan("")
                        : (text[0] == '+' ? HUGE_VAL : -HUGE_VAL);
    return true;
  }
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return !text.empty() && *end == '\0';
}

scrape parse_scrape(const std::string& text) {
  scrape out;
  static const std::regex sample_re{
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+))"};
  static const std::regex type_re{
      R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))"};
  static const std::regex help_re{R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*)"};
  std::set<std::string> done; // families whose samples have ended
  std::string current;
  std::istringstream in{text};
  std::string line;
  std::size_t number = 0;
  auto fail = [&](const std::string& why) {
    out.error
        = "line " + std::to_string(number) + ": " + why + ": '" + line + "'";
    return out;
  };
  if (text.empty() || text.back() != '\n')
    return fail("the scrape does not end with a newline");
  while (std::getline(in, line)) {
    ++number;
    std::smatch m;
    if (line.empty())
      return fail("empty line");
    if (line[0] == '#') {
      if (std::regex_match(line, m, type_re)) {
        if (!out.types.emplace(m[1], m[2]).second)
          return fail("a second TYPE for the family");
        if (done.count(m[1]) > 0 || current == m[1].str())
          return fail("TYPE after the family's samples");
      } else if (!std::regex_match(line, m, help_re)) {
        return fail("a comment that is neither HELP nor TYPE");
      }
      continue;
    }
    if (!std::regex_match(line, m, sample_re))
      return fail("not a sample");
    sample s;
    s.name = m[1];
    if (m[2].matched && !parse_labels(m[3], s.labels))
      return fail("bad labels");
    if (!parse_value(m[4], s.value))
      return fail("bad value");
    auto family = family_of(s.name, out.types);
    if (out.types.count(family) == 0)
      return fail("a sample without a TYPE");
    if (family != current) {
      if (done.count(family) > 0)
        return fail("the family's samples are not together");
      if (!current.empty())
        done.insert(current);
      current = family;
    }
    out.samples.push_back(std::move(s));
  }
  // Histograms: cumulative buckets ending in +Inf, which equals _count.
  for (const auto& [family, type] : out.types) {
    if (type != "histogram")
      continue;
    double last = -1;
    double inf = std::nan("");
    for (const auto& s : out.samples) {
      if (s.name != family + "_bucket")
        continue;
      if (s.labels.count("le") == 0)
        return fail(family + ": a bucket without le");
      if (s.value < last)
        return fail(family + ": buckets are not cumulative");
      last = s.value;
      if (s.labels.at("le") == "+Inf")
        inf = s.value;
    }
    if (std::isnan(inf) || inf != out.value(family + "_count"))
      return fail(family + ": the +Inf bucket is not the count");
  }
  return out;
}

scrape get_scrape(const hookd_process& proc) {
  auto r = proc.client(std::nullopt).get("/metrics");
  if (r.status != 200) {
    scrape s;
    s.error = "GET /metrics: " + show(r);
    return s;
  }
  auto type = r.header("Content-Type").value_or("");
  if (type.rfind("text/plain", 0) != 0) {
    scrape s;
    s.error = "GET /metrics has Content-Type '" + type + "'";
    return s;
  }
  return parse_scrape(r.body);
}

json stack_event(int n) {
  return {{"event", "update_succeeded"},
          {"projectName", "web"},
          {"stackName", "prod"},
          {"user", {{"name", "Ann"}, {"githubLogin", "ann"}}},
          {"data", {{"n", n}}}};
}

void create_hook(const http_client& c, const std::string& org,
                 const std::string& name, const std::string& url,
                 const json& extra = json::object()) {
  auto r = c.post("/api/orgs/" + org + "/hooks", active_hook(name, url, extra));
  ASSERT_EQ(r.status, 201) << show(r);
}

void post_events(const http_client& c, const std::string& org, int n) {
  for (int i = 0; i < n; ++i) {
    auto r = c.post("/api/orgs/" + org + "/events", stack_event(i));
    ASSERT_EQ(r.status, 202) << show(r);
  }
}

/// Every label value of the scrape.
std::set<std::string> label_values(const scrape& s) {
  std::set<std::string> out;
  for (const auto& smp : s.samples)
    for (const auto& [k, v] : smp.labels)
      out.insert(v);
  return out;
}

// -- The log -----------------------------------------------------------------

/// The lines of a log, each parsed; a failure names the first line that is
/// not a JSON object with ts, level and msg.
::testing::AssertionResult read_log(const std::string& text,
                                    std::vector<json>& lines) {
  static const std::regex ts_re{R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"};
  static const std::set<std::string> levels{"debug", "info", "warn", "error"};
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line)) {
    auto j = json::parse(line, nullptr, false);
    if (!j.is_object())
      return ::testing::AssertionFailure() << "not a JSON object: " << line;
    if (!j.contains("ts") || !j["ts"].is_string()
        || !std::regex_match(j["ts"].get<std::string>(), ts_re))
      return ::testing::AssertionFailure() << "no RFC 3339 ts: " << line;
    if (!j.contains("level") || !j["level"].is_string()
        || levels.count(j["level"].get<std::string>()) == 0)
      return ::testing::AssertionFailure() << "no level: " << line;
    if (!j.contains("msg") || !j["msg"].is_string()
        || j["msg"].get<std::string>().empty())
      return ::testing::AssertionFailure() << "no msg: " << line;
    lines.push_back(std::move(j));
  }
  if (!text.empty() && text.back() != '\n')
    return ::testing::AssertionFailure() << "the last line is unfinished";
  return ::testing::AssertionSuccess();
}

/// The lines whose msg is `msg` and whose fields include `fields`.
std::vector<json> lines_with(const std::vector<json>& lines,
                             const std::string& msg,
                             const json& fields = json::object()) {
  std::vector<json> out;
  for (const auto& l : lines) {
    if (l.value("msg", "") != msg)
      continue;
    bool match = true;
    for (auto& [k, v] : fields.items())
      if (!l.contains(k) || l[k] != v)
        match = false;
    if (match)
      out.push_back(l);
  }
  return out;
}

process_options
with_env(std::vector<std::pair<std::string, std::optional<std::string>>> env) {
  process_options opts;
  opts.env = std::move(env);
  return opts;
}

} // namespace

// A scrape of a hookd that delivered, retried and failed: it parses as the
// text format, and every figure matches what the test made hookd do.
TEST(operations_metrics, a_busy_scrape_parses_and_counts_what_happened) {
  receiver rx;
  rx.reply_on("/bad", std::vector<reply>(40, reply::with_status(503)));
  hookd_process proc{with_env({{"HOOKD_ALLOW_PRIVATE_TARGETS", "1"},
                               {"HOOKD_RETRY_SCHEDULE", "0s,50ms"},
                               {"HOOKD_SLACK_URL_PREFIX", rx.url("/")}})};
  ASSERT_TRUE(proc.listening()) << proc.start_error();
  auto c = proc.client();

  auto before = get_scrape(proc);
  ASSERT_TRUE(before.error.empty()) << before.error;
  EXPECT_EQ(before.value("hookd_events_ingested_total"), 0);
  EXPECT_EQ(before.value("hookd_build_info", {{"version", "0.1.0"}}), 1);

  create_hook(c, "tenant-alpha-corp", "alpha-good-hook", rx.url("/ok"));
  create_hook(c, "tenant-alpha-corp", "alpha-failing-hook", rx.url("/bad"));
  create_hook(c, "tenant-beta-corp", "beta-slack-hook", rx.url("/slack"),
              {{"format", "slack"}});
  post_events(c, "tenant-alpha-corp", 10);
  post_events(c, "tenant-beta-corp", 5);

  // 10 delivered and 10 failed (two attempts each) in alpha, 5 in Slack's
  // format in beta.
  scrape s;
  ASSERT_TRUE(eventually([&] {
    s = get_scrape(proc);
    return s.error.empty() && s.sum("hookd_deliveries_total") == 25
           && s.value("hookd_deliveries_pending") == 0;
  })) << s.error
      << "; deliveries: " << s.sum("hookd_deliveries_total")
      << ", pending: " << s.value("hookd_deliveries_pending");

  EXPECT_EQ(s.value("hookd_events_ingested_total"), 15);
  EXPECT_EQ(s.value("hookd_http_requests_total",
                    {{"route", "ingest_events"}, {"code", "202"}}),
            15);
  EXPECT_EQ(s.value("hookd_http_requests_total",
                    {{"route", "create_hook"}, {"code", "201"}}),
            3);
  EXPECT_EQ(s.value("hookd_deliveries_total",
                    {{"format", "raw"}, {"outcome", "succeeded"}}),
            10);
  EXPECT_EQ(s.value("hookd_deliveries_total",
                    {{"format", "raw"}, {"outcome", "failed"}}),
            10);
  EXPECT_EQ(s.value("hookd_deliveries_total",
                    {{"format", "slack"}, {"outcome", "succeeded"}}),
            5);
  EXPECT_EQ(s.value("hookd_delivery_attempts_total",
                    {{"format", "raw"}, {"result", "retrying"}}),
            10);
  EXPECT_EQ(s.value("hookd_delivery_attempts_total",
                    {{"format", "raw"}, {"result", "failed"}}),
            10);
  EXPECT_EQ(s.value("hookd_delivery_retries_total", {{"format", "raw"}}), 10);
  EXPECT_EQ(s.value("hookd_delivery_duration_seconds_count"), 35);
  EXPECT_EQ(s.value("hookd_event_to_delivery_seconds_count"), 15);
  EXPECT_GT(s.value("hookd_event_to_delivery_seconds_sum"), 0);
  EXPECT_GE(s.value("hookd_webhook_actors_started_total"), 3);
  // Idle webhook actors stop; those alive are some of those started.
  EXPECT_LE(s.value("hookd_webhook_actors_alive"),
            s.value("hookd_webhook_actors_started_total"));
  EXPECT_EQ(s.value("hookd_webhook_actors_revived_total"), 0);
  EXPECT_GT(s.value("hookd_store_sst_bytes")
                + s.value("hookd_store_memtable_bytes"),
            0);
  EXPECT_GT(s.value("process_resident_memory_bytes"), 0);
  EXPECT_GT(s.value("process_open_fds"), 0);
  EXPECT_EQ(rx.requests_to("/ok").size(), 10u);

  // No organization, hook or path is ever a label value.
  auto values = label_values(s);
  for (const char* name : {"tenant-alpha-corp", "tenant-beta-corp",
                           "alpha-good-hook", "beta-slack-hook", "web", "prod"})
    EXPECT_EQ(values.count(name), 0u) << name << " is a label value";
  for (const auto& v : values)
    EXPECT_LE(v.size(), 40u) << v;
}

// Hostile requests, each with names never seen before, add no series once
// their statuses have been seen: labels are bounded whatever clients send.
TEST(operations_metrics, hostile_names_add_no_series) {
  hookd_process proc;
  ASSERT_TRUE(proc.listening()) << proc.start_error();
  auto flood = [&](const std::string& tag) {
    auto c = proc.client();
    auto anon = proc.client(std::nullopt);
    for (int i = 0; i < 60; ++i) {
      auto n = tag + std::to_string(i);
      c.get("/api/orgs/org-" + n + "/hooks/hook-" + n);
      c.get("/nowhere/" + n);
      c.request("PUT", "/api/orgs/org-" + n + "/hooks");
      c.get("/api/orgs/bad%2F" + n + "/hooks");
      anon.get("/api/orgs/org-" + n + "/hooks");
      c.as("hookd_" + n + "_nottoken").get("/api/orgs/org-" + n + "/hooks");
      c.post("/api/orgs/org-" + n + "/events", {{"event", "x-" + n}});
    }
  };
  // A scrape counts itself once answered: the first one only adds that.
  ASSERT_TRUE(get_scrape(proc).error.empty());
  flood("a");
  auto first = get_scrape(proc);
  ASSERT_TRUE(first.error.empty()) << first.error;
  flood("b");
  auto second = get_scrape(proc);
  ASSERT_TRUE(second.error.empty()) << second.error;
  EXPECT_EQ(second.series("hookd_http_requests_total"),
            first.series("hookd_http_requests_total"))
      << "new names made new series";
  EXPECT_EQ(second.samples.size(), first.samples.size())
      << "the scrape grew with the names clients sent";
  static const std::regex route_re{"[a-z_]{1,40}"};
  for (const auto& smp : second.samples) {
    if (smp.name == "hookd_http_requests_total") {
      EXPECT_TRUE(std::regex_match(smp.labels.at("route"), route_re))
          << smp.labels.at("route");
    }
  }
  // Every series of the flood: read, 404, 405, 400, 401, ingest 400.
  EXPECT_EQ(second.value("hookd_http_requests_total",
                         {{"route", "read_hook"}, {"code", "404"}}),
            120);
  EXPECT_EQ(second.value("hookd_http_requests_total",
                         {{"route", "not_found"}, {"code", "404"}}),
            120);
  EXPECT_EQ(second.value("hookd_http_requests_total",
                         {{"route", "method_not_allowed"}, {"code", "405"}}),
            120);
  EXPECT_EQ(second.value("hookd_http_requests_total",
                         {{"route", "list_hooks"}, {"code", "401"}}),
            240);
}

// A full run's log: JSON lines only; a delivery that fails for good, a
// revived webhook actor, each logged once with their fields; never the
// admin token, an org token, a webhook secret or a payload.
TEST(operations_logs, a_full_run_logs_json_lines_and_no_secret) {
  testing_binary use_testing_build;
  receiver rx;
  rx.reply_on("/down", std::vector<reply>(10, reply::with_status(503)));
  hookd_process proc{with_env({{"HOOKD_ALLOW_PRIVATE_TARGETS", "1"},
                               {"HOOKD_RETRY_SCHEDULE", "0s,50ms,50ms"},
                               {"HOOKD_LOG_LEVEL", "debug"}})};
  ASSERT_TRUE(proc.listening()) << proc.start_error();
  auto c = proc.client();
  const std::string secret = "webhook-secret-that-must-never-be-logged";
  const std::string payload_marker = "payload-marker-never-logged";
  create_hook(c, "acme", "down", rx.url("/down"), {{"secret", secret}});
  create_hook(c, "acme", "up", rx.url("/up"), {{"secret", secret}});
  auto token = c.post("/api/orgs/acme/tokens",
                      {{"name", "ci"}, {"description", "log test"}});
  ASSERT_EQ(token.status, 201) << show(token);
  auto token_value = token.body_json().value("tokenValue", "");
  ASSERT_FALSE(token_value.empty()) << show(token);
  auto org = proc.client(token_value);
  auto ev = stack_event(1);
  ev["data"]["note"] = payload_marker;
  auto posted = org.post("/api/orgs/acme/events", ev);
  ASSERT_EQ(posted.status, 202) << show(posted);
  auto id = posted.body_json().value("id", "");
  ASSERT_TRUE(eventually([&] { return rx.requests_to("/down").size() == 3; }));
  ASSERT_TRUE(eventually([&] { return rx.requests_to("/up").size() == 1; }));
  ASSERT_EQ(c.request("POST", "/api/orgs/acme/hooks/up/crash").status, 202);
  // While the actor is revived its webhook may answer 503 (safe to retry).
  EXPECT_TRUE(eventually([&] {
    return org.request("POST", "/api/orgs/acme/hooks/up/ping").status == 200;
  }));
  EXPECT_EQ(c.get("/api/orgs/acme/hooks/up/deliveries").status, 200);
  std::vector<json> lines;
  ASSERT_TRUE(eventually([&] {
    lines.clear();
    return read_log(proc.stderr_text(), lines)
           && !lines_with(lines, "delivery failed for good").empty()
           && !lines_with(lines, "webhook actor crashed; reviving it").empty();
  })) << proc.stderr_text();
  auto scraped = get_scrape(proc);
  ASSERT_TRUE(scraped.error.empty()) << scraped.error;
  EXPECT_EQ(scraped.value("hookd_webhook_actors_revived_total"), 1);
  EXPECT_EQ(scraped.value("hookd_deliveries_total",
                          {{"format", "raw"}, {"outcome", "failed"}}),
            1);
  auto st = proc.stop(SIGTERM);
  EXPECT_TRUE(st.clean()) << st;
  auto log = proc.stderr_text();
  lines.clear();
  ASSERT_TRUE(read_log(log, lines)) << log;

  auto failed = lines_with(lines, "delivery failed for good",
                           {{"org", "acme"}, {"hook", "down"}});
  ASSERT_EQ(failed.size(), 1u) << log;
  EXPECT_EQ(failed[0].value("event", ""), id);
  EXPECT_EQ(failed[0].value("status", 0), 503);
  EXPECT_EQ(failed[0].value("attempts", 0), 3);
  EXPECT_EQ(failed[0].value("level", ""), "warn");
  EXPECT_EQ(lines_with(lines, "webhook actor crashed; reviving it").size(), 1u)
      << log;
  EXPECT_EQ(lines_with(lines, "listening").size(), 1u) << log;
  EXPECT_EQ(lines_with(lines, "stopped").size(), 1u) << log;
  // At debug level every answered request is a line, without its path.
  auto answered = lines_with(lines, "request answered",
                             {{"route", "ingest_events"}, {"status", 202}});
  EXPECT_EQ(answered.size(), 1u) << log;

  for (const auto& needle : {std::string{test_admin_token}, token_value, secret,
                             payload_marker, sha256_hex(test_admin_token)})
    EXPECT_EQ(log.find(needle), std::string::npos)
        << "the log holds '" << needle << "': " << log;
}

// A delivery to a private address is refused and logged once, and counted.
TEST(operations_logs, a_refused_private_target_is_logged_once) {
  receiver rx;
  hookd_process proc{with_env({{"HOOKD_RETRY_SCHEDULE", "0s,50ms,50ms"}})};
  ASSERT_TRUE(proc.listening()) << proc.start_error();
  auto c = proc.client();
  create_hook(c, "acme", "inside", rx.url("/secret-path/token-in-url"));
  post_events(c, "acme", 1);
  std::vector<json> lines;
  ASSERT_TRUE(eventually([&] {
    lines.clear();
    return read_log(proc.stderr_text(), lines)
           && !lines_with(lines, "delivery failed for good").empty();
  })) << proc.stderr_text();
  auto s = get_scrape(proc);
  ASSERT_TRUE(s.error.empty()) << s.error;
  EXPECT_EQ(s.value("hookd_private_targets_refused_total"), 1);
  EXPECT_EQ(rx.count(), 0u);
  auto refused = lines_with(lines, "refused a delivery to a private address");
  ASSERT_EQ(refused.size(), 1u) << proc.stderr_text();
  EXPECT_NE(refused[0].value("reason", "").find("127.0.0.1"),
            std::string::npos);
  EXPECT_EQ(proc.stderr_text().find("token-in-url"), std::string::npos)
      << "a URL (which may carry a secret) was logged";
  EXPECT_EQ(lines_with(lines, "delivery failed for good").size(), 1u);
}

// HOOKD_LOG_LEVEL drops the lines below it, and a bad level stops hookd
// at start with a message naming the setting.
TEST(operations_logs, the_level_drops_lower_lines_and_a_bad_one_is_refused) {
  hookd_process quiet{with_env({{"HOOKD_LOG_LEVEL", "warn"}})};
  ASSERT_TRUE(quiet.listening()) << quiet.start_error();
  EXPECT_EQ(quiet.client().get("/api/orgs/acme/hooks").status, 200);
  auto st = quiet.stop(SIGTERM);
  EXPECT_TRUE(st.clean()) << st;
  std::vector<json> lines;
  ASSERT_TRUE(read_log(quiet.stderr_text(), lines)) << quiet.stderr_text();
  for (const auto& l : lines)
    EXPECT_TRUE(l["level"] == "warn" || l["level"] == "error") << l.dump();
  EXPECT_TRUE(lines_with(lines, "listening").empty());

  process_options bad;
  bad.wait_listening = false;
  bad.env = {{"HOOKD_LOG_LEVEL", "verbose"}};
  hookd_process refused{bad};
  auto ended = refused.wait_exit();
  EXPECT_TRUE(ended.exited && ended.code != 0) << ended;
  lines.clear();
  ASSERT_TRUE(read_log(refused.stderr_text(), lines)) << refused.stderr_text();
  ASSERT_EQ(lines.size(), 1u) << refused.stderr_text();
  EXPECT_EQ(lines[0].value("level", ""), "error");
  EXPECT_NE(lines[0].value("msg", "").find("HOOKD_LOG_LEVEL"),
            std::string::npos)
      << lines[0].dump();
}
