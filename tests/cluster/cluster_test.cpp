// Three hookd nodes and an etcd on one machine, as one service (SPEC
// section 9): any request through any node gets the answer a single node
// would give, tokens work everywhere, an event is delivered once whichever
// node took it, a lost node's organizations answer 503 within 5 s while the
// others go on, a node that comes back delivers everything it acknowledged,
// and a node that lost its lease is fenced.
//
// Everything is real: /usr/bin/etcd on free loopback ports, the hookd
// binary, a receiver in this process. Waiting is polling with a deadline;
// fixed windows only watch for what must not happen (a second copy of a
// delivered event, after a later event through the same hook arrived; a
// wrong /healthz just after readiness).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "cluster_harness.hpp"
#include "etcd_fixture.hpp"
#include "receiver.hpp"

namespace {

using namespace hookd_test;
using steady = std::chrono::steady_clock;

constexpr std::uint32_t partition_count = 16;

/// Quick retries for about 20 s: a delivery refused by the receiver stays
/// queued across a kill, a restart or a pause.
std::string retry_schedule() {
  std::string s = "0s";
  for (int i = 0; i < 40; ++i)
    s += ",500ms";
  return s;
}

std::string random_uuid() {
  static std::mt19937_64 gen{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20)
      out += '-';
    auto d = static_cast<int>(gen() % 16);
    if (i == 12)
      d = 4;
    if (i == 16)
      d = 8 + d % 4;
    out += hex[d];
  }
  return out;
}

json stack_event(const std::string& name = "update_succeeded") {
  return {
      {"event", name},
      {"projectName", "web"},
      {"stackName", "prod"},
      {"user", {{"name", "Ann"}, {"githubLogin", "ann"}, {"avatarUrl", ""}}}};
}

/// Posts one event for `org`; expects 202 {"id"} and returns the id ("" on
/// failure, recorded).
std::string post_event(const http_client& c, const std::string& org,
                       const json& ev = stack_event()) {
  auto r = c.post("/api/orgs/" + org + "/events", ev);
  EXPECT_EQ(r.status, 202) << "posting to " << org << " through port "
                           << c.port() << ": " << show(r);
  auto j = r.body_json();
  if (r.status != 202 || !j.is_object() || !j.contains("id")
      || !j["id"].is_string())
    return {};
  return j["id"].get<std::string>();
}

/// Posts one event for `org` as a client that honours Retry-After does:
/// a 503 (its partition is moving right now) is tried again, until 202 or
/// `deadline`.
std::string post_event_retrying(const http_client& c, const std::string& org,
                                std::chrono::milliseconds deadline = 10s) {
  auto until = steady::now() + deadline;
  for (;;) {
    auto r = c.post("/api/orgs/" + org + "/events", stack_event());
    auto j = r.body_json();
    if (r.status == 202 && j.is_object() && j.contains("id")
        && j["id"].is_string())
      return j["id"].get<std::string>();
    if (r.status != 503 || !r.header("Retry-After") || steady::now() >= until) {
      ADD_FAILURE() << "posting to " << org << " through port " << c.port()
                    << ": " << show(r);
      return {};
    }
    std::this_thread::sleep_for(100ms);
  }
}

/// A 503 that says when to come back.
::testing::AssertionResult is_unavailable(const http_response& r) {
  if (auto e = is_error(r, 503); !e)
    return e;
  if (!r.header("Retry-After"))
    return ::testing::AssertionFailure()
           << "503 without Retry-After; " << show(r);
  return ::testing::AssertionSuccess();
}

/// The receiver behind every webhook of these tests: the hooks of
/// organization O deliver to "/O". It answers 503 to the organizations told
/// to fail, 200 to the others, and notes the event ids it accepted.
class sink {
public:
  sink() {
    rcv_.set_responder([this](const received_request& req, std::size_t) {
      auto org = req.path.substr(1);
      auto id = req.header("Pulumi-Webhook-Id").value_or("");
      std::lock_guard<std::mutex> guard{mtx_};
      if (failing_.count(org) != 0)
        return reply::with_status(503, R"({"busy":true})");
      ++accepted_[id];
      auto r = reply::with_status(200, R"({"ok":true})");
      if (auto it = slow_.find(org); it != slow_.end())
        r.delay = it->second;
      return r;
    });
  }

  std::string url(const std::string& org) const {
    return rcv_.url("/" + org);
  }
  void fail(const std::vector<std::string>& orgs) {
    std::lock_guard<std::mutex> guard{mtx_};
    failing_.insert(orgs.begin(), orgs.end());
  }
  /// Takes `delay` to answer each delivery for `orgs` (counted as
  /// accepted as soon as it arrives).
  void slow(const std::vector<std::string>& orgs,
            std::chrono::milliseconds delay) {
    std::lock_guard<std::mutex> guard{mtx_};
    for (const auto& o : orgs)
      slow_[o] = delay;
  }
  void accept(const std::vector<std::string>& orgs) {
    std::lock_guard<std::mutex> guard{mtx_};
    for (const auto& o : orgs)
      failing_.erase(o);
  }
  /// How many deliveries of `id` were answered 200.
  std::size_t accepted(const std::string& id) const {
    std::lock_guard<std::mutex> guard{mtx_};
    auto it = accepted_.find(id);
    return it == accepted_.end() ? 0 : it->second;
  }
  /// How many requests carried `id`, answered 200 or not.
  std::size_t seen(const std::string& id) const {
    std::size_t n = 0;
    for (const auto& r : rcv_.requests())
      if (r.header("Pulumi-Webhook-Id").value_or("") == id)
        ++n;
    return n;
  }
  /// The ids of `ids` not accepted yet.
  std::vector<std::string> missing(const std::set<std::string>& ids) const {
    std::vector<std::string> out;
    for (const auto& id : ids)
      if (accepted(id) == 0)
        out.push_back(id);
    return out;
  }
  bool wait_accepted(const std::set<std::string>& ids,
                     std::chrono::milliseconds deadline) const {
    return eventually([&] { return missing(ids).empty(); }, deadline);
  }
  /// Waits until every one of `ids` has been attempted at least once.
  bool wait_seen(const std::set<std::string>& ids,
                 std::chrono::milliseconds deadline = 20s) const {
    return eventually(
        [&] {
          return std::all_of(ids.begin(), ids.end(),
                             [&](const auto& id) { return seen(id) > 0; });
        },
        deadline);
  }
  const receiver& raw() const {
    return rcv_;
  }

private:
  mutable std::mutex mtx_;
  std::set<std::string> failing_;
  std::map<std::string, std::chrono::milliseconds> slow_;
  std::map<std::string, std::size_t> accepted_;
  receiver rcv_; ///< last: stopped before the state its responder uses
};

std::string joined(const std::vector<std::string>& xs) {
  std::string out;
  for (const auto& x : xs)
    out += (out.empty() ? "" : ", ") + x;
  return out;
}

/// The wall-clock time of a log line's "ts" ("2026-01-02T03:04:05.678Z").
std::optional<std::chrono::system_clock::time_point>
log_time(const std::string& line) {
  static const std::regex ts_re{
      R"("ts":"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\.([0-9]{3})Z")"};
  std::smatch m;
  if (!std::regex_search(line, m, ts_re))
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = std::stoi(m[1]) - 1900;
  tm.tm_mon = std::stoi(m[2]) - 1;
  tm.tm_mday = std::stoi(m[3]);
  tm.tm_hour = std::stoi(m[4]);
  tm.tm_min = std::stoi(m[5]);
  tm.tm_sec = std::stoi(m[6]);
  auto secs = ::timegm(&tm);
  return std::chrono::system_clock::from_time_t(secs)
         + std::chrono::milliseconds{std::stoi(m[7])};
}

/// The lines of `text` that contain `needle`.
std::vector<std::string> lines_with(const std::string& text,
                                    const std::string& needle) {
  std::vector<std::string> out;
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line))
    if (line.find(needle) != std::string::npos)
      out.push_back(line);
  return out;
}

bool balanced_and_replicated(const test_cluster& c, std::size_t via,
                             const std::set<std::string>& members);

// -- fixture -----------------------------------------------------------------

class cluster : public ::testing::Test {
protected:
  /// Starts etcd and the nodes (HOOKD_PARTITIONS=16, lease TTL 2 s).
  void start(std::size_t nodes = 3, std::size_t expect = 0,
             env_list extra = {}) {
    cluster_options o;
    o.nodes = nodes;
    o.expect = expect;
    o.partitions = partition_count;
    o.lease_ttl = "2s";
    o.env = {{"HOOKD_RETRY_SCHEDULE", retry_schedule()}};
    for (auto& kv : extra)
      o.env.push_back(std::move(kv));
    c_ = std::make_unique<test_cluster>(std::move(o));
  }

  /// Starts three nodes and waits until every one is ready and they all
  /// agree on the owners; returns them (partition -> node).
  std::vector<std::string> start_ready(env_list extra = {}) {
    start(3, 0, std::move(extra));
    EXPECT_TRUE(c_->wait_healthy()) << "not every node became ready";
    std::vector<std::string> owners;
    bool agreed = eventually([&] {
      owners = c_->owners(0);
      if (owners.size() != partition_count
          || std::count(owners.begin(), owners.end(), "") != 0)
        return false;
      for (std::size_t i = 1; i < c_->size(); ++i)
        if (c_->owners(i) != owners)
          return false;
      return true;
    });
    EXPECT_TRUE(agreed) << "the nodes do not agree on the owners: "
                        << joined(owners);
    return owners;
  }

  /// start_ready, and then every partition with a follower in sync and
  /// the three members holding even shares.
  std::vector<std::string> start_replicated() {
    auto owners = start_ready();
    EXPECT_TRUE(eventually(
        [&] {
          return balanced_and_replicated(*c_, 0, {"n1", "n2", "n3"});
        },
        15s))
        << "the partitions never all had a follower in sync: "
        << c_->cluster_info(0).dump();
    return owners;
  }

  /// `n` organizations owned by each node, node by node.
  std::vector<std::vector<std::string>>
  orgs_per_node(const std::vector<std::string>& owners, std::size_t n) {
    std::vector<std::vector<std::string>> out;
    for (std::size_t i = 0; i < c_->size(); ++i) {
      out.push_back(c_->orgs_owned_by(owners, c_->name(i), n));
      EXPECT_EQ(out.back().size(), n) << c_->name(i) << " owns too little";
    }
    return out;
  }

