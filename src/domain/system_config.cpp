#include "hookd/type_ids.hpp"

#include <caf/atom.hpp>
#include <caf/message.hpp>

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
  // idle, which is the whole latency budget of a request. The sharing
  // policy wakes a worker through a condition variable instead.
  set("scheduler.policy", caf::atom("sharing"));
}

} // namespace hookd
