// Nothing acknowledged is lost: kill -9 under load, actor crashes, graceful
// shutdown, overload, and receivers that misbehave.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.hpp"
#include "receiver.hpp"

using namespace hookd_test;

namespace {

const std::string stack_hooks = "/api/stacks/acme/web/prod/hooks";

json event_body(int n) {
  return json{{"event", "update_succeeded"},
              {"projectName", "web"},
              {"stackName", "prod"},
              {"data", {{"n", n}}}};
}

/// Retries every 500 ms for a minute: deliveries to a receiver that is down
/// stay pending for a whole test, however slow the machine, and finish soon
/// once it is up.
std::string retrying_a_minute() {
  std::string schedule = "0s";
  for (int i = 0; i < 120; ++i)
    schedule += ",500ms";
  return schedule;
}

/// Posts events to `org` until one is refused or `most` were posted: the
/// last answer, and how many were accepted.
std::pair<http_response, int>
post_until_refused(const http_client& c, const std::string& org, int most) {
  http_response last;
  int accepted = 0;
  for (int i = 0; i < most && last.status != 429; ++i) {
    last = c.post("/api/orgs/" + org + "/events", event_body(i));
    accepted += last.status == 202 ? 1 : 0;
  }
  return {last, accepted};
}

void create_hook(const http_client& c, const std::string& name,
                 const std::string& url) {
  auto r = c.post(stack_hooks, {{"name", name},
                                {"displayName", name},
                                {"payloadUrl", url},
                                {"active", true}});
  ASSERT_EQ(r.status, 201) << r.body;
}

process_options
delivering(std::vector<std::pair<std::string, std::optional<std::string>>> extra
           = {}) {
  process_options o;
  o.env = {{"HOOKD_ALLOW_PRIVATE_TARGETS", "1"}};
  for (auto& e : extra)
    o.env.push_back(e);
  return o;
}

std::set<std::string> ids_at(const receiver& r, const std::string& path) {
  std::set<std::string> out;
  for (auto& req : r.requests_to(path))
    if (auto id = req.header("Pulumi-Webhook-Id"))
      out.insert(*id);
  return out;
}

json delivery_record(const http_client& c, const std::string& hook,
                     const std::string& id) {
  auto list = c.get(stack_hooks + "/" + hook + "/deliveries").body_json();
  // While a crashed actor is revived its listing may answer 503: no
  // record yet (an empty object, which value() reads), ask again.
  if (!list.is_array())
    return json::object();
  for (auto& rec : list)
    if (rec.is_object() && rec.value("id", "") == id)
      return rec;
  return json::object();
}

long rss_kb(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string key;
  long value = 0;
  while (in >> key) {
    if (key == "VmRSS:") {
      in >> value;
      return value;
    }
    std::getline(in, key);
  }
  return -1;
}

} // namespace

