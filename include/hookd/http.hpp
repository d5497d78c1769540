#pragma once

#include <functional>

#include "hookd/actors.hpp"
#include "hookd/config.hpp"

namespace hookd {

/// Serves the REST API on cfg.bind:cfg.http_port until SIGINT or SIGTERM.
/// Prints "hookd listening on http://HOST:PORT" once bound. Returns false
/// (after printing why) when it cannot listen. Calls `stop_actors` before
/// it returns, while answers to pending requests can still be written.
bool serve_http(const config& cfg, access_actor access,
                std::function<bool()> healthy,
                const std::function<void()>& stop_actors);

} // namespace hookd
