// Deadlines kept by one sweep per actor (deadlines.hpp): a request whose
// answer never comes fails at its deadline, an answer in time is taken, and
// an answer after the deadline is ignored.
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "hookd/deadlines.hpp"
#include "hookd/type_ids.hpp"

using namespace hookd;
using namespace std::chrono_literals;

namespace {

TEST(deadlines, settled_before_the_deadline_never_expires) {
  deadlines d;
  int expired = 0;
  auto id = d.add(1h, [&] { ++expired; });
  EXPECT_EQ(d.size(), 1u);
  EXPECT_TRUE(d.settle(id));
  EXPECT_TRUE(d.empty());
  d.expire_due();
  EXPECT_EQ(expired, 0);
  EXPECT_FALSE(d.settle(id)) << "settled twice";
}

TEST(deadlines, expiry_runs_once_and_a_late_answer_is_not_wanted) {
  deadlines d;
  int expired = 0;
  auto late = d.add(0ms, [&] { ++expired; });
  auto later = d.add(1h, [&] { expired += 100; });
  d.expire_due();
  EXPECT_EQ(expired, 1);
  EXPECT_FALSE(d.settle(late));
  EXPECT_TRUE(d.settle(later));
  d.expire_due();
  EXPECT_EQ(expired, 1);
}

TEST(deadlines, an_expiry_may_track_a_new_deadline) {
  deadlines d;
  int runs = 0;
  d.add(0ms, [&] {
    ++runs;
    d.add(1h, [&] { ++runs; });
  });
  d.expire_due();
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(d.size(), 1u);
}

struct asker_state {
  hookd::deadlines deadlines;
};

using ask_atom = caf::atom_constant<caf::atom("ask")>;

/// Asks `target` once without a CAF timer, with a deadline `within` kept by
/// the sweep; tells `report` "answer", or "late" for an error or a
/// deadline passed.
caf::behavior asker(caf::stateful_actor<asker_state>* self, caf::actor target,
                    caf::actor report, caf::timespan within) {
  return {
      [=](ask_atom) {
        request_within<std::string>(
            self, self->state.deadlines, within, target,
            [=](std::string&) { self->send(report, std::string{"answer"}); },
            [=] { self->send(report, std::string{"late"}); },
            std::string{"question"});
      },
      [=](atom::expire) { sweep_deadlines(self, self->state.deadlines); },
  };
}

struct answerer_state {
  std::vector<caf::typed_response_promise<std::string>> held;
};

using answer_atom = caf::atom_constant<caf::atom("answer")>;

/// Answers after `delay` (or never, given a negative one).
caf::behavior answerer(caf::stateful_actor<answerer_state>* self,
                       caf::timespan delay) {
  return {
      [=](std::string&) -> caf::result<std::string> {
        auto rp = self->make_response_promise<std::string>();
        self->state.held.push_back(rp);
        if (delay.count() >= 0)
          self->delayed_send(self, delay, answer_atom::value);
        return rp;
      },
      [=](answer_atom) {
        for (auto& rp : self->state.held)
          rp.deliver(std::string{"yes"});
        self->state.held.clear();
      },
  };
}

std::string outcome_of(caf::actor_system& sys, caf::timespan answer_after,
                       caf::timespan within,
                       std::chrono::milliseconds* took = nullptr) {
  caf::scoped_actor me{sys};
  auto target = sys.spawn(answerer, answer_after);
  auto a = sys.spawn(asker, target, caf::actor{me}, within);
  auto start = std::chrono::steady_clock::now();
  me->send(a, ask_atom::value);
  std::string got = "nothing";
  me->receive([&](std::string& s) { got = s; },
              caf::after(std::chrono::seconds{5}) >> [] {});
  if (took)
    *took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
  // A late answer must not come afterwards.
  me->receive([&](std::string& s) { got += "+" + s; },
              caf::after(std::chrono::milliseconds{300}) >> [] {});
  me->send_exit(a, caf::exit_reason::user_shutdown);
  me->send_exit(target, caf::exit_reason::user_shutdown);
  return got;
}

TEST(deadlines, an_actor_gets_its_answer_or_fails_at_the_deadline) {
  system_config cfg;
  caf::actor_system sys{cfg};
  EXPECT_EQ(outcome_of(sys, caf::timespan{10ms}, caf::timespan{2s}), "answer");
  std::chrono::milliseconds took{0};
  EXPECT_EQ(outcome_of(sys, caf::timespan{-1}, caf::timespan{200ms}, &took),
            "late");
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 200ms + 4 * deadlines::resolution);
  // Answered after its deadline: failed once, the answer ignored.
  EXPECT_EQ(outcome_of(sys, caf::timespan{500ms}, caf::timespan{100ms}),
            "late");
}

TEST(deadlines, a_target_that_is_gone_fails_at_once) {
  system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor me{sys};
  auto target = sys.spawn(answerer, caf::timespan{-1});
  me->send_exit(target, caf::exit_reason::user_shutdown);
  me->wait_for(target);
  auto a = sys.spawn(asker, target, caf::actor{me}, caf::timespan{10s});
  auto start = std::chrono::steady_clock::now();
  me->send(a, ask_atom::value);
  std::string got = "nothing";
  me->receive([&](std::string& s) { got = s; },
              caf::after(std::chrono::seconds{5}) >> [] {});
  EXPECT_EQ(got, "late");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s)
      << "an error must not wait for the deadline";
  me->send_exit(a, caf::exit_reason::user_shutdown);
}

} // namespace
