// hookd's scheduling policy (src/domain/handoff_scheduler.hpp) in a real
// actor system with hookd's configuration: a chain of actors, each waking
// the next, runs on one worker; many actors woken at once still spread over
// the workers; an actor system whose workers keep actors stops cleanly; and
// CAF's deterministic test scheduler is still there for the tests that ask
// for it.
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scheduler/coordinator.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "domain/handoff_scheduler.hpp"
#include "hookd/type_ids.hpp"

using namespace hookd;
using namespace std::chrono_literals;

namespace {

/// The threads actors ran on, in the order they ran.
struct trail {
  std::mutex lock;
  std::vector<std::thread::id> threads;

  void add() {
    std::lock_guard<std::mutex> guard{lock};
    threads.push_back(std::this_thread::get_id());
  }

  std::vector<std::thread::id> seen() {
    std::lock_guard<std::mutex> guard{lock};
    return threads;
  }
};

/// Notes its thread and passes the count on to `next`, or to `done` when
/// it is the last.
caf::behavior chain_link(caf::event_based_actor* self, std::shared_ptr<trail> t,
                         caf::actor next) {
  return {
      [=](int hops, caf::actor& done) {
        t->add();
        if (next)
          self->send(next, hops + 1, done);
        else
          self->send(done, hops + 1);
      },
  };
}

/// Works for `busy` on its thread (not asleep: the worker stays taken),
/// notes the thread and tells `done`.
caf::behavior busy_worker(caf::event_based_actor* self,
                          std::shared_ptr<trail> t,
                          std::chrono::microseconds busy) {
  return {
      [=](caf::actor& done) {
        auto until = std::chrono::steady_clock::now() + busy;
        while (std::chrono::steady_clock::now() < until) {
        }
        t->add();
        self->send(done, 1);
      },
  };
}

/// Wakes every one of `targets` with one message each.
caf::behavior hub(caf::event_based_actor* self,
                  std::vector<caf::actor> targets) {
  return {
      [=](caf::actor& done) {
        for (const auto& target : targets)
          self->send(target, done);
      },
  };
}

TEST(scheduler, a_chain_of_actors_runs_on_the_worker_it_started_on) {
  system_config cfg;
  caf::actor_system sys{cfg};
  auto t = std::make_shared<trail>();
  constexpr int links = 8;
  caf::actor next;
  std::vector<caf::actor> all;
  // Lazily started: a spawned actor's first run, were it under way on
  // another worker when the chain reaches it, would take the step there.
  for (int i = 0; i < links; ++i) {
    next = sys.spawn<caf::lazy_init>(chain_link, t, next);
    all.push_back(next);
  }
  caf::scoped_actor me{sys};
  int hops = -1;
  me->send(next, 0, caf::actor{me});
  me->receive([&](int n) { hops = n; }, caf::after(5s) >> [] {});
  ASSERT_EQ(hops, links);
  auto seen = t->seen();
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(links));
  EXPECT_NE(seen.front(), std::this_thread::get_id());
  for (const auto& id : seen)
    EXPECT_EQ(id, seen.front()) << "a step of the chain moved to another "
                                   "worker";
  for (auto& a : all)
    me->send_exit(a, caf::exit_reason::user_shutdown);
}

TEST(scheduler, many_actors_woken_at_once_spread_over_the_workers) {
  system_config cfg;
  caf::actor_system sys{cfg};
  ASSERT_GE(sys.scheduler().num_workers(), 2u);
  auto t = std::make_shared<trail>();
  constexpr int count = 64;
  std::vector<caf::actor> workers;
  for (int i = 0; i < count; ++i)
    workers.push_back(sys.spawn<caf::lazy_init>(busy_worker, t, 2000us));
  // The hub wakes them from a worker: the few that worker keeps are all it
  // runs alone.
  auto h = sys.spawn(hub, workers);
  caf::scoped_actor me{sys};
  me->send(h, caf::actor{me});
  int done = 0;
  me->receive_for(done, count)([](int) {});
  auto seen = t->seen();
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(count));
  std::set<std::thread::id> threads(seen.begin(), seen.end());
  EXPECT_GE(threads.size(), 2u) << "every woken actor ran on one worker";
  for (auto& w : workers)
    me->send_exit(w, caf::exit_reason::user_shutdown);
  me->send_exit(h, caf::exit_reason::user_shutdown);
}

TEST(scheduler, a_system_stops_while_its_workers_keep_actors) {
  // Chains under way when the system stops: it stops, and every actor it
  // held is released (a leak would keep the system's destructor waiting).
  auto started = std::chrono::steady_clock::now();
  {
    system_config cfg;
    caf::actor_system sys{cfg};
    auto t = std::make_shared<trail>();
    auto sink = sys.spawn([]() -> caf::behavior { return {[](int) {}}; });
    for (int round = 0; round < 16; ++round) {
      caf::actor next;
      for (int i = 0; i < 16; ++i)
        next = sys.spawn(chain_link, t, next);
      caf::anon_send(next, 0, sink);
    }
    caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
}

TEST(scheduler, hookd_config_uses_the_handoff_policy_and_tests_keep_theirs) {
  {
    system_config cfg;
    caf::actor_system sys{cfg};
    EXPECT_NE(dynamic_cast<caf::scheduler::coordinator<handoff_sharing>*>(
                  &sys.scheduler()),
              nullptr);
  }
  {
    system_config cfg;
    cfg.set("scheduler.policy", caf::atom("testing"));
    caf::actor_system sys{cfg};
    EXPECT_NE(dynamic_cast<caf::scheduler::test_coordinator*>(&sys.scheduler()),
              nullptr);
  }
}

} // namespace