TEST(reliability, every_acknowledged_event_survives_kill_9_under_load) {
  receiver rx;
  auto start = std::chrono::steady_clock::now();
  // /c fails for the first seconds, so retries are pending at the kills.
  // Successful deliveries per (path, event id): more than one is a duplicate.
  std::mutex ok_mtx;
  std::map<std::pair<std::string, std::string>, int> successes;
  rx.set_responder([&](const received_request& req, std::size_t) {
    if (req.path == "/c" && std::chrono::steady_clock::now() - start < 1500ms)
      return reply::with_status(500);
    std::lock_guard<std::mutex> guard{ok_mtx};
    ++successes[{req.path, req.header("Pulumi-Webhook-Id").value_or("")}];
    return reply::with_status(200);
  });
  auto proc = std::make_unique<hookd_process>(delivering(
      {{"HOOKD_RETRY_SCHEDULE", "0s,200ms,400ms,800ms,1s,1s,1s,1s,1s,1s"}}));
  ASSERT_TRUE(proc->listening()) << proc->start_error();
  const std::vector<std::string> hooks{"a", "b", "c"};
  for (const auto& name : hooks)
    create_hook(proc->client(), name, rx.url("/" + name));

  std::mutex mtx;
  std::set<std::string> acked;
  std::mt19937 rng{20261127};
  std::uniform_int_distribution<int> pause_ms{300, 1200};
  int n = 0;
  constexpr std::size_t kills = 5;
  for (std::size_t round = 0; round < kills; ++round) {
    std::atomic<bool> stop{false};
    auto port = proc->port();
    std::thread poster{[&, port] {
      http_client c{port};
      while (!stop) {
        json batch = json::array();
        for (int i = 0; i < 10; ++i)
          batch.push_back(event_body(n++));
        auto r = c.request("POST", "/api/orgs/acme/events", batch.dump());
        if (r.status != 202)
          continue; // no answer, or refused: nothing was promised
        auto answer = r.body_json();
        std::lock_guard<std::mutex> guard{mtx};
        for (auto& id : answer["ids"])
          acked.insert(id.get<std::string>());
      }
    }};
    std::this_thread::sleep_for(std::chrono::milliseconds{pause_ms(rng)});
    auto st = proc->stop(SIGKILL);
    stop = true;
    poster.join();
    EXPECT_EQ(st.signal, SIGKILL) << st;
    proc = proc->restart();
    ASSERT_TRUE(proc->listening()) << proc->start_error();
  }

  std::size_t owed = acked.size() * hooks.size();
  ASSERT_GT(acked.size(), 100u);
  bool complete = eventually(
      [&] {
        for (auto path : {"/a", "/b", "/c"}) {
          auto got = ids_at(rx, path);
          if (!std::includes(got.begin(), got.end(), acked.begin(),
                             acked.end()))
            return false;
        }
        return true;
      },
      60s);
  std::size_t missing = 0;
  for (auto path : {"/a", "/b", "/c"}) {
    auto got = ids_at(rx, path);
    for (auto& id : acked)
      missing += got.count(id) == 0 ? 1 : 0;
  }
  std::size_t duplicates = 0;
  {
    std::lock_guard<std::mutex> guard{ok_mtx};
    for (auto& [key, count] : successes)
      duplicates += static_cast<std::size_t>(count - 1);
  }
  std::cout << "kill -9 x5: " << acked.size() << " events acknowledged, "
            << owed << " deliveries owed, " << missing << " missing, "
            << duplicates << " duplicates ("
            << 100.0 * static_cast<double>(duplicates)
                   / static_cast<double>(owed)
            << "%)\n";
  EXPECT_TRUE(complete);
  EXPECT_EQ(missing, 0u);
  // A kill can only repeat what was unconfirmed at that moment: each
  // webhook's deliveries in flight (at most 16, README) and outcomes not
  // yet on disk (written within milliseconds), so at most twice that a
  // webhook and a kill. A restart that sent again deliveries finished
  // before it would repeat thousands. (A share of all that was owed would
  // depend on how many events the machine took between the kills.)
  constexpr std::size_t in_flight = 16;
  EXPECT_LE(duplicates, kills * hooks.size() * 2 * in_flight);
}

TEST(reliability, a_crashed_webhook_actor_resumes_its_queue) {
  testing_binary use_testing_build;
  receiver rx;
  rx.reply_on("/flaky", {reply::with_status(500), reply::with_status(500),
                         reply::with_status(200)});
  hookd_process proc{
      delivering({{"HOOKD_RETRY_SCHEDULE", "0s,400ms,400ms,400ms"}})};
  ASSERT_TRUE(proc.listening()) << proc.start_error();
  auto c = proc.client();
  create_hook(c, "flaky", rx.url("/flaky"));
  auto other = c.post("/api/orgs/acme/hooks", {{"name", "other"},
                                               {"displayName", "other"},
                                               {"payloadUrl", rx.url("/other")},
                                               {"active", true}});
  ASSERT_EQ(other.status, 201);

  auto id = c.post("/api/orgs/acme/events", event_body(1)).body_json()["id"];
  ASSERT_TRUE(rx.wait_for_path("/flaky", 1));
  // Crash it while its retry is pending.
  auto crash = c.request("POST", stack_hooks + "/flaky/crash");
  ASSERT_EQ(crash.status, 202) << crash.body;
  auto second
      = c.post("/api/orgs/acme/events", event_body(2)).body_json()["id"];

  // The org webhook never noticed; the crashed one resumed its retries.
  EXPECT_TRUE(rx.wait_for_path("/other", 2));
  ASSERT_TRUE(eventually([&] {
    return delivery_record(c, "flaky", id.get<std::string>())
               .value("status", "")
           == "succeeded";
  }));
  EXPECT_TRUE(
      eventually([&] { return ids_at(rx, "/flaky").count(second) == 1; }));
  auto rec = delivery_record(c, "flaky", id.get<std::string>());
  EXPECT_GE(rec.value("attempts", 0), 2) << rec.dump();
}

