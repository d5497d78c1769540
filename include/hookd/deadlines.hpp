#pragma once
// Deadlines of an actor's requests, kept by one sweep instead of a CAF
// timer per request. CAF 0.17's clock runs on its own thread and is woken
// for every timer set and every timer cancelled: on the paths every event
// takes (ingest to the registries, a registry to its webhooks), those two
// wake-ups per request cost more than the work itself.
//
//   request_within<std::size_t>(self, st.deadlines, within, dest,
//                               [=](std::size_t& n) { ... },  // in time
//                               [=] { ... },  // an error, or too late
//                               message...);
//
// and the actor's behaviour sweeps on atom::expire:
//
//   [=](atom::expire) { sweep_deadlines(self, self->state.deadlines); }

#include "hookd/actors.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hookd {

class deadlines {
public:
  using clock = std::chrono::steady_clock;

  /// How often an actor with pending deadlines sweeps: a deadline fires up
  /// to this late.
  static constexpr auto resolution = std::chrono::milliseconds{100};

  /// Tracks a deadline `within` from now; `on_expiry` runs (in the actor,
  /// from its sweep) if it passes before settle(id).
  std::uint64_t add(clock::duration within, std::function<void()> on_expiry) {
    auto id = ++next_;
    pending_.emplace(id, entry{clock::now() + within, std::move(on_expiry)});
    return id;
  }

  /// The answer came: true when it is still wanted (its deadline had not
  /// passed), false when the sweep has failed it already.
  bool settle(std::uint64_t id) {
    return pending_.erase(id) > 0;
  }

  /// Runs the expiry of every deadline that has passed.
  void expire_due() {
    auto now = clock::now();
    std::vector<std::function<void()>> late;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.until <= now) {
        late.push_back(std::move(it->second.on_expiry));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    // Outside the loop: an expiry may track new deadlines.
    for (auto& f : late)
      f();
  }

  bool empty() const {
    return pending_.empty();
  }

  std::size_t size() const {
    return pending_.size();
  }

  /// A sweep is scheduled.
  bool armed = false;

private:
  struct entry {
    clock::time_point until;
    std::function<void()> on_expiry;
  };
  /// By id: a fan-out to a thousand webhooks has a thousand at once.
  std::unordered_map<std::uint64_t, entry> pending_;
  std::uint64_t next_ = 0;
};

/// Tracks a deadline of `self`'s and makes sure a sweep will see it.
template <class Self>
std::uint64_t track_deadline(Self* self, deadlines& d, caf::timespan within,
                             std::function<void()> on_expiry) {
  auto id
      = d.add(std::chrono::duration_cast<deadlines::clock::duration>(within),
              std::move(on_expiry));
  if (!d.armed) {
    d.armed = true;
    self->delayed_send(self, deadlines::resolution, atom::expire::value);
  }
  return id;
}

/// Requests `xs` of `dest` with a deadline kept by `d`'s sweep: exactly one
/// of `on_answer` (given the answer, in time) and `on_failure` (an error,
/// or the deadline passed first) runs; a late answer is dropped.
template <class T, class Self, class Dest, class OnAnswer, class OnFailure,
          class... Ts>
void request_within(Self* self, deadlines& d, caf::timespan within,
                    const Dest& dest, OnAnswer on_answer, OnFailure on_failure,
                    Ts&&... xs) {
  auto id = track_deadline(self, d, within, on_failure);
  self->request(dest, caf::infinite, std::forward<Ts>(xs)...)
      .then(
          [=, &d](T& answer) mutable {
            if (d.settle(id))
              on_answer(answer);
          },
          [=, &d](caf::error&) mutable {
            if (d.settle(id))
              on_failure();
          });
}

/// The sweep: fails what is late, and sweeps again while anything waits.
template <class Self> void sweep_deadlines(Self* self, deadlines& d) {
  d.armed = false;
  d.expire_due();
  if (!d.empty() && !d.armed) {
    d.armed = true;
    self->delayed_send(self, deadlines::resolution, atom::expire::value);
  }
}

} // namespace hookd