  /// The organizations of `per_node` apart from node `victim`'s, and then
  /// all of them (the victim's last), each given a webhook to the sink,
  /// created through the nodes in turn.
  std::pair<std::vector<std::string>, std::vector<std::string>>
  hooks_around(const std::vector<std::vector<std::string>>& per_node,
               std::size_t victim) {
    std::vector<std::string> kept;
    for (std::size_t n = 0; n < per_node.size(); ++n)
      if (n != victim)
        kept.insert(kept.end(), per_node[n].begin(), per_node[n].end());
    std::vector<std::string> all = kept;
    all.insert(all.end(), per_node[victim].begin(), per_node[victim].end());
    for (std::size_t k = 0; k < all.size(); ++k)
      make_hook(c_->client(k % c_->size()), all[k]);
    return {kept, all};
  }

  /// Creates an org webhook `name` of `org` delivering to the sink.
  void make_hook(const http_client& via, const std::string& org,
                 const std::string& name = "h") {
    auto r = via.post("/api/orgs/" + org + "/hooks",
                      active_hook(name, sink_.url(org)));
    EXPECT_TRUE(is_json_status(r, 201))
        << "creating " << org << "/" << name << " through port " << via.port();
  }

  /// Polls GET `path` through every listed node until each answers 503
  /// with Retry-After; every answer must come within 5 s, and the 503
  /// within 5 s of `since`.
  void expect_503_within_5s(const std::vector<std::size_t>& via,
                            const std::string& path, steady::time_point since) {
    for (auto i : via) {
      http_response last;
      bool got = false;
      while (steady::now() - since < 6s) {
        auto sent = steady::now();
        last = c_->client(i).get(path);
        auto took = steady::now() - sent;
        EXPECT_LT(took, 5s)
            << path << " through " << c_->name(i) << " took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took)
                   .count()
            << " ms";
        if (last.status == 503) {
          got = true;
          break;
        }
        std::this_thread::sleep_for(20ms);
      }
      auto after = std::chrono::duration_cast<std::chrono::milliseconds>(
          steady::now() - since);
      ASSERT_TRUE(got) << path << " through " << c_->name(i)
                       << " still answers " << show(last);
      EXPECT_LE(after, 5s) << path << " through " << c_->name(i) << ": 503 "
                           << after.count() << " ms after the loss";
      EXPECT_TRUE(is_unavailable(last)) << path << " through " << c_->name(i);
    }
  }

  /// After a lost node came back (`since`): every node, polled at once,
  /// serves `orgs` again within 10 s, and answers each request within 5 s
  /// meanwhile, a 200 or a 503 with Retry-After (SPEC section 9: never a
  /// hang).
  void expect_served_again(const std::vector<std::string>& orgs,
                           steady::time_point since) {
    struct outcome {
      std::vector<std::string> problems;
      http_response last;
      steady::duration served_after{};
    };
    std::vector<std::pair<std::string, std::size_t>> probes;
    for (const auto& org : orgs)
      for (std::size_t i = 0; i < c_->size(); ++i)
        probes.emplace_back(org, i);
    std::vector<outcome> outcomes(probes.size());
    std::vector<std::thread> threads;
    for (std::size_t k = 0; k < probes.size(); ++k)
      threads.emplace_back([&, k] {
        const auto& [org, i] = probes[k];
        auto& out = outcomes[k];
        auto c = c_->client(i);
        auto where = org + " through " + c_->name(i);
        while (steady::now() - since < 15s) {
          auto sent = steady::now();
          out.last = c.get("/api/orgs/" + org + "/hooks");
          auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
              steady::now() - sent);
          if (took >= 5s)
            out.problems.push_back(where + " took "
                                   + std::to_string(took.count())
                                   + " ms: " + show(out.last));
          if (out.last.status == 200) {
            out.served_after = steady::now() - since;
            return;
          }
          if (!is_unavailable(out.last))
            out.problems.push_back(where + ": " + show(out.last));
          std::this_thread::sleep_for(20ms);
        }
        out.problems.push_back(where + " still not served: " + show(out.last));
      });
    for (auto& t : threads)
      t.join();
    for (std::size_t k = 0; k < probes.size(); ++k) {
      const auto& out = outcomes[k];
      for (const auto& p : out.problems)
        ADD_FAILURE() << p;
      if (out.last.status != 200)
        continue;
      EXPECT_LT(out.served_after, 10s)
          << probes[k].first << " through " << c_->name(probes[k].second)
          << " was served again only after "
          << std::chrono::duration_cast<std::chrono::milliseconds>(
                 out.served_after)
                 .count()
          << " ms";
    }
  }

  void TearDown() override {
    if (HasFailure() && c_) {
      std::cerr << c_->logs() << '\n';
      if (std::getenv("HOOKD_TEST_KEEP") != nullptr)
        c_->keep_files();
    }
  }

  sink sink_;
  std::unique_ptr<test_cluster> c_; ///< after sink_: the nodes stop first
};

// -- tests -------------------------------------------------------------------

// /healthz is the readiness a load balancer and these tests wait for: it
// must not say 200 while this node cannot serve, that is before placement
// and before its own partitions are claimed and running (SPEC section 9:
// "unowned is 0 once placement is done").
TEST_F(cluster, healthz_is_200_only_once_placed_and_serving) {
  start(2, 3);
  std::mutex mtx;
  std::vector<std::string> wrong;
  std::atomic<bool> done{false};
  auto poll = [&](std::uint16_t port, const std::string& name) {
    http_client c{port, std::nullopt};
    while (!done) {
      auto r = c.get("/healthz");
      std::this_thread::sleep_for(2ms);
      if (r.status != 200)
        continue;
      auto j = r.body_json();
      auto cl
          = j.is_object() ? j.value("cluster", json::object()) : json::object();
      if (cl.value("unowned", -1) != 0 || cl.value("owned", 0) < 5
          || cl.value("owned", 0) > 6 || cl.value("members", 0) != 3
          || j.value("node", "") != name) {
        std::lock_guard<std::mutex> guard{mtx};
        if (wrong.size() < 10)
          wrong.push_back(name + ": " + r.body);
      }
    }
  };
  // Two of three members: placement waits, so nobody can serve.
  for (std::size_t i = 0; i < 2; ++i) {
    auto r = c_->health(i);
    EXPECT_TRUE(is_error(r, 503)) << c_->name(i) << " before placement";
  }
  std::vector<std::thread> pollers;
  struct joiner {
    std::vector<std::thread>& threads;
    std::atomic<bool>& done;
    ~joiner() {
      done = true;
      for (auto& t : threads)
        t.join();
    }
  };
  bool ready = false;
  {
    joiner join{pollers, done};
    for (std::size_t i = 0; i < 2; ++i)
      pollers.emplace_back(poll, c_->node(i).port(), c_->name(i));
    auto third = c_->add_node();
    pollers.emplace_back(poll, c_->node(third).port(), c_->name(third));
    ready = c_->wait_healthy();
    // Readiness is for good: the answers just after it count too.
    std::this_thread::sleep_for(300ms);
  }
  EXPECT_TRUE(ready);
  EXPECT_TRUE(wrong.empty()) << "/healthz answered 200 while the node could "
                                "not serve yet, e.g.:\n"
                             << joined(wrong);
}