TEST(reliability, an_actor_that_never_answers_gets_its_client_a_503) {
  testing_binary use_testing_build;
  receiver rx;
  hookd_process proc{delivering({{"HOOKD_REQUEST_TIMEOUT", "500ms"}})};
  ASSERT_TRUE(proc.listening()) << proc.start_error();
  auto c = proc.client();
  create_hook(c, "stuck", rx.url("/stuck"));
  // The webhook actor takes the request and never answers, as a stuck
  // handler would: the deadline answers, in the usual error shape.
  auto started = std::chrono::steady_clock::now();
  auto r = c.request("POST", stack_hooks + "/stuck/stall");
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_TRUE(is_json_status(r, 503)) << r.body;
  EXPECT_TRUE(r.header("Retry-After").has_value());
  auto body = r.body_json();
  EXPECT_EQ(body.value("code", 0), 503);
  EXPECT_NE(body.value("message", "").find("safe to retry"), std::string::npos)
      << r.body;
  // Long before RESTinio's own timeout would have closed the connection.
  EXPECT_LT(took, 5s);
  // The rest of hookd goes on, that webhook included.
  EXPECT_TRUE(is_json_status(c.get(stack_hooks + "/stuck/deliveries"), 200));
}

TEST(reliability, the_crash_route_does_not_exist_in_the_release_build) {
  receiver rx;
  hookd_process proc{delivering()};
  auto c = proc.client();
  create_hook(c, "h", rx.url("/h"));
  EXPECT_EQ(c.request("POST", stack_hooks + "/h/crash").status, 404);
  EXPECT_EQ(c.request("POST", stack_hooks + "/h/stall").status, 404);
}

TEST(reliability, sigterm_lets_deliveries_in_flight_finish) {
  receiver rx;
  reply slow = reply::with_status(200);
  slow.delay = 1500ms;
  rx.reply_on("/slow", {slow});
  hookd_process proc{delivering()};
  auto c = proc.client();
  create_hook(c, "slow", rx.url("/slow"));
  auto id = c.post("/api/orgs/acme/events", event_body(1)).body_json()["id"];
  ASSERT_TRUE(rx.wait_for_path("/slow", 1));

  ::kill(proc.pid(), SIGTERM);
  // While it drains, new requests are refused with a hint to come back.
  auto refused = eventually(
      [&] {
        auto r = c.get(stack_hooks);
        return r.status == 503 && r.header("Retry-After").has_value();
      },
      1000ms);
  EXPECT_TRUE(refused);
  auto st = proc.stop(SIGTERM);
  EXPECT_TRUE(st.clean()) << st;

  auto again = proc.restart();
  auto rec = delivery_record(again->client(), "slow", id.get<std::string>());
  EXPECT_EQ(rec.value("status", ""), "succeeded") << rec.dump();
  EXPECT_EQ(rec.value("attempts", 0), 1);
  EXPECT_EQ(rx.requests_to("/slow").size(), 1u);
}

