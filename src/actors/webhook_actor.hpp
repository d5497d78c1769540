#pragma once

#include "hookd/actors.hpp"

namespace hookd {

/// Spawns the actor of one webhook. `testing` makes it accept atom::crash.
webhook_actor spawn_webhook(caf::actor_system& sys, webhook hook, store_ptr db,
                            bool testing);

/// Store keys of a webhook's delivery records; newest sort last.
std::string history_prefix(const std::string& hook_id);

} // namespace hookd