TEST_F(cluster, requests_through_every_node_agree) {
  auto owners = start_ready();
  ASSERT_FALSE(HasFailure());

  // The cluster's state, the same through every node.
  std::map<std::string, int> owned;
  for (const auto& o : owners)
    ++owned[o];
  ASSERT_EQ(owned.size(), 3u) << joined(owners);
  for (const auto& [name, n] : owned)
    EXPECT_TRUE(n == 16 / 3 || n == (16 + 2) / 3)
        << name << " owns " << n << " partitions";
  json first_parts;
  for (std::size_t i = 0; i < c_->size(); ++i) {
    SCOPED_TRACE("through " + c_->name(i));
    auto info = c_->cluster_info(i);
    ASSERT_TRUE(info.is_object());
    EXPECT_EQ(info.value("node", ""), c_->name(i));
    EXPECT_EQ(info.value("clustered", false), true);
    EXPECT_EQ(info.value("partitionCount", 0), 16);
    ASSERT_TRUE(info["members"].is_array()) << info.dump();
    std::set<std::string> names;
    for (const auto& m : info["members"]) {
      names.insert(m.value("name", ""));
      EXPECT_EQ(m.value("state", ""), "up") << m.dump();
      EXPECT_TRUE(m["cluster"].is_string()) << m.dump();
      auto idx = c_->index_of(m.value("name", ""));
      EXPECT_EQ(m.value("http", ""),
                "127.0.0.1:" + std::to_string(c_->node(idx).port()))
          << m.dump();
    }
    EXPECT_EQ(names, (std::set<std::string>{"n1", "n2", "n3"}));
    ASSERT_TRUE(info["partitions"].is_array());
    ASSERT_EQ(info["partitions"].size(), 16u);
    for (std::size_t p = 0; p < 16; ++p) {
      const auto& e = info["partitions"][p];
      EXPECT_EQ(e.value("partition", -1), static_cast<int>(p)) << e.dump();
      EXPECT_TRUE(e["owner"].is_string()) << e.dump();
      EXPECT_TRUE(e["followers"].is_array()) << e.dump();
      EXPECT_GT(e.value("epoch", 0), 0) << e.dump();
    }
    // Owners, epochs and placement are the same through every node; the
    // followers in sync and their lag are live figures.
    auto parts = info["partitions"];
    for (auto& e : parts) {
      e.erase("followers");
      e.erase("replication");
    }
    if (i == 0)
      first_parts = parts;
    else
      EXPECT_EQ(parts, first_parts);

    auto h = c_->health(i);
    ASSERT_TRUE(is_json_status(h, 200));
    auto hj = h.body_json();
    EXPECT_EQ(hj.value("status", ""), "ok");
    EXPECT_EQ(hj.value("node", ""), c_->name(i));
    EXPECT_EQ(hj["cluster"], (json{{"members", 3},
                                   {"partitions", 16},
                                   {"owned", owned[c_->name(i)]},
                                   {"unowned", 0}}))
        << h.body;
  }

  // Two organizations on each node, written through the other nodes.
  auto per_node = orgs_per_node(owners, 2);
  ASSERT_FALSE(HasFailure());
  std::vector<std::string> orgs;
  std::map<std::string, std::string> event_of;
  std::size_t k = 0;
  for (std::size_t n = 0; n < per_node.size(); ++n)
    for (const auto& org : per_node[n]) {
      orgs.push_back(org);
      auto other = c_->client((n + 1 + k % 2) % 3);
      auto owner = c_->client(n);
      make_hook(other, org, "a");
      make_hook(owner, org, "b");
      auto stack = c_->client((n + 2) % 3)
                       .post("/api/stacks/" + org + "/web/prod/hooks",
                             active_hook("s", sink_.url(org)));
      EXPECT_TRUE(is_json_status(stack, 201)) << org;
      auto tok = c_->client(k % 3).post("/api/orgs/" + org + "/tokens",
                                        {{"name", "ci"}, {"description", "d"}});
      EXPECT_TRUE(is_json_status(tok, 201)) << org;
      event_of[org] = post_event(other, org);
      ++k;
    }
  ASSERT_FALSE(HasFailure());

  // Every event delivered to its three hooks, and recorded as such.
  std::set<std::string> ids;
  for (const auto& [org, id] : event_of)
    ids.insert(id);
  ASSERT_TRUE(sink_.wait_accepted(ids, 20s))
      << "not delivered: " << joined(sink_.missing(ids));
  for (const auto& org : orgs) {
    for (const std::string& hook :
         {"/api/orgs/" + org + "/hooks/a", "/api/orgs/" + org + "/hooks/b",
          "/api/stacks/" + org + "/web/prod/hooks/s"}) {
      bool settled = eventually([&] {
        auto r = c_->client(0).get(hook + "/deliveries");
        auto j = r.body_json();
        return r.status == 200 && j.is_array() && j.size() == 1
               && j[0].value("status", "") == "succeeded"
               && j[0].value("id", "") == event_of[org];
      });
      EXPECT_TRUE(settled) << hook << ": "
                           << show(c_->client(0).get(hook + "/deliveries"));
    }
  }

  // Any node answers as any other, byte for byte.
  std::vector<std::string> paths{"/api/user"};
  for (const auto& org : orgs)
    for (const std::string& suffix :
         {"/api/orgs/" + org + "/hooks", "/api/orgs/" + org + "/hooks/a",
          "/api/orgs/" + org + "/hooks/a/deliveries",
          "/api/orgs/" + org + "/hooks/b/deliveries",
          "/api/stacks/" + org + "/web/prod/hooks",
          "/api/stacks/" + org + "/web/prod/hooks/s",
          "/api/stacks/" + org + "/web/prod/hooks/s/deliveries",
          "/api/orgs/" + org + "/tokens", "/api/orgs/" + org + "/hooks/nope"})
      paths.push_back(suffix);
  // Organizations with nothing yet, one per node.
  for (const auto& quiet : orgs_per_node(owners, 3))
    paths.push_back("/api/orgs/" + quiet.back() + "/hooks");
  for (const auto& path : paths) {
    auto r0 = c_->client(0).get(path);
    bool missing = path.find("/nope") != std::string::npos;
    EXPECT_EQ(r0.status, missing ? 404 : 200) << path << ": " << show(r0);
    for (std::size_t i = 1; i < c_->size(); ++i) {
      auto r = c_->client(i).get(path);
      EXPECT_EQ(r.status, r0.status) << path << " through " << c_->name(i);
      EXPECT_EQ(r.body, r0.body) << path << " through " << c_->name(i);
      EXPECT_EQ(r.header("Content-Type"), r0.header("Content-Type")) << path;
    }
  }

  // Writes and their refusals too: the same request through each node
  // gets the same answer.
  for (std::size_t n = 0; n < per_node.size(); ++n) {
    const auto& org = per_node[n][0];
    const auto hooks = "/api/orgs/" + org + "/hooks";
    const std::vector<std::pair<std::string, std::string>> refused{
        {"POST", active_hook("a", sink_.url(org)).dump()},  // exists: 409
        {"POST", R"({"name":"x","displayName":)"},          // malformed: 400
        {"POST", active_hook("x", "ftp://nowhere").dump()}, // bad URL: 400
        {"PATCH", R"({"active":"yes"})"}};
    for (const auto& [method, body] : refused) {
      auto path = method == "PATCH" ? hooks + "/a" : hooks;
      auto r0 = c_->client(n).request(method, path, body);
      EXPECT_TRUE(r0.status == 400 || r0.status == 409)
          << method << " " << path << " " << body << ": " << show(r0);
      for (std::size_t i = 0; i < c_->size(); ++i) {
        auto r = c_->client(i).request(method, path, body);
        EXPECT_EQ(r.status, r0.status)
            << method << " " << body << " through " << c_->name(i);
        EXPECT_EQ(r.body, r0.body)
            << method << " " << body << " through " << c_->name(i);
      }
    }
    // A change and a deletion through a node that does not own the
    // organization, seen at once through every node.
    auto changed = active_hook("b", sink_.url(org), {{"displayName", "B2"}});
    auto patched = c_->client((n + 1) % 3).patch(hooks + "/b", changed);
    EXPECT_TRUE(is_json_status(patched, 200)) << org;
    for (std::size_t i = 0; i < c_->size(); ++i) {
      auto r = c_->client(i).get(hooks + "/b");
      EXPECT_EQ(r.body, patched.body) << "through " << c_->name(i);
    }
    auto gone = c_->client((n + 2) % 3).del(hooks + "/b");
    EXPECT_EQ(gone.status, 204) << show(gone);
    for (std::size_t i = 0; i < c_->size(); ++i)
      EXPECT_TRUE(is_error(c_->client(i).get(hooks + "/b"), 404))
          << "through " << c_->name(i);
  }
}

// Users cannot tell a cluster from one node: the same requests, sent to a
// single hookd and through any node of the cluster, get the same answers.
TEST_F(cluster, answers_match_a_single_node) {
  auto owners = start_ready();
  ASSERT_FALSE(HasFailure());
  process_options single_opts;
  single_opts.env = {{"HOOKD_MASTER_KEY", test_master_key},
                     {"HOOKD_ALLOW_PRIVATE_TARGETS", "1"},
                     {"HOOKD_PARTITIONS", std::to_string(partition_count)},
                     {"HOOKD_RETRY_SCHEDULE", retry_schedule()}};
  hookd_process single{single_opts};
  ASSERT_TRUE(single.listening()) << single.start_error();
  auto per_node = orgs_per_node(owners, 1);
  ASSERT_FALSE(HasFailure());

  struct step {
    std::string method;
    std::string path;
    std::string body;
  };
  std::vector<step> script{{"GET", "/api/user", ""}};
  for (std::size_t n = 0; n < per_node.size(); ++n) {
    const auto& org = per_node[n][0];
    const auto hooks = "/api/orgs/" + org + "/hooks";
    const auto stack_hooks = "/api/stacks/" + org + "/web/prod/hooks";
    auto ev = stack_event();
    ev["id"] = random_uuid();
    auto big = stack_event();
    big["data"] = {{"log", std::string(70 * 1024, 'x')}};
    auto bad_batch = json::array({stack_event(), json{{"event", "nope"}}});
    std::vector<step> steps{
        {"POST", hooks, active_hook("a", sink_.url(org)).dump()},
        {"POST", hooks, active_hook("a", sink_.url(org)).dump()},
        {"POST", hooks, R"({"name":"x",)"},
        {"POST", hooks, active_hook("x", "ftp://nowhere").dump()},
        {"GET", hooks, ""},
        {"GET", hooks + "/a", ""},
        {"GET", hooks + "/zzz", ""},
        {"PATCH", hooks + "/a",
         active_hook("a", sink_.url(org), {{"displayName", "A2"}}).dump()},
        {"POST", stack_hooks, active_hook("s", sink_.url(org)).dump()},
        {"GET", stack_hooks, ""},
        {"GET", "/api/orgs/" + org + "/scopes", ""},
        {"POST", "/api/orgs/" + org + "/events", ev.dump()},
        {"POST", "/api/orgs/" + org + "/events", ev.dump()},
        {"POST", "/api/orgs/" + org + "/events", bad_batch.dump()},
        {"POST", "/api/orgs/" + org + "/events", big.dump()},
        {"DELETE", hooks + "/a", ""},
        {"GET", hooks + "/a", ""},
        {"DELETE", hooks + "/a", ""},
        {"GET", "/api/orgs/" + org + "/tokens", ""}};
    script.insert(script.end(), steps.begin(), steps.end());
  }
  for (std::size_t k = 0; k < script.size(); ++k) {
    const auto& st = script[k];
    auto via = k % c_->size();
    auto one = single.client().request(st.method, st.path, st.body);
    auto many = c_->client(via).request(st.method, st.path, st.body);
    SCOPED_TRACE(st.method + " " + st.path + " " + st.body.substr(0, 120)
                 + " through " + c_->name(via));
    EXPECT_NE(one.status, 0) << show(one);
    EXPECT_EQ(many.status, one.status) << show(many) << " vs " << show(one);
    EXPECT_EQ(many.body, one.body);
    EXPECT_EQ(many.header("Content-Type"), one.header("Content-Type"));
  }

  // Credentials: the answers to wrong ones, and to an org token asking for
  // another organization, are the single node's.
  auto token_of = [&](const http_client& c, const std::string& org) {
    auto r = c.post("/api/orgs/" + org + "/tokens",
                    {{"name", "ci"}, {"description", "d"}});
    EXPECT_TRUE(is_json_status(r, 201)) << show(r);
    return r.body_json().value("tokenValue", "");
  };
  const auto& a = per_node[0][0];
  const auto& b = per_node[1][0];
  auto single_token = token_of(single.client(), a);
  auto cluster_token = token_of(c_->client(2), a);
  for (std::size_t i = 0; i < c_->size(); ++i)
    for (const auto& path :
         {"/api/orgs/" + b + "/hooks", "/api/orgs/" + a + "/hooks",
          std::string{"/api/user"}}) {
      SCOPED_TRACE(path + " through " + c_->name(i));
      auto one = single.client(single_token).get(path);
      auto many = c_->client(i).as(cluster_token).get(path);
      EXPECT_EQ(many.status, one.status);
      // Who a token is names the token itself: only its status compares.
      if (path != "/api/user") {
        EXPECT_EQ(many.body, one.body);
      }
      for (const std::optional<std::string>& wrong :
           {std::optional<std::string>{},
            std::optional<std::string>{"bogus"}}) {
        auto one_w = single.client(wrong).get(path);
        auto many_w = c_->client(i).as(wrong).get(path);
        EXPECT_EQ(many_w.status, one_w.status);
        EXPECT_EQ(many_w.body, one_w.body);
      }
    }
}

