#pragma once

// A webhook's pipeline of stages (SPEC section 10), without actors: the
// stage runner holds one webhook's stage instances and their state, passes
// events through them in order, and says what came out. The stage host
// actor (components.hpp) wraps it: it gives the runner its clock and its
// timers, and hands what comes out to the webhook actor, which records the
// events as deliveries and commits the stages' state changes with them, in
// one write.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "hookd/behaviours.hpp"
#include "hookd/defaults.hpp"
#include "hookd/event.hpp"
#include "hookd/store.hpp"
#include "hookd/webhook.hpp"

namespace hookd {

/// What the stages made of one call (events offered, a timer, a start).
struct stage_output {
  /// Events out of the last stage, to record and deliver.
  std::vector<event> events;
  /// Events a stage failed on, with why (one error per event): recorded
  /// as failed deliveries.
  std::vector<event> failed;
  std::vector<std::string> errors;
  /// The stages' store changes, to commit with the deliveries.
  write_batch state;
  /// Timers armed once the call was done: a webhook whose stages wait
  /// for a timer does not stop when idle.
  std::uint32_t timers = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stage_output& x) {
  return f(caf::meta::type_name("hookd.stage_output"), x.events, x.failed,
           x.errors, x.state, x.timers);
}

/// What one stage of a webhook may hold (see defaults.hpp).
struct stage_limits {
  std::size_t keys = defaults::stage_state_keys_max;
  std::size_t bytes = defaults::stage_state_bytes_max;
  std::size_t timers = defaults::stage_timers_max;
};

/// Runs one webhook's pipeline. Not thread-safe: one actor owns it.
class stage_runner {
public:
  struct services {
    /// Now, unix milliseconds.
    std::function<std::int64_t()> now_ms;
    /// Calls fire(position, key, generation) after `delay`.
    std::function<void(std::uint32_t position, const std::string& key,
                       std::chrono::milliseconds delay,
                       std::uint64_t generation)>
        arm;
    /// Bounds of each stage's state and timers.
    stage_limits limits;
  };

  stage_runner(behaviours_ptr behaviours, std::vector<behaviour_use> pipeline,
               plugin::webhook_info hook, services svc);
  ~stage_runner();
  stage_runner(const stage_runner&) = delete;
  stage_runner& operator=(const stage_runner&) = delete;

  /// The stored state of the webhook's stages: every key under
  /// keys::stages_prefix(hook id), with its value. State of stages the
  /// pipeline no longer has (at that position, by that name) is deleted
  /// with the next output.
  void load(const std::vector<std::pair<std::string, std::string>>& items);

  /// Makes every stage and calls its on_start.
  stage_output start();
  /// Passes each event through the stages, in order.
  stage_output offer(const std::vector<event_ptr>& events);
  /// A timer went off (ignored when cancelled or replaced since).
  stage_output fire(std::uint32_t position, const std::string& key,
                    std::uint64_t generation);
  /// Makes stage `position` again if it is broken (after its back-off).
  stage_output revive(std::uint32_t position);

  /// Timers armed now.
  std::uint32_t timers() const;
  /// Stages thrown away since the last call to this, with how long to
  /// wait before making each again (it is also made again by the next
  /// event that reaches it).
  std::vector<std::pair<std::uint32_t, std::chrono::milliseconds>>
  take_revivals();

  class slot;

private:
  void ensure(std::uint32_t position, stage_output& out);
  void run(std::uint32_t position, const event& ev, stage_output& out);
  void pass(std::uint32_t position, std::vector<plugin::event> emitted,
            stage_output& out);
  void broke(std::uint32_t position, const std::string& what);
  void finish(stage_output& out);

  behaviours_ptr behaviours_;
  std::vector<behaviour_use> pipeline_;
  plugin::webhook_info hook_;
  services svc_;
  std::vector<std::unique_ptr<slot>> slots_;
  /// Changes not yet handed out, by full key (nullopt: deleted).
  std::map<std::string, std::optional<std::string>> changes_;
  std::vector<std::pair<std::uint32_t, std::chrono::milliseconds>> revivals_;
  std::uint64_t generation_ = 0;
};

/// The state of pipeline stage `position` named `name` of a webhook, under
/// keys::stages_prefix(hook id): "<position>.<name>/".
std::string stage_state_prefix(const std::string& hook_id,
                               std::uint32_t position, const std::string& name);

/// An event a stage emitted, as hookd knows events; an error when its name
/// is not in the catalogue (the kind of the failed record is `kind`).
bool core_event_of(const plugin::event& in, event& out, std::string& error);

} // namespace hookd