TEST(reliability, sigterm_past_the_deadline_keeps_the_rest_for_the_next_start) {
  receiver rx;
  reply stuck = reply::with_status(200);
  stuck.delay = 4000ms;
  rx.reply_on("/stuck", {stuck, reply::with_status(200)});
  hookd_process proc{delivering({{"HOOKD_SHUTDOWN_TIMEOUT", "300ms"}})};
  auto c = proc.client();
  create_hook(c, "stuck", rx.url("/stuck"));
  auto id = c.post("/api/orgs/acme/events", event_body(1)).body_json()["id"];
  ASSERT_TRUE(rx.wait_for_path("/stuck", 1));

  auto st = proc.stop(SIGTERM, 3000ms);
  EXPECT_TRUE(st.clean()) << st;
  EXPECT_FALSE(st.timed_out);

  auto again = proc.restart();
  ASSERT_TRUE(rx.wait_for_path("/stuck", 2));
  EXPECT_TRUE(eventually([&] {
    return delivery_record(again->client(), "stuck", id.get<std::string>())
               .value("status", "")
           == "succeeded";
  }));
}

TEST(reliability, overload_answers_429_and_recovers_by_itself) {
  receiver rx;
  std::atomic<bool> down{true};
  rx.set_responder([&](const received_request&, std::size_t) {
    return reply::with_status(down ? 503 : 200);
  });
  hookd_process proc{
      delivering({{"HOOKD_MAX_PENDING", "20"},
                  {"HOOKD_RETRY_SCHEDULE", retrying_a_minute()}})};
  auto c = proc.client();
  create_hook(c, "down", rx.url("/down"));

  auto [last, accepted] = post_until_refused(c, "acme", 100);
  ASSERT_EQ(last.status, 429) << last.body;
  EXPECT_TRUE(last.header("Retry-After").has_value());
  EXPECT_EQ(last.body_json()["code"], 429);
  EXPECT_LE(accepted, 20);

  // Refused work costs no memory: a thousand more refusals later, the
  // resident size is about what it was.
  auto before = rss_kb(proc.pid());
  int slipped = 0;
  for (int i = 0; i < 1000; ++i) {
    auto status = c.post("/api/orgs/acme/events", event_body(i)).status;
    EXPECT_TRUE(status == 429 || status == 202) << status;
    slipped += status == 202 ? 1 : 0;
  }
  auto after = rss_kb(proc.pid());
  // The bound holds: at most a handful slip through while the count moves.
  EXPECT_LE(slipped, 10);
  EXPECT_LT(after - before, 8 * 1024) << before << " kB -> " << after << " kB";

  down = false;
  EXPECT_TRUE(eventually([&] {
    return c.post("/api/orgs/acme/events", event_body(-1)).status == 202;
  }));
}

// One organization whose receiver is down fills its own share of pending
// work and gets 429s; another organization's events are still taken and
// delivered.
TEST(reliability, one_organizations_backlog_does_not_block_another) {
  receiver down_rx, up_rx;
  down_rx.set_default_reply(reply::with_status(503));
  hookd_process proc{
      delivering({{"HOOKD_MAX_PENDING", "1000"},
                  {"HOOKD_MAX_PENDING_PER_ORG", "20"},
                  {"HOOKD_RETRY_SCHEDULE", retrying_a_minute()}})};
  auto c = proc.client();
  create_hook(c, "down", down_rx.url("/down"));
  auto created
      = c.post("/api/orgs/other/hooks", {{"name", "up"},
                                         {"displayName", "up"},
                                         {"payloadUrl", up_rx.url("/up")},
                                         {"active", true}});
  ASSERT_EQ(created.status, 201) << created.body;

  // acme fills its share. A 429 may come a moment early while a fan-out
  // is counted twice: fill again until a round takes nothing.
  http_response last;
  int accepted = 0;
  EXPECT_TRUE(eventually([&] {
    auto [answer, taken] = post_until_refused(c, "acme", 200);
    last = answer;
    accepted += taken;
    return taken == 0;
  }));
  ASSERT_EQ(last.status, 429) << last.body;
  EXPECT_NE(last.body.find("organization 'acme'"), std::string::npos)
      << last.body;
  EXPECT_EQ(accepted, 20);
  // The other organization is not refused, and its deliveries go.
  for (int i = 0; i < 5; ++i) {
    auto r = c.post("/api/orgs/other/events", event_body(i));
    EXPECT_EQ(r.status, 202) << r.body;
  }
  EXPECT_TRUE(eventually([&] { return up_rx.requests_to("/up").size() == 5; }));
  // And acme is still refused.
  EXPECT_EQ(c.post("/api/orgs/acme/events", event_body(-1)).status, 429);
}