TEST_F(cluster, tokens_work_on_every_node) {
  auto owners = start_ready();
  ASSERT_FALSE(HasFailure());
  auto per_node = orgs_per_node(owners, 1);
  ASSERT_FALSE(HasFailure());
  std::vector<std::string> orgs;
  for (std::size_t n = 0; n < 3; ++n) {
    orgs.push_back(per_node[n][0]);
    make_hook(c_->client(n), orgs.back(), "h");
  }

  // A token of each organization, made through a node that does not own it.
  std::vector<std::string> values;
  std::vector<std::string> ids;
  for (std::size_t n = 0; n < 3; ++n) {
    auto r = c_->client((n + 1) % 3)
                 .post("/api/orgs/" + orgs[n] + "/tokens",
                       {{"name", "ci"}, {"description", "d"}});
    ASSERT_TRUE(is_json_status(r, 201)) << orgs[n];
    values.push_back(r.body_json().value("tokenValue", ""));
    ids.push_back(r.body_json().value("id", ""));
  }

  auto admin_user = c_->client(0).get("/api/user");
  ASSERT_TRUE(is_json_status(admin_user, 200));
  for (std::size_t t = 0; t < 3; ++t) {
    const auto& org = orgs[t];
    http_response user_first;
    for (std::size_t i = 0; i < 3; ++i) {
      SCOPED_TRACE("token of " + org + " through " + c_->name(i));
      auto tc = c_->client(i).as(values[t]);
      auto list = tc.get("/api/orgs/" + org + "/hooks");
      EXPECT_TRUE(is_json_status(list, 200));
      EXPECT_EQ(list.body,
                c_->client(0).get("/api/orgs/" + org + "/hooks").body);
      auto made = tc.post("/api/orgs/" + org + "/hooks",
                          active_hook("by-" + c_->name(i), sink_.url(org)));
      EXPECT_TRUE(is_json_status(made, 201));
      EXPECT_TRUE(
          is_json_status(tc.request("GET", "/api/orgs/" + org + "/hooks/h", {},
                                    {{"Authorization", "Bearer " + values[t]}}),
                         200));
      for (std::size_t u = 0; u < 3; ++u) {
        if (u == t)
          continue;
        EXPECT_TRUE(is_error(tc.get("/api/orgs/" + orgs[u] + "/hooks"), 403))
            << orgs[u];
        EXPECT_TRUE(is_error(tc.post("/api/orgs/" + orgs[u] + "/hooks",
                                     active_hook("x", sink_.url(orgs[u]))),
                             403))
            << orgs[u];
        EXPECT_TRUE(is_error(
            tc.post("/api/orgs/" + orgs[u] + "/events", stack_event()), 403))
            << orgs[u];
      }
      auto user = tc.get("/api/user");
      EXPECT_TRUE(is_json_status(user, 200));
      if (i == 0)
        user_first = user;
      else
        EXPECT_EQ(user.body, user_first.body);
      auto admin = c_->client(i).get("/api/user");
      EXPECT_EQ(admin.status, 200);
      EXPECT_EQ(admin.body, admin_user.body);
    }
  }

  // Wrong credentials: 401 on every node, whatever organization they ask.
  auto forged = values[0];
  forged.back() = forged.back() == '0' ? '1' : '0';
  std::vector<std::optional<std::string>> wrong{
      std::string{"not-a-token"}, forged,
      "hookd_" + ids[1] + "_" + std::string(48, 'a'), std::nullopt};
  // A deleted token is wrong too, at once, everywhere.
  auto del = c_->client(2).del("/api/orgs/" + orgs[2] + "/tokens/" + ids[2]);
  EXPECT_EQ(del.status, 204) << show(del);
  wrong.push_back(values[2]);
  for (std::size_t w = 0; w < wrong.size(); ++w)
    for (std::size_t i = 0; i < 3; ++i) {
      SCOPED_TRACE("wrong credential #" + std::to_string(w) + " through "
                   + c_->name(i));
      auto tc = c_->client(i).as(wrong[w]);
      for (const auto& org : orgs)
        EXPECT_TRUE(is_error(tc.get("/api/orgs/" + org + "/hooks"), 401))
            << org;
      EXPECT_TRUE(is_error(tc.get("/api/user"), 401));
    }
  // The cluster's state needs the admin token: no token or an unknown one
  // is 401 (SPEC section 7), an org token 403.
  for (std::size_t w = 0; w < wrong.size(); ++w)
    EXPECT_TRUE(
        is_error(c_->client(w % 3).as(wrong[w]).get("/api/cluster"), 401))
        << "wrong credential #" << w;
  // The org tokens are no admins.
  EXPECT_TRUE(is_error(c_->client(1).as(values[0]).get("/api/cluster"), 403));
}

TEST_F(cluster, an_event_posted_to_a_non_owner_is_delivered_once) {
  auto owners = start_ready();
  ASSERT_FALSE(HasFailure());
  auto per_node = orgs_per_node(owners, 1);
  ASSERT_FALSE(HasFailure());
  // The organization of n1, posted to through n2, reposted through n3.
  const auto org = per_node[0][0];
  make_hook(c_->client(0), org);
  ASSERT_FALSE(HasFailure());
  const auto x = random_uuid();
  auto ev = stack_event();
  ev["id"] = x;
  EXPECT_EQ(post_event(c_->client(1), org, ev), x);
  ASSERT_TRUE(sink_.wait_accepted({x}, 10s));

  auto again = c_->client(2).post("/api/orgs/" + org + "/events", ev);
  EXPECT_TRUE(is_json_status(again, 202));
  EXPECT_EQ(again.body_json().value("id", ""), x);
  auto once_more = c_->client(1).post("/api/orgs/" + org + "/events", ev);
  EXPECT_EQ(once_more.body_json().value("id", ""), x) << show(once_more);

  // Large requests and answers cross the forwarding path whole: an event
  // of 60 KiB, and a batch of 200 events whose answer lists 200 ids.
  auto big = stack_event();
  big["data"] = {{"log", std::string(60 * 1024, 'x')}};
  auto big_id = post_event(c_->client(2), org, big);
  auto too_big = stack_event();
  too_big["data"] = {{"log", std::string(70 * 1024, 'x')}};
  auto refused_here
      = c_->client(0).post("/api/orgs/" + org + "/events", too_big);
  auto refused_there
      = c_->client(1).post("/api/orgs/" + org + "/events", too_big);
  EXPECT_TRUE(is_error(refused_there, 413)) << show(refused_there);
  EXPECT_EQ(refused_there.body, refused_here.body);
  json batch = json::array();
  for (int i = 0; i < 200; ++i)
    batch.push_back(stack_event());
  auto many = c_->client(1).post("/api/orgs/" + org + "/events", batch);
  ASSERT_TRUE(is_json_status(many, 202));
  std::set<std::string> batch_ids;
  for (const auto& id : many.body_json().value("ids", json::array()))
    batch_ids.insert(id.get<std::string>());
  EXPECT_EQ(batch_ids.size(), 200u);
  batch_ids.insert(big_id);
  EXPECT_TRUE(sink_.wait_accepted(batch_ids, 20s))
      << "not delivered: " << joined(sink_.missing(batch_ids));
  for (const auto& r : sink_.raw().requests()) {
    if (r.header("Pulumi-Webhook-Id").value_or("") != big_id)
      continue;
    EXPECT_NE(r.body.find(std::string(60 * 1024, 'x')), std::string::npos);
  }

  // A later event through the same hook, then a short window: still one
  // copy of x.
  auto later = post_event(c_->client(2), org);
  ASSERT_TRUE(sink_.wait_accepted({later}, 10s));
  auto until = steady::now() + 1s;
  while (steady::now() < until) {
    ASSERT_EQ(sink_.seen(x), 1u) << x << " arrived again";
    std::this_thread::sleep_for(50ms);
  }
  for (const auto& id : batch_ids)
    EXPECT_EQ(sink_.seen(id), 1u) << id;
  for (std::size_t i = 0; i < 3; ++i) {
    auto r = c_->client(i).get("/api/orgs/" + org
                               + "/hooks/h/deliveries?limit=1000");
    ASSERT_TRUE(is_json_status(r, 200));
    std::multiset<std::string> got;
    for (const auto& rec : r.body_json())
      got.insert(rec.value("id", ""));
    std::multiset<std::string> want{x, later};
    want.insert(batch_ids.begin(), batch_ids.end());
    EXPECT_EQ(got, want) << "through " << c_->name(i);
  }
}

