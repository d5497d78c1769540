// The node's rest-for-one supervision, in a real actor system.
//
// Not on CAF's test coordinator: the node spawns the store writer and the
// store readers detached (threads of their own) and the delivery client
// runs a transfer thread, so answers reach the scheduled actors from other
// threads, at wall-clock times the test cannot step (and the test
// coordinator's job queue is not thread-safe). The node also measures its
// crash window with std::chrono::steady_clock, not the actor clock.
//
// So this checks only what follows from causality, with no sleep and no
// timing: which components go when one dies. That the dead one and those
// after it come back is registry_test's
// the_node_revives_a_dead_component_and_those_after_it; the back-off's
// length needs wall-clock waiting and is not checked here.
#include <filesystem>
#include <map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <gtest/gtest.h>

#include "hookd/defaults.hpp"
#include "hookd/metrics.hpp"
#include "hookd/node.hpp"
#include "hookd/type_ids.hpp"

using namespace hookd;
using namespace std::chrono_literals;

namespace {

/// Only a guard against a hang: every wait below ends on a message.
constexpr auto guard = 10s;

class node_test : public testing::Test {
protected:
  void SetUp() override {
    dir_ = testing::TempDir() + "hookd-node-" + crypto::random_hex(6);
    config cfg;
    cfg.data_dir = dir_;
    cfg.admin_token = "test-admin-token-0123456789";
    cfg.max_pending = 1000;
    cfg.delivery_timeout = 2s;
    cfg.retry_schedule = {0s};
    auto setup = prepare_node(cfg);
    ASSERT_TRUE(setup) << message_of(setup.error());
    node_ = spawn_node(sys_, std::move(*setup));
  }

  void TearDown() override {
    if (node_)
      caf::anon_send_exit(node_, caf::exit_reason::user_shutdown);
    node_ = nullptr;
    sys_.await_all_actors_done();
    std::filesystem::remove_all(dir_);
  }

  registry_actor shard(std::size_t n) {
    caf::scoped_actor self{sys_};
    registry_actor result;
    self->request(node_, guard, atom::stats::value, n)
        .receive([&](registry_actor& r) { result = r; },
                 [&](caf::error& err) { ADD_FAILURE() << sys_.render(err); });
    return result;
  }

  access_actor entry() {
    caf::scoped_actor self{sys_};
    access_actor result;
    self->request(node_, guard, atom::entry::value)
        .receive([&](access_actor& a) { result = a; },
                 [&](caf::error& err) { ADD_FAILURE() << sys_.render(err); });
    return result;
  }

  /// Does a registry shard answer? It has then handled everything sent to
  /// it before.
  bool answers(const registry_actor& r) {
    caf::scoped_actor self{sys_};
    bool ok = false;
    self->request(r, guard, atom::stats::value)
        .receive([&](std::size_t, std::size_t, std::size_t) { ok = true; },
                 [&](caf::error&) {});
    return ok;
  }

  std::string dir_;
  system_config sys_cfg_;
  caf::actor_system sys_{sys_cfg_};
  node_actor node_;
};

/// hookd_component_restarts_total{component="registry"} in the scrape.
long registry_restarts() {
  auto text = metrics::render({});
  std::string series
      = "hookd_component_restarts_total{component=\"registry\"} ";
  auto at = text.find(series);
  if (at == std::string::npos)
    return 0;
  return std::stol(text.substr(at + series.size()));
}

} // namespace

TEST_F(node_test, a_dead_component_takes_only_those_spawned_after_it) {
  static_assert(defaults::registry_shards == 4, "shards 0-3 below");
  std::vector<registry_actor> before;
  for (std::size_t n = 0; n < defaults::registry_shards; ++n) {
    before.push_back(shard(n));
    ASSERT_TRUE(before.back());
    // Each one has started (and subscribed to ingest).
    ASSERT_TRUE(answers(before.back()));
  }
  auto access = entry();
  ASSERT_TRUE(access);

  caf::scoped_actor self{sys_};
  for (auto& s : before)
    self->monitor(s);
  self->monitor(access);
  auto restarts_before = registry_restarts();
  // As a bug would: shard 2 dies with an error.
  caf::anon_send_exit(before[2], caf::exit_reason::kill);

  // It goes, then the node stops what was spawned after it: shard 3 and
  // access (they hold its handle).
  std::map<caf::actor_addr, caf::error> downs;
  for (int i = 0; i < 3; ++i)
    self->receive(
        [&](caf::down_msg& dm) { downs.emplace(dm.source, dm.reason); },
        caf::after(guard) >> [&] { ADD_FAILURE() << "no down message"; });
  ASSERT_EQ(downs.size(), 3u);
  ASSERT_EQ(downs.count(before[2].address()), 1u);
  EXPECT_EQ(downs[before[2].address()], caf::exit_reason::kill);
  ASSERT_EQ(downs.count(before[3].address()), 1u);
  EXPECT_EQ(downs[before[3].address()], caf::exit_reason::user_shutdown);
  ASSERT_EQ(downs.count(access.address()), 1u);
  EXPECT_EQ(downs[access.address()], caf::exit_reason::user_shutdown);

  // The node answers after it has handled the death (so every exit it was
  // to send is sent): shards 0 and 1, spawned before the dead one, are the
  // same actors and still serve.
  EXPECT_EQ(shard(0).address(), before[0].address());
  // Operators see it: one restart of a registry shard in /metrics (shards
  // are one label value, whatever their number).
  EXPECT_EQ(registry_restarts(), restarts_before + 1);
  EXPECT_EQ(shard(1).address(), before[1].address());
  EXPECT_TRUE(answers(before[0]));
  EXPECT_TRUE(answers(before[1]));
  // And no other component of those monitored went.
  bool more = false;
  self->receive([&](caf::down_msg&) { more = true; },
                caf::after(std::chrono::seconds{0}) >> [] {});
  EXPECT_FALSE(more);
}