// HOOKD_MAX_PENDING bounds the node, not each partition: organizations of
// different partitions, each under its own bound, together fill the node's.
TEST(reliability, the_node_bound_holds_across_partitions) {
  receiver rx;
  rx.set_default_reply(reply::with_status(503));
  hookd_process proc{
      delivering({{"HOOKD_MAX_PENDING", "30"},
                  {"HOOKD_MAX_PENDING_PER_ORG", "20"},
                  {"HOOKD_RETRY_SCHEDULE", retrying_a_minute()}})};
  auto c = proc.client();
  // Organizations of three different partitions (of 64).
  std::vector<std::string> orgs{"acme"};
  auto partition = [](const std::string& name) {
    std::uint64_t h = 14695981039346656037ull;
    for (unsigned char ch : name) {
      h ^= ch;
      h *= 1099511628211ull;
    }
    return h % 64;
  };
  for (int i = 0; orgs.size() < 3; ++i) {
    auto org = "tenant-" + std::to_string(i);
    bool apart = true;
    for (const auto& o : orgs)
      apart = apart && partition(o) != partition(org);
    if (apart)
      orgs.push_back(org);
  }
  for (const auto& org : orgs) {
    auto created = c.post("/api/orgs/" + org + "/hooks",
                          {{"name", "down"},
                           {"displayName", "down"},
                           {"payloadUrl", rx.url("/" + org)},
                           {"active", true}});
    ASSERT_EQ(created.status, 201) << created.body;
  }
  int accepted = 0;
  http_response last;
  for (const auto& org : orgs) {
    auto [answer, taken] = post_until_refused(c, org, 40);
    accepted += taken;
    last = answer;
  }
  // 20 for the first, 10 for the second, none for the third: the node's 30.
  EXPECT_LE(accepted, 30);
  EXPECT_GE(accepted, 25);
  ASSERT_EQ(last.status, 429) << last.body;
  EXPECT_NE(last.body.find("limit 30"), std::string::npos) << last.body;
}

// The bounds hold after a request, not only before it: a batch is taken
// only if every delivery it adds fits, and one that never could is told so.
TEST(reliability, a_batch_is_taken_only_if_its_deliveries_fit) {
  receiver rx;
  rx.set_default_reply(reply::with_status(503));
  hookd_process proc{
      delivering({{"HOOKD_MAX_PENDING", "1000"},
                  {"HOOKD_MAX_PENDING_PER_ORG", "50"},
                  {"HOOKD_RETRY_SCHEDULE", retrying_a_minute()}})};
  auto c = proc.client();
  for (int i = 0; i < 10; ++i)
    create_hook(c, "down" + std::to_string(i),
                rx.url("/down" + std::to_string(i)));
  auto batch = [](int n) {
    json events = json::array();
    for (int i = 0; i < n; ++i)
      events.push_back(event_body(i));
    return events;
  };

  // 10 events to 10 webhooks: 100 deliveries, more than 50 may ever be.
  auto too_big = c.post("/api/orgs/acme/events", batch(10));
  EXPECT_EQ(too_big.status, 413) << too_big.body;
  EXPECT_NE(too_big.body.find("fewer events"), std::string::npos)
      << too_big.body;
  // 4 events: 40 deliveries fit; 4 more would make 80, and wait.
  auto taken = c.post("/api/orgs/acme/events", batch(4));
  ASSERT_EQ(taken.status, 202) << taken.body;
  auto refused = c.post("/api/orgs/acme/events", batch(4));
  EXPECT_EQ(refused.status, 429) << refused.body;
  // Single events fill what is left, and not one delivery more. (While a
  // fan-out is under way its deliveries may count twice for a moment, so
  // the room may show a little late, never early.)
  EXPECT_TRUE(eventually([&] {
    return c.post("/api/orgs/acme/events", event_body(-1)).status == 202;
  }));
  for (int i = 0; i < 20; ++i) {
    auto r = c.post("/api/orgs/acme/events", event_body(i));
    EXPECT_EQ(r.status, 429) << r.body;
  }
  // Every event taken is tried at every webhook, nothing refused is.
  EXPECT_TRUE(eventually([&] {
    for (int i = 0; i < 10; ++i)
      if (ids_at(rx, "/down" + std::to_string(i)).size() != 5)
        return false;
    return true;
  }));
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(ids_at(rx, "/down" + std::to_string(i)).size(), 5u);
}