// With one copy of each partition (HOOKD_REPLICAS=1), a lost node's
// organizations wait for it: 503 within 5 s, never a wrong answer, and
// everything once it is back with its data.
TEST_F(cluster, kill_9_gives_503_within_5s_and_restart_delivers_everything) {
  auto owners = start_ready({{"HOOKD_REPLICAS", "1"}});
  ASSERT_FALSE(HasFailure());
  auto per_node = orgs_per_node(owners, 2);
  ASSERT_FALSE(HasFailure());
  const std::size_t victim = 1;
  const auto& lost = per_node[victim];
  const auto [kept, all] = hooks_around(per_node, victim);
  ASSERT_FALSE(HasFailure());

  // The victim's receiver refuses for now: its deliveries stay queued.
  sink_.fail(lost);
  std::set<std::string> acked;
  std::set<std::string> victims_ids;
  std::map<std::string, std::set<std::string>> ids_of;
  for (int round = 0; round < 2; ++round)
    for (const auto& org : all)
      for (std::size_t i = 0; i < 3; ++i) {
        auto id = post_event(c_->client(i), org);
        acked.insert(id);
        ids_of[org].insert(id);
        if (std::find(lost.begin(), lost.end(), org) != lost.end())
          victims_ids.insert(id);
      }
  ASSERT_FALSE(HasFailure());
  EXPECT_TRUE(sink_.wait_seen(victims_ids, 10s))
      << "the victim's events were not all attempted";
  for (const auto& id : victims_ids)
    ASSERT_EQ(sink_.accepted(id), 0u) << id;
  std::map<std::string, std::string> listing;
  for (const auto& org : all)
    listing[org] = c_->client(0).get("/api/orgs/" + org + "/hooks").body;
  // Org tokens of a lost and of a kept organization.
  std::map<std::string, std::string> token;
  for (const auto& org : {lost[0], kept[0]}) {
    auto r = c_->client(0).post("/api/orgs/" + org + "/tokens",
                                {{"name", "ci"}, {"description", "d"}});
    ASSERT_TRUE(is_json_status(r, 201));
    token[org] = r.body_json().value("tokenValue", "");
  }

  // kill -9: the others answer 503 for the victim's organizations within
  // 5 s, and go on serving their own.
  auto killed_at = steady::now();
  auto st = c_->kill(victim);
  EXPECT_EQ(st.signal, SIGKILL) << st;
  std::vector<std::size_t> live{0, 2};
  for (const auto& org : lost) {
    expect_503_within_5s(live, "/api/orgs/" + org + "/hooks", killed_at);
    for (auto i : live) {
      auto r
          = c_->client(i).post("/api/orgs/" + org + "/events", stack_event());
      EXPECT_TRUE(is_unavailable(r))
          << "an event for " << org << " through " << c_->name(i)
          << " while its owner is down";
      if (r.status == 202)
        acked.insert(r.body_json().value("id", ""));
    }
  }
  for (const auto& org : kept)
    for (auto i : live) {
      auto r = c_->client(i).get("/api/orgs/" + org + "/hooks");
      EXPECT_TRUE(is_json_status(r, 200)) << org << " through " << c_->name(i);
      EXPECT_EQ(r.body, listing[org]);
      acked.insert(post_event(c_->client(i), org));
    }
  // A little while later (the victim's lease has run out by now): still
  // 503 for its organizations, 200 for the others.
  EXPECT_TRUE(eventually(
      [&] {
        auto o = c_->owners(0);
        return o.size() == 16
               && std::count(o.begin(), o.end(), c_->name(victim)) == 0;
      },
      10s))
      << "the victim's lease did not run out";
  for (auto i : live) {
    for (const auto& org : lost)
      EXPECT_TRUE(
          is_unavailable(c_->client(i).get("/api/orgs/" + org + "/hooks")));
    for (const auto& org : kept)
      EXPECT_EQ(c_->client(i).get("/api/orgs/" + org + "/hooks").status, 200);
    // A token kept in the lost partition cannot be checked: 503, never a
    // 401 or 403; one of a kept organization works as before.
    auto lost_token = c_->client(i).as(token[lost[0]]);
    EXPECT_TRUE(
        is_unavailable(lost_token.get("/api/orgs/" + lost[0] + "/hooks")));
    EXPECT_TRUE(
        is_unavailable(lost_token.get("/api/orgs/" + kept[0] + "/hooks")));
    auto kept_token = c_->client(i).as(token[kept[0]]);
    EXPECT_TRUE(
        is_json_status(kept_token.get("/api/orgs/" + kept[0] + "/hooks"), 200));
    EXPECT_TRUE(
        is_error(kept_token.get("/api/orgs/" + kept[1] + "/hooks"), 403));
  }
  ASSERT_FALSE(HasFailure());

  // Back with its data: it serves its organizations again and delivers
  // everything acknowledged before the kill.
  sink_.accept(lost);
  auto restarted_at = steady::now();
  ASSERT_NO_THROW(c_->restart(victim));
  expect_served_again(lost, restarted_at);
  EXPECT_TRUE(c_->wait_healthy());
  for (const auto& org : all)
    for (std::size_t i = 0; i < 3; ++i) {
      auto r = c_->client(i).get("/api/orgs/" + org + "/hooks");
      EXPECT_TRUE(is_json_status(r, 200)) << org << " through " << c_->name(i);
      EXPECT_EQ(r.body, listing[org]);
    }
  for (std::size_t i = 0; i < 3; ++i) {
    auto lost_token = c_->client(i).as(token[lost[0]]);
    EXPECT_TRUE(
        is_json_status(lost_token.get("/api/orgs/" + lost[0] + "/hooks"), 200));
    EXPECT_TRUE(
        is_error(lost_token.get("/api/orgs/" + kept[0] + "/hooks"), 403));
  }
  acked.erase("");
  EXPECT_TRUE(sink_.wait_accepted(acked, 30s))
      << "acknowledged but never delivered: " << joined(sink_.missing(acked));

  // One record per event and webhook, whichever node is asked.
  for (const auto& org : lost) {
    bool settled = eventually([&] {
      auto r = c_->client(0).get("/api/orgs/" + org
                                 + "/hooks/h/deliveries?limit=1000");
      auto j = r.body_json();
      if (r.status != 200 || !j.is_array())
        return false;
      return std::all_of(j.begin(), j.end(), [](const json& rec) {
        return rec.value("status", "") == "succeeded";
      });
    });
    EXPECT_TRUE(settled) << org;
    auto r0 = c_->client(0).get("/api/orgs/" + org
                                + "/hooks/h/deliveries?limit=1000");
    std::multiset<std::string> records;
    for (const auto& rec : r0.body_json())
      records.insert(rec.value("id", ""));
    EXPECT_EQ(records, std::multiset<std::string>(ids_of[org].begin(),
                                                  ids_of[org].end()))
        << org << ": " << r0.body;
    for (std::size_t i = 1; i < 3; ++i)
      EXPECT_EQ(c_->client(i)
                    .get("/api/orgs/" + org + "/hooks/h/deliveries?limit=1000")
                    .body,
                r0.body)
          << org << " through " << c_->name(i);
  }

  // Killed again and restarted at once, while its lease still runs: it
  // takes its partitions back under new epochs and delivers what it had
  // queued.
  auto epochs = [&] {
    std::map<std::uint32_t, std::int64_t> out;
    auto info = c_->cluster_info(0);
    for (const auto& p : info.value("partitions", json::array()))
      if (p.value("owner", json()) == json(c_->name(victim)))
        out[p.value("partition", 0u)] = p.value("epoch", 0);
    return out;
  };
  auto before = epochs();
  ASSERT_FALSE(before.empty());
  sink_.fail(lost);
  std::set<std::string> queued;
  for (const auto& org : lost)
    for (auto i : live)
      queued.insert(post_event(c_->client(i), org));
  ASSERT_TRUE(sink_.wait_seen(queued));
  c_->kill(victim);
  sink_.accept(lost);
  restarted_at = steady::now();
  ASSERT_NO_THROW(c_->restart(victim));
  expect_served_again(lost, restarted_at);
  EXPECT_TRUE(c_->wait_healthy());
  EXPECT_TRUE(sink_.wait_accepted(queued, 30s))
      << "acknowledged but never delivered: " << joined(sink_.missing(queued));
  EXPECT_TRUE(eventually([&] {
    auto after = epochs();
    if (after.size() != before.size())
      return false;
    for (const auto& [p, e] : before)
      if (after.count(p) == 0 || after[p] <= e)
        return false;
    return true;
  })) << c_->cluster_info(0).dump();
}

TEST_F(cluster, a_sigstopped_node_is_fenced) {
  auto owners = start_ready({{"HOOKD_REPLICAS", "1"}});
  ASSERT_FALSE(HasFailure());
  auto per_node = orgs_per_node(owners, 2);
  ASSERT_FALSE(HasFailure());
  const std::size_t victim = 2;
  const auto victim_name = c_->name(victim);
  const auto& stopped = per_node[victim];
  const auto [kept, all] = hooks_around(per_node, victim);
  ASSERT_FALSE(HasFailure());

  sink_.fail(stopped);
  std::set<std::string> acked;
  std::set<std::string> victims_ids;
  for (const auto& org : all)
    for (std::size_t i = 0; i < 3; ++i) {
      auto id = post_event(c_->client(i), org);
      acked.insert(id);
      if (std::find(stopped.begin(), stopped.end(), org) != stopped.end())
        victims_ids.insert(id);
    }
  ASSERT_FALSE(HasFailure());
  EXPECT_TRUE(sink_.wait_seen(victims_ids, 10s))
      << "the victim's events were not all attempted";
  std::map<std::uint32_t, std::int64_t> epoch_before;
  auto info_before = c_->cluster_info(0);
  ASSERT_TRUE(info_before.is_object());
  for (const auto& p : info_before["partitions"])
    if (p.value("owner", json()).is_string()
        && p["owner"].get<std::string>() == victim_name)
      epoch_before[p.value("partition", 0u)] = p.value("epoch", 0);
  ASSERT_FALSE(epoch_before.empty());

  // Hung: the others notice through the middleman's heartbeats.
  auto stopped_at = steady::now();
  c_->pause(victim);
  std::vector<std::size_t> live{0, 1};
  for (const auto& org : stopped)
    expect_503_within_5s(live, "/api/orgs/" + org + "/hooks", stopped_at);
  for (const auto& org : kept)
    for (auto i : live) {
      EXPECT_TRUE(
          is_json_status(c_->client(i).get("/api/orgs/" + org + "/hooks"), 200))
          << org << " through " << c_->name(i);
      acked.insert(post_event(c_->client(i), org));
    }
  // Its receiver takes deliveries again while it is stopped: what it had
  // queued is now deliverable.
  sink_.accept(stopped);

  // Past its lease: its partitions have no owner.
  bool expired = eventually(
      [&] {
        auto info = c_->cluster_info(0);
        if (!info.is_object())
          return false;
        for (const auto& p : info["partitions"])
          if (epoch_before.count(p.value("partition", 0u)) != 0
              && !p["owner"].is_null())
            return false;
        return true;
      },
      10s);
  ASSERT_TRUE(expired) << c_->cluster_info(0).dump();

  auto resumed_at = steady::now();
  c_->resume(victim);
  // Events posted to it as it wakes: refused with 503 while it is fenced,
  // or acknowledged, and then delivered like every other.
  std::vector<std::pair<http_response, std::chrono::milliseconds>> woke_posts;
  std::thread poster{[&] {
    auto c = c_->client(victim);
    for (int i = 0; i < 10; ++i) {
      auto sent = steady::now();
      auto r = c.post("/api/orgs/" + stopped[i % 2] + "/events", stack_event());
      woke_posts.emplace_back(
          std::move(r), std::chrono::duration_cast<std::chrono::milliseconds>(
                            steady::now() - sent));
      std::this_thread::sleep_for(10ms);
    }
  }};
  // It takes a new lease and serves its organizations again, through
  // every node.
  expect_served_again(stopped, resumed_at);
  poster.join();
  for (const auto& [r, took] : woke_posts) {
    EXPECT_LT(took, 5s) << "posting to the waking node took " << took.count()
                        << " ms: " << show(r);
    if (r.status == 202)
      acked.insert(r.body_json().value("id", ""));
    else
      EXPECT_TRUE(is_unavailable(r)) << "posting to the waking node";
  }
  EXPECT_TRUE(c_->wait_healthy());
  auto log = c_->node(victim).stderr_text();
  EXPECT_NE(log.find("fenced"), std::string::npos)
      << "the victim's log does not say it was fenced";
  // Its partitions are its own again, under new epochs.
  auto info = c_->cluster_info(0);
  for (const auto& p : info["partitions"]) {
    auto it = epoch_before.find(p.value("partition", 0u));
    if (it == epoch_before.end())
      continue;
    EXPECT_EQ(p.value("owner", json()), json(victim_name)) << p.dump();
    EXPECT_GT(p.value("epoch", 0), it->second) << p.dump();
  }

  // Nothing acknowledged is lost.
  acked.erase("");
  EXPECT_TRUE(sink_.wait_accepted(acked, 30s))
      << "acknowledged but never delivered: " << joined(sink_.missing(acked));

  // Fenced means silent: nothing reached the receiver from the victim
  // after it woke up before it held a new lease (its log's time for it).
  auto lease_lines = lines_with(log, "holding a cluster lease");
  ASSERT_FALSE(lease_lines.empty()) << log;
  auto leased_at = log_time(lease_lines.back());
  ASSERT_TRUE(leased_at) << lease_lines.back();
  for (const auto& req : sink_.raw().requests()) {
    auto org = req.path.substr(1);
    if (req.arrived < resumed_at
        || std::find(stopped.begin(), stopped.end(), org) == stopped.end())
      continue;
    EXPECT_GE(req.arrived_wall, *leased_at - 5ms)
        << "a delivery of " << req.header("Pulumi-Webhook-Id").value_or("")
        << " arrived "
        << std::chrono::duration_cast<std::chrono::milliseconds>(
               *leased_at - req.arrived_wall)
               .count()
        << " ms before the victim held its new lease";
  }
}

