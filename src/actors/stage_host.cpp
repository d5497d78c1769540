// The host of a webhook's pipeline stages: one per webhook that has a
// pipeline, on a thread of its own (a stage reads its store synchronously),
// owned by the webhook actor. It runs the stage runner (stages.hpp) with
// the actor's clock and timers; the webhook actor commits what comes out.
#include <chrono>
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "hookd/components.hpp"
#include "hookd/keys.hpp"
#include "hookd/log.hpp"

namespace hookd {

namespace {

struct stage_host_state {
  static inline const char* name = "hookd.stages";
  webhook_actor owner;
  std::unique_ptr<stage_runner> runner;
};

using self_ptr = stage_actor::stateful_pointer<stage_host_state>;

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Schedules the revivals of stages that failed during the last call.
void schedule_revivals(self_ptr self) {
  for (auto& [position, delay] : self->state.runner->take_revivals())
    self->delayed_send(self, delay, atom::revive::value, position);
}

/// Output not asked for (a timer, a start): the webhook records it.
void hand_over(self_ptr self, stage_output out) {
  schedule_revivals(self);
  self->send(self->state.owner, std::move(out));
}

stage_actor::behavior_type
stage_behavior(self_ptr self, store_ptr db, store_writer_actor writer,
               behaviours_ptr behaviours, std::vector<behaviour_use> pipeline,
               plugin::webhook_info hook, webhook_actor owner) {
  auto& st = self->state;
  st.owner = owner;
  // It lives as long as its webhook actor.
  self->monitor(owner);
  self->set_down_handler([=](caf::down_msg& dm) { self->quit(dm.reason); });
  stage_runner::services svc;
  svc.now_ms = wall_ms;
  svc.arm = [self](std::uint32_t position, const std::string& key,
                   std::chrono::milliseconds delay, std::uint64_t generation) {
    self->delayed_send(self, delay, atom::retry::value, position, key,
                       generation);
  };
  st.runner = std::make_unique<stage_runner>(
      std::move(behaviours), std::move(pipeline), hook, std::move(svc));
  // Writes of an earlier host (through its webhook) land first: what is
  // read next is what they left. Awaited: no event reaches the stages
  // before they have their state and have started.
  self->request(writer, caf::infinite, atom::write::value, write_batch{})
      .await(
          [=](std::uint64_t) {
            std::vector<std::pair<std::string, std::string>> items;
            auto err
                = db->scan(keys::stages_prefix(hook.id), {}, false,
                           [&](std::string_view key, std::string_view value) {
                             items.emplace_back(key, value);
                             return true;
                           });
            if (err) {
              log::warn("a pipeline's state cannot be read",
                        {{"hook", hook.name}, {"scope", hook.scope}});
              return self->quit(err);
            }
            auto& runner = *self->state.runner;
            runner.load(items);
            hand_over(self, runner.start());
          },
          [=](caf::error& err) { self->quit(err); });
  return {
      [=](event_batch& batch) -> stage_output {
        auto out = self->state.runner->offer(batch.events);
        schedule_revivals(self);
        return out;
      },
      [=](atom::retry, std::uint32_t position, std::string& key,
          std::uint64_t generation) {
        hand_over(self, self->state.runner->fire(position, key, generation));
      },
      [=](atom::revive, std::uint32_t position) {
        hand_over(self, self->state.runner->revive(position));
      },
  };
}

} // namespace

stage_actor spawn_stages(caf::actor_system& sys, store_ptr db,
                         store_writer_actor writer, behaviours_ptr behaviours,
                         std::vector<behaviour_use> pipeline,
                         plugin::webhook_info hook, webhook_actor owner) {
  return sys.spawn<caf::detached>(
      stage_behavior, std::move(db), std::move(writer), std::move(behaviours),
      std::move(pipeline), std::move(hook), std::move(owner));
}

} // namespace hookd