TEST(reliability, broken_receivers_cost_only_their_own_slots) {
  receiver hanging, resetting, failing, dripping, healthy;
  reply hang = reply::with_status(200);
  hang.delay = 20s;
  hanging.set_default_reply(hang);
  reply drip = reply::with_status(200, std::string(64, 'x'));
  drip.drip = 100ms;
  dripping.set_default_reply(drip);
  resetting.set_default_reply(reply::hang_up());
  failing.set_default_reply(reply::with_status(500));
  hookd_process proc{
      delivering({{"HOOKD_DELIVERY_TIMEOUT", "10s"},
                  {"HOOKD_RETRY_SCHEDULE", "0s,50ms,50ms,50ms"}})};
  auto c = proc.client();
  create_hook(c, "hanging", hanging.url("/h"));
  create_hook(c, "resetting", resetting.url("/r"));
  create_hook(c, "failing", failing.url("/f"));
  create_hook(c, "dripping", dripping.url("/d"));
  create_hook(c, "healthy", healthy.url("/ok"));

  std::set<std::string> ids;
  for (int i = 0; i < 40; ++i)
    ids.insert(c.post("/api/orgs/acme/events", event_body(i))
                   .body_json()["id"]
                   .get<std::string>());
  // Every healthy delivery arrives while the hanging receiver still holds
  // the connections it was given, and no more than its webhook's share.
  ASSERT_TRUE(eventually([&] { return ids_at(healthy, "/ok") == ids; }, 8s));
  EXPECT_LE(hanging.connections(), 16u);
  EXPECT_GE(hanging.connections(), 1u);
  EXPECT_LE(dripping.connections(), 16u);
  EXPECT_GE(dripping.count(), 1u);
  EXPECT_GE(resetting.count(), 1u);
  EXPECT_GE(failing.count(), 1u);
}

namespace {

/// A TCP connection to 127.0.0.1:port that sends nothing; -1 if it failed.
int idle_connection(std::uint16_t port) {
  std::string error;
  return connect_loopback(port, error);
}

} // namespace

// Connections past the process's file descriptors, from a client with no
// token: hookd caps what it accepts below its limit, so the flood waits in
// the backlog, and once it is gone hookd serves as before. (An accept that
// failed with EMFILE would stop the server accepting for good.)
TEST(reliability, a_flood_of_connections_never_stops_hookd_accepting) {
  process_options opts;
  opts.open_files = 160;
  // Few partitions, so that the limit leaves room for connections at all.
  opts.env.emplace_back("HOOKD_PARTITIONS", "4");
  hookd_process proc{opts};
  ASSERT_TRUE(proc.listening()) << proc.start_error();
  EXPECT_NE(proc.stderr_text().find("serving fewer connections at once"),
            std::string::npos)
      << proc.stderr_text();
  std::vector<int> flood;
  for (int i = 0; i < 400; ++i)
    if (int fd = idle_connection(proc.port()); fd >= 0)
      flood.push_back(fd);
  ASSERT_GT(flood.size(), 160u);
  for (int fd : flood)
    ::close(fd);
  auto c = proc.client();
  EXPECT_TRUE(eventually([&] { return c.get("/healthz").status == 200; }));
  create_hook(c, "after-the-flood", "https://example.com/hook");
  EXPECT_TRUE(is_json_status(c.get(stack_hooks + "/after-the-flood"), 200));
}