// -- replication (HOOKD_REPLICAS=2, the default) -----------------------------

/// Posts events for `orgs` through the nodes `via`, in turn, from four
/// threads until stopped. Every 202 is acknowledged and its id kept; any
/// other answer must be a 503 with Retry-After, and none may take 5 s.
class event_load {
public:
  event_load(test_cluster& c, std::vector<std::string> orgs,
             std::vector<std::size_t> via)
      : c_(c), orgs_(std::move(orgs)), via_(std::move(via)) {
    for (int t = 0; t < 4; ++t)
      threads_.emplace_back([this, t] { run(t); });
  }
  ~event_load() {
    stop();
  }
  void stop() {
    running_ = false;
    for (auto& t : threads_)
      if (t.joinable())
        t.join();
  }
  std::set<std::string> acked() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return acked_;
  }
  std::size_t refused() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return refused_;
  }
  std::vector<std::string> problems() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return problems_;
  }
  /// Goes on until `more` further events are acknowledged, then stops;
  /// every problem seen is a test failure.
  void finish(std::size_t more) {
    auto now = acked().size();
    EXPECT_TRUE(eventually([&] { return acked().size() >= now + more; }, 20s))
        << "events are not acknowledged any more";
    stop();
    for (const auto& p : problems())
      ADD_FAILURE() << p;
  }
  /// The first refusals (node and body), to tell why.
  std::string refusals() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return joined(refusals_);
  }

private:
  void run(int t) {
    std::size_t k = static_cast<std::size_t>(t);
    while (running_) {
      const auto& org = orgs_[k % orgs_.size()];
      auto i = via_[(k / orgs_.size() + static_cast<std::size_t>(t))
                    % via_.size()];
      ++k;
      auto sent = steady::now();
      auto r = c_.client(i).post("/api/orgs/" + org + "/events", stack_event());
      auto took = steady::now() - sent;
      std::lock_guard<std::mutex> guard{mtx_};
      if (took >= 5s)
        problems_.push_back("posting for " + org + " through " + c_.name(i)
                            + " took 5 s or more");
      if (r.status == 202) {
        acked_.insert(r.body_json().value("id", ""));
      } else if (is_unavailable(r)) {
        if (++refused_ <= 5)
          refusals_.push_back(c_.name(i) + ": " + r.body);
      } else {
        problems_.push_back("posting for " + org + " through " + c_.name(i)
                            + ": " + show(r));
      }
    }
  }

  test_cluster& c_;
  std::vector<std::string> orgs_;
  std::vector<std::size_t> via_;
  std::atomic<bool> running_{true};
  mutable std::mutex mtx_;
  std::set<std::string> acked_;
  std::size_t refused_ = 0;
  std::vector<std::string> problems_;
  std::vector<std::string> refusals_;
  std::vector<std::thread> threads_;
};

/// Every partition's owner as node `via` sees it, with its followers in
/// sync; nothing when it does not answer.
struct copies {
  std::string owner;
  std::vector<std::string> followers;
};

std::vector<copies> partition_copies(const test_cluster& c, std::size_t via) {
  auto info = c.cluster_info(via);
  std::vector<copies> out;
  if (!info.is_object() || !info["partitions"].is_array())
    return out;
  for (const auto& p : info["partitions"]) {
    copies x;
    if (p["owner"].is_string())
      x.owner = p["owner"].get<std::string>();
    for (const auto& f : p["followers"])
      x.followers.push_back(f.get<std::string>());
    out.push_back(std::move(x));
  }
  return out;
}

/// Every partition owned by one of `members`, with a follower in sync among
/// them, and each member owning ⌊P/N⌋ or ⌈P/N⌉.
bool balanced_and_replicated(const test_cluster& c, std::size_t via,
                             const std::set<std::string>& members) {
  auto cs = partition_copies(c, via);
  if (cs.size() != c.partitions())
    return false;
  std::map<std::string, std::size_t> owned;
  for (const auto& x : cs) {
    if (members.count(x.owner) == 0 || x.followers.empty())
      return false;
    for (const auto& f : x.followers)
      if (members.count(f) == 0 || f == x.owner)
        return false;
    ++owned[x.owner];
  }
  auto floor = c.partitions() / members.size();
  auto ceil = (c.partitions() + members.size() - 1) / members.size();
  for (const auto& m : members)
    if (owned[m] < floor || owned[m] > ceil)
      return false;
  return true;
}

/// The value of an unlabelled series in node i's /metrics (-1: absent).
double metric(const test_cluster& c, std::size_t i, const std::string& name) {
  auto text = c.client(i).get("/metrics").body;
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(name + ' ', 0) == 0)
      return std::stod(line.substr(name.size() + 1));
  return -1;
}

/// Deliveries of each id beyond the first, over all ids.
double duplicate_share(const sink& s, const std::set<std::string>& ids) {
  std::size_t extra = 0;
  for (const auto& id : ids)
    if (auto n = s.accepted(id); n > 1)
      extra += n - 1;
  return ids.empty()
             ? 0.0
             : static_cast<double>(extra) / static_cast<double>(ids.size());
}

// The failover run: three nodes, each partition on two of them. An owner
// killed for good under load: its organizations are served by the others
// within two lease TTLs, every event answered 202 is delivered, and
// duplicates stay under 1%. Then a fourth node joins: partitions move to it
// with their webhooks, histories and tokens, and serving goes on.
TEST_F(cluster,
       losing_an_owner_for_good_loses_nothing_and_a_new_node_gets_its_share) {
  auto owners = start_replicated();
  ASSERT_FALSE(HasFailure());
  auto per_node = orgs_per_node(owners, 2);
  ASSERT_FALSE(HasFailure());
  const std::size_t victim = 1;
  const auto& lost = per_node[victim];
  const auto [kept, all] = hooks_around(per_node, victim);
  ASSERT_FALSE(HasFailure());
  std::map<std::string, std::string> listing;
  for (const auto& org : all)
    listing[org] = c_->client(0).get("/api/orgs/" + org + "/hooks").body;
  auto made = c_->client(0).post("/api/orgs/" + lost[0] + "/tokens",
                                 {{"name", "ci"}, {"description", "d"}});
  ASSERT_TRUE(is_json_status(made, 201));
  auto token = made.body_json().value("tokenValue", "");

  std::set<std::string> acked;
  {
    event_load load{*c_, all, {0, 2}};
    ASSERT_TRUE(eventually([&] { return load.acked().size() >= 40; }, 20s))
        << "the load did not get going";
    auto killed_at = steady::now();
    c_->kill(victim);
    // Served by the survivors within two lease TTLs (2 s each) and a
    // margin.
    for (const auto& org : lost) {
      ASSERT_TRUE(eventually(
          [&] {
            return c_->client(0).get("/api/orgs/" + org + "/hooks").status
                   == 200;
          },
          15s))
          << org << " is not served again";
      auto after = std::chrono::duration_cast<std::chrono::milliseconds>(
          steady::now() - killed_at);
      EXPECT_LE(after, 6s) << org << " was served again only after "
                           << after.count() << " ms";
    }
    // Enough events for the share of duplicates to mean something: they
    // are the deliveries in flight at the kill, a handful whatever the load.
    auto served = load.acked().size();
    ASSERT_TRUE(eventually(
        [&] {
          auto n = load.acked().size();
          return n >= served + 100 && n >= 800;
        },
        30s))
        << "events are not acknowledged after the failover";
    load.stop();
    for (const auto& p : load.problems())
      ADD_FAILURE() << p;
    acked = load.acked();
    std::cerr << "failover: " << acked.size() << " acknowledged, "
              << load.refused() << " refused with 503\n";
  }
  acked.erase("");
  EXPECT_TRUE(sink_.wait_accepted(acked, 30s))
      << "acknowledged but never delivered: " << joined(sink_.missing(acked));
  EXPECT_LT(duplicate_share(sink_, acked), 0.01);
  for (const auto& org : all)
    EXPECT_EQ(c_->client(2).get("/api/orgs/" + org + "/hooks").body,
              listing[org])
        << org;
  EXPECT_TRUE(is_json_status(
      c_->client(0).as(token).get("/api/orgs/" + lost[0] + "/hooks"), 200));
  ASSERT_TRUE(eventually(
      [&] {
        return balanced_and_replicated(*c_, 0, {"n1", "n3"});
      },
      20s))
      << "the survivors do not hold every partition twice: "
      << c_->cluster_info(0).dump();
  ASSERT_FALSE(HasFailure());

  // A fourth node joins while events keep coming.
  std::map<std::string, std::string> history;
  for (const auto& org : lost)
    history[org]
        = c_->client(0)
              .get("/api/orgs/" + org + "/hooks/h/deliveries?limit=1000")
              .body;
  std::set<std::string> during;
  std::size_t refused = 0;
  std::string refusals;
  std::size_t added = 0;
  {
    event_load load{*c_, all, {0, 2}};
    ASSERT_NO_THROW(added = c_->add_node());
    EXPECT_TRUE(eventually(
        [&] {
          return balanced_and_replicated(*c_, 0, {"n1", "n3", c_->name(added)});
        },
        30s))
        << "the partitions did not spread to the new node: "
        << c_->cluster_info(0).dump();
    load.finish(200);
    during = load.acked();
    refused = load.refused();
    refusals = load.refusals();
  }
  during.erase("");
  std::cerr << "join: " << during.size() << " acknowledged, " << refused
            << " refused with 503\n";
  EXPECT_LE(refused * 100, during.size())
      << "serving stopped while partitions moved: " << refusals;
  EXPECT_TRUE(sink_.wait_accepted(during, 30s))
      << "acknowledged but never delivered: " << joined(sink_.missing(during));
  EXPECT_TRUE(c_->wait_healthy());
  // What moved came with its webhooks, histories and tokens, whichever
  // node is asked.
  for (std::size_t i : {std::size_t{0}, std::size_t{2}, added}) {
    for (const auto& org : all)
      EXPECT_EQ(c_->client(i).get("/api/orgs/" + org + "/hooks").body,
                listing[org])
          << org << " through " << c_->name(i);
    EXPECT_TRUE(is_json_status(
        c_->client(i).as(token).get("/api/orgs/" + lost[0] + "/hooks"), 200));
  }
  for (const auto& org : lost) {
    std::set<std::string> before, after;
    for (const auto& rec : json::parse(history[org]))
      before.insert(rec.value("id", ""));
    auto now = c_->client(added).get("/api/orgs/" + org
                                     + "/hooks/h/deliveries?limit=1000");
    ASSERT_TRUE(is_json_status(now, 200));
    for (const auto& rec : now.body_json())
      after.insert(rec.value("id", ""));
    for (const auto& id : before)
      EXPECT_EQ(after.count(id), 1u)
          << org << ": delivery " << id << " is gone from the history";
  }
}

