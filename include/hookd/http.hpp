#pragma once

#include <functional>

#include <caf/fwd.hpp>

#include "hookd/actors.hpp"
#include "hookd/config.hpp"

namespace hookd {

/// Serves the REST API on cfg.bind:cfg.http_port until SIGINT or SIGTERM,
/// sending every API call to the node's entry actor as a request with a
/// deadline. Prints "hookd listening on http://HOST:PORT" once listening.
/// On a signal it answers new requests 503, lets the node drain, then calls
/// `stop` (which must end every actor) while answers can still be written.
/// Returns false (after printing why) when it cannot listen.
bool serve_http(caf::actor_system& sys, const config& cfg, node_actor node,
                const std::function<void()>& stop);

} // namespace hookd
