#include "hookd/type_ids.hpp"

#include <caf/atom.hpp>
#include <caf/message.hpp>
#include <caf/scheduler/coordinator.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "handoff_scheduler.hpp"

namespace hookd {

system_config::system_config() {
  add_message_types<caf::id_block::hookd>();
  add_error_category(error_category, [](std::uint8_t code, caf::atom_value,
                                        const caf::message& context) {
    std::string out = "hookd: ";
    out += to_string(static_cast<ec>(code));
    if (context.match_elements<std::string>())
      out += ": " + context.get_as<std::string>(0);
    return out;
  });
  // CAF's default work-stealing workers fall asleep for up to 10 ms when
  // idle, which is the whole latency budget of a request. Work sharing
  // wakes a worker through a condition variable instead; hookd's variant
  // of it (handoff_scheduler.hpp) also runs a chain of actors on the
  // worker it started on. Tests that set CAF's deterministic "testing"
  // policy keep it.
  set("scheduler.policy", caf::atom("sharing"));
  module_factories.push_back(
      [](caf::actor_system& sys) -> caf::actor_system::module* {
        auto policy = caf::get_or(sys.config(), "scheduler.policy",
                                  caf::atom("sharing"));
        if (policy == caf::atom("testing"))
          return new caf::scheduler::test_coordinator(sys);
        return new caf::scheduler::coordinator<handoff_sharing>(sys);
      });
}

} // namespace hookd