// An owner paused past its lease: the others take its partitions over; it
// delivers nothing once it wakes (its queued deliveries are its
// successors' now) and comes back as a follower.
TEST_F(cluster, a_paused_owner_is_replaced_and_rejoins_as_a_follower) {
  auto owners = start_replicated();
  ASSERT_FALSE(HasFailure());
  auto per_node = orgs_per_node(owners, 2);
  ASSERT_FALSE(HasFailure());
  const std::size_t victim = 2;
  const auto victim_name = c_->name(victim);
  const auto& stopped = per_node[victim];
  const auto [kept, all] = hooks_around(per_node, victim);
  ASSERT_FALSE(HasFailure());

  // The victim's receiver refuses: its deliveries stay queued, retried.
  sink_.fail(stopped);
  std::set<std::string> queued;
  for (const auto& org : stopped)
    for (std::size_t i = 0; i < 3; ++i)
      queued.insert(post_event(c_->client(i), org));
  ASSERT_TRUE(sink_.wait_seen(queued));

  auto paused_at = steady::now();
  c_->pause(victim);
  for (const auto& org : stopped) {
    ASSERT_TRUE(eventually(
        [&] {
          return c_->client(0).get("/api/orgs/" + org + "/hooks").status == 200;
        },
        15s))
        << org << " is not served again";
    auto after = std::chrono::duration_cast<std::chrono::milliseconds>(
        steady::now() - paused_at);
    EXPECT_LE(after, 6s) << org << " was served again only after "
                         << after.count() << " ms";
  }
  // Placement over the two live members moves some of the partitions just
  // taken over again: a post that meets one moving may get a 503 to retry.
  std::set<std::string> acked = queued;
  for (const auto& org : stopped)
    for (std::size_t i : {std::size_t{0}, std::size_t{1}})
      acked.insert(post_event_retrying(c_->client(i), org));
  // The new owners deliver what the victim had queued, once the receiver
  // takes it.
  sink_.accept(stopped);
  acked.erase("");
  ASSERT_TRUE(sink_.wait_accepted(acked, 30s))
      << "acknowledged but never delivered: " << joined(sink_.missing(acked));

  c_->resume(victim);
  // It learns it lost its lease, stops what it served, and follows.
  EXPECT_TRUE(eventually(
      [&] {
        for (const auto& x : partition_copies(*c_, 0))
          if (std::find(x.followers.begin(), x.followers.end(), victim_name)
              != x.followers.end())
            return true;
        return false;
      },
      20s))
      << victim_name
      << " never followed a partition: " << c_->cluster_info(0).dump();
  EXPECT_TRUE(eventually(
      [&] {
        return balanced_and_replicated(*c_, 0, {"n1", "n2", "n3"});
      },
      30s))
      << c_->cluster_info(0).dump();
  EXPECT_TRUE(c_->wait_healthy());
  auto log = c_->node(victim).stderr_text();
  EXPECT_NE(log.find("fenced"), std::string::npos) << log;
  // Nothing from the woken victim: every queued event was delivered once,
  // by its successor, and never again.
  for (const auto& id : acked)
    EXPECT_EQ(sink_.accepted(id), 1u) << id;
  for (const auto& org : all)
    EXPECT_EQ(c_->client(victim).get("/api/orgs/" + org + "/hooks").status, 200)
        << org;
}

// `hookd leave`: a node leaving for good hands its partitions over first,
// then stops by itself; serving goes on and nothing acknowledged is lost.
TEST_F(cluster, a_node_that_leaves_hands_everything_over_first) {
  auto owners = start_replicated();
  ASSERT_FALSE(HasFailure());
  auto per_node = orgs_per_node(owners, 2);
  ASSERT_FALSE(HasFailure());
  const std::size_t leaving = 2;
  const auto [kept, all] = hooks_around(per_node, leaving);
  ASSERT_FALSE(HasFailure());
  std::map<std::string, std::string> listing;
  for (const auto& org : all)
    listing[org] = c_->client(0).get("/api/orgs/" + org + "/hooks").body;

  std::set<std::string> acked;
  std::size_t refused = 0;
  std::string refusals;
  {
    event_load load{*c_, all, {0, 1}};
    ASSERT_TRUE(eventually([&] { return load.acked().size() >= 40; }, 20s));
    auto cmd = "HOOKD_HTTP_PORT=" + std::to_string(c_->node(leaving).port())
               + " HOOKD_ADMIN_TOKEN=" + test_admin_token + " " + hookd_binary()
               + " leave --wait 2>&1";
    std::string said;
    FILE* out = ::popen(cmd.c_str(), "r");
    ASSERT_NE(out, nullptr);
    char buf[512];
    while (std::fgets(buf, sizeof buf, out) != nullptr)
      said += buf;
    auto rc = ::pclose(out);
    EXPECT_EQ(rc, 0) << said;
    EXPECT_NE(said.find("left the cluster"), std::string::npos) << said;
    auto st = c_->node(leaving).wait_exit(10s);
    EXPECT_EQ(st.code, 0) << st;
    load.finish(40);
    acked = load.acked();
    refused = load.refused();
    refusals = load.refusals();
  }
  acked.erase("");
  EXPECT_LE(refused * 100, acked.size())
      << refused
      << " refused: serving stopped while the node left: " << refusals;
  EXPECT_TRUE(eventually(
      [&] {
        return balanced_and_replicated(*c_, 0, {"n1", "n2"});
      },
      20s))
      << c_->cluster_info(0).dump();
  EXPECT_TRUE(sink_.wait_accepted(acked, 30s))
      << "acknowledged but never delivered: " << joined(sink_.missing(acked));
  for (const auto& org : all)
    for (std::size_t i : {std::size_t{0}, std::size_t{1}})
      EXPECT_EQ(c_->client(i).get("/api/orgs/" + org + "/hooks").body,
                listing[org])
          << org << " through " << c_->name(i);
  auto log = c_->node(leaving).stderr_text();
  EXPECT_NE(log.find("handed a partition over"), std::string::npos) << log;
}

// A partition handed over while its deliveries are in flight moves once
// they have finished and their outcomes are written: its new owner does not
// deliver any of them again.
TEST_F(cluster, a_handover_lets_deliveries_in_flight_finish_first) {
  auto owners = start_replicated();
  ASSERT_FALSE(HasFailure());
  auto per_node = orgs_per_node(owners, 2);
  ASSERT_FALSE(HasFailure());
  const std::size_t leaving = 2;
  const auto& moving = per_node[leaving];
  const auto [kept, all] = hooks_around(per_node, leaving);
  ASSERT_FALSE(HasFailure());
  // Each delivery of the leaving node's organizations takes 1.5 s: the
  // first handover starts while they are all in flight.
  sink_.slow(moving, 1500ms);
  std::set<std::string> posted;
  for (const auto& org : moving)
    for (int i = 0; i < 4; ++i)
      posted.insert(post_event(c_->client(i % 2), org));
  posted.erase("");
  ASSERT_EQ(posted.size(), moving.size() * 4);
  ASSERT_TRUE(sink_.wait_seen(posted, 10s));
  auto rc = c_->client(leaving)
                .as(test_admin_token)
                .post("/api/cluster/leave", "{}");
  ASSERT_TRUE(is_json_status(rc, 202)) << rc.status << " " << rc.body;
  auto st = c_->node(leaving).wait_exit(30s);
  EXPECT_EQ(st.code, 0) << st;
  EXPECT_TRUE(eventually(
      [&] {
        return balanced_and_replicated(*c_, 0, {"n1", "n2"});
      },
      20s))
      << c_->cluster_info(0).dump();
  // Events posted after the move reach the receiver through the new owners.
  sink_.slow(moving, 0ms);
  std::set<std::string> later;
  for (const auto& org : moving)
    later.insert(post_event(c_->client(0), org));
  later.erase("");
  EXPECT_TRUE(sink_.wait_accepted(later, 20s))
      << "never delivered: " << joined(sink_.missing(later));
  // Give a wrongful redelivery of the first ones time to show: the new
  // owners' first attempts start at once.
  EXPECT_FALSE(eventually(
      [&] {
        return std::any_of(posted.begin(), posted.end(), [&](const auto& id) {
          return sink_.accepted(id) > 1;
        });
      },
      2s));
  for (const auto& id : posted)
    EXPECT_EQ(sink_.accepted(id), 1u) << id << " was delivered again";
  auto log = c_->node(leaving).stderr_text();
  EXPECT_NE(log.find("handed a partition over"), std::string::npos) << log;
  EXPECT_EQ(log.find("may be delivered again"), std::string::npos) << log;
}

// A follower that fell further behind than the owner lets it catch up from
// the log (HOOKD_REPLICATION_BACKLOG) is seeded again from a checkpoint,
// and its copy is whole: with the owner and the other follower gone, it
// serves everything.
TEST_F(cluster, a_follower_too_far_behind_is_seeded_again) {
  auto owners = start_ready(
      {{"HOOKD_REPLICAS", "3"}, {"HOOKD_REPLICATION_BACKLOG", "20"}});
  ASSERT_FALSE(HasFailure());
  auto per_node = orgs_per_node(owners, 1);
  ASSERT_FALSE(HasFailure());
  // An organization of n1's; n3 follows it, with n2.
  const auto org = per_node[0][0];
  const std::size_t laggard = 2;
  ASSERT_TRUE(eventually(
      [&] {
        auto cs = partition_copies(*c_, 0);
        if (cs.size() != partition_count)
          return false;
        const auto& x = cs[partition_of(org, partition_count)];
        return x.owner == "n1" && x.followers.size() == 2;
      },
      15s))
      << c_->cluster_info(0).dump();
  make_hook(c_->client(0), org);
  auto seeded_before
      = lines_with(c_->node(laggard).stderr_text(), "seeding it again").size();
  auto reseeds_before = metric(*c_, laggard, "hookd_partition_reseeds_total");
  EXPECT_GE(reseeds_before, 1) << "copies are seeded at the start";
  EXPECT_GT(metric(*c_, laggard, "hookd_partitions_followed"), 0);

  c_->pause(laggard);
  std::set<std::string> acked;
  for (int i = 0; i < 40; ++i)
    acked.insert(post_event(c_->client(i % 2), org));
  for (int i = 0; i < 3; ++i)
    make_hook(c_->client(0), org, "late" + std::to_string(i));
  c_->resume(laggard);
  EXPECT_TRUE(eventually(
      [&] {
        return lines_with(c_->node(laggard).stderr_text(), "seeding it again")
                   .size()
               > seeded_before;
      },
      20s))
      << c_->node(laggard).stderr_text();
  // In sync again, then alone with the partition.
  ASSERT_TRUE(eventually(
      [&] {
        auto cs = partition_copies(*c_, 0);
        if (cs.size() != partition_count)
          return false;
        const auto& f = cs[partition_of(org, partition_count)].followers;
        return std::find(f.begin(), f.end(), "n3") != f.end();
      },
      20s))
      << c_->cluster_info(0).dump();
  EXPECT_GT(metric(*c_, laggard, "hookd_partition_reseeds_total"),
            reseeds_before);
  EXPECT_TRUE(eventually([&] {
    return metric(*c_, 0, "hookd_followers_in_sync") > 0
           && metric(*c_, 0, "hookd_followers_out_of_sync") == 0;
  })) << c_->client(0).get("/metrics").body;
  acked.erase("");
  ASSERT_TRUE(sink_.wait_accepted(acked, 30s));
  auto hooks = c_->client(0).get("/api/orgs/" + org + "/hooks").body;
  auto history = c_->client(0).get("/api/orgs/" + org
                                   + "/hooks/h/deliveries?limit=1000");
  c_->kill(0);
  c_->kill(1);
  ASSERT_TRUE(eventually(
      [&] {
        return c_->client(laggard).get("/api/orgs/" + org + "/hooks").status
               == 200;
      },
      15s))
      << c_->node(laggard).stderr_text();
  EXPECT_EQ(c_->client(laggard).get("/api/orgs/" + org + "/hooks").body, hooks);
  std::set<std::string> before, after;
  for (const auto& rec : history.body_json())
    before.insert(rec.value("id", ""));
  for (const auto& rec :
       c_->client(laggard)
           .get("/api/orgs/" + org + "/hooks/h/deliveries?limit=1000")
           .body_json())
    after.insert(rec.value("id", ""));
  EXPECT_EQ(after, before);
}

/// A loopback port that accepts connections and never answers.
class silent_port {
public:
  silent_port() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0
        || ::listen(fd_, 64) != 0
        || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("cannot listen on loopback");
    port_ = ntohs(addr.sin_port);
  }
  ~silent_port() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  std::uint16_t port() const {
    return port_;
  }

private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

TEST_F(cluster, start_refusals) {
  start(1);
  ASSERT_TRUE(c_->wait_healthy());

  // Each refused node: its options, what it must say, and a bound on the
  // time it may take to say it.
  auto refused = [&](const std::string& what, process_options o,
                     const std::vector<std::string>& words) {
    SCOPED_TRACE(what);
    o.wait_listening = false;
    auto started = steady::now();
    hookd_process p{o};
    auto st = p.wait_exit(10s);
    auto took = steady::now() - started;
    EXPECT_TRUE(st.exited && st.code != 0) << st;
    EXPECT_FALSE(st.timed_out);
    EXPECT_LT(took, 5s);
    EXPECT_FALSE(p.listening());
    auto said = p.stderr_text() + p.stdout_text();
    for (const auto& w : words)
      EXPECT_TRUE(std::regex_search(said, std::regex{w}))
          << "the message should match '" << w << "': " << said;
  };
  auto with = [&](const std::string& name, env_list changes) {
    auto o = c_->options_for(name);
    for (auto& kv : changes)
      o.env.push_back(std::move(kv));
    return o;
  };

  refused("another partition count", with("n9", {{"HOOKD_PARTITIONS", "8"}}),
          {"HOOKD_PARTITIONS", R"((^|[^0-9])16([^0-9]|$))",
           R"((^|[^0-9])8([^0-9]|$))"});
  auto nowhere
      = "http://127.0.0.1:" + std::to_string(hookd::testing::free_port());
  refused("an etcd where nothing listens",
          with("n9", {{"HOOKD_CLUSTER_ETCD", nowhere}}),
          {"etcd", "HOOKD_CLUSTER_ETCD"});
  silent_port silent;
  refused("an etcd that never answers",
          with("n9", {{"HOOKD_CLUSTER_ETCD",
                       "http://127.0.0.1:" + std::to_string(silent.port())}}),
          {"etcd", "HOOKD_CLUSTER_ETCD"});
  refused("a cluster port on every address without TLS",
          with("n9", {{"HOOKD_CLUSTER_BIND", "0.0.0.0"}}),
          {"HOOKD_CLUSTER_BIND", "HOOKD_CLUSTER_CA", "HOOKD_CLUSTER_CERT",
           "HOOKD_CLUSTER_KEY"});

  // None of them joined: the cluster still has its one member, serving.
  auto info = c_->cluster_info(0);
  ASSERT_TRUE(info.is_object());
  EXPECT_EQ(info["members"].size(), 1u) << info.dump();
  EXPECT_EQ(c_->health(0).status, 200);
}

namespace {

/// A certificate authority of the test's own and a certificate it signed,
/// made with the openssl command in a temporary directory.
struct test_pki {
  std::string dir;
  explicit test_pki(const std::string& name) {
    char tmpl[] = "/tmp/hookd-pki-XXXXXX";
    dir = ::mkdtemp(tmpl);
    auto run = [&](const std::string& cmd) {
      auto full = "cd " + dir + " && " + cmd + " >/dev/null 2>&1";
      if (std::system(full.c_str()) != 0)
        throw std::runtime_error("openssl failed: " + cmd);
    };
    run("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out "
        "ca.pem -days 2 -subj /CN="
        + name + "-ca");
    run("openssl req -newkey rsa:2048 -nodes -keyout node.key -out node.csr "
        "-subj /CN="
        + name);
    run("openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key "
        "-CAcreateserial -out node.pem -days 2");
  }
  ~test_pki() {
    std::filesystem::remove_all(dir);
  }
  env_list env() const {
    return {{"HOOKD_CLUSTER_CA", dir + "/ca.pem"},
            {"HOOKD_CLUSTER_CERT", dir + "/node.pem"},
            {"HOOKD_CLUSTER_KEY", dir + "/node.key"}};
  }
};

} // namespace

// With the cluster's certificates, members speak mutual TLS: requests
// forwarded between them are served; a node whose certificate another CA
// signed reaches no member, and its forwarded requests get 503.
TEST_F(cluster, members_speak_mutual_tls) {
  test_pki ours{"hookd-test"};
  test_pki theirs{"stranger"};
  start(3, 0, ours.env());
  ASSERT_TRUE(c_->wait_healthy()) << c_->logs();
  auto owners = c_->owners(0);
  ASSERT_EQ(owners.size(), partition_count);
  for (std::size_t i = 0; i < 3; ++i) {
    auto orgs = c_->orgs_owned_by(owners, c_->name(i), 1);
    ASSERT_EQ(orgs.size(), 1u);
    auto path = "/api/orgs/" + orgs[0] + "/hooks";
    // Created through another node, read through a third. While the
    // members' sessions are first made a request may get 503 (safe to
    // retry), as a client would; a 503 whose write went on (it waited for a
    // follower being seeded) makes the retry a 409, and the read below
    // shows the webhook either way.
    http_response created;
    bool unavailable_before = false;
    EXPECT_TRUE(eventually([&] {
      created = c_->client((i + 1) % 3)
                    .post(path, {{"name", "h"},
                                 {"displayName", "h"},
                                 {"payloadUrl", "https://example.com/h"},
                                 {"active", true}});
      unavailable_before = unavailable_before || created.status == 503;
      return created.status != 503;
    }));
    if (!(unavailable_before && created.status == 409)) {
      ASSERT_EQ(created.status, 201) << created.body << c_->logs();
    }
    http_response read;
    EXPECT_TRUE(eventually([&] {
      read = c_->client((i + 2) % 3).get(path + "/h");
      return read.status != 503;
    }));
    EXPECT_EQ(read.status, 200) << read.body;
    if (read.status == 200) {
      EXPECT_EQ(read.body_json().value("payloadUrl", ""),
                "https://example.com/h");
    }
  }
  // A stranger with a certificate of another CA joins etcd (it has the
  // address) but no member accepts its connection.
  auto o = c_->options_for("n9");
  for (auto& kv : theirs.env())
    o.env.push_back(kv);
  hookd_process stranger{o};
  ASSERT_TRUE(stranger.listening()) << stranger.start_error();
  auto org = c_->orgs_owned_by(owners, c_->name(0), 1).at(0);
  http_response r;
  for (int i = 0; i < 20; ++i) {
    r = stranger.client().get("/api/orgs/" + org + "/hooks/h");
    if (r.status != 0)
      break;
  }
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_TRUE(r.header("Retry-After").has_value());
  // The members still serve each other (their own sessions may be cut and
  // made again while they try the stranger).
  EXPECT_TRUE(eventually([&] {
    return c_->client(1).get("/api/orgs/" + org + "/hooks/h").status == 200;
  })) << c_->logs();
}

} // namespace
