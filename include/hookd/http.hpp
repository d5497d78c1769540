#pragma once

#include <functional>
#include <memory>

#include <caf/fwd.hpp>

#include "hookd/actors.hpp"
#include "hookd/config.hpp"
#include "hookd/crypto.hpp"
#include "hookd/direct_routes.hpp"

namespace hookd {

/// Serves the REST API on cfg.bind:cfg.http_port until SIGINT or SIGTERM,
/// sending every API call to the node's entry actor as a request with a
/// deadline. Prints "hookd listening on http://HOST:PORT" once listening
/// ("https://" with cfg.tls_cert and cfg.tls_key: then it speaks TLS only).
/// On a signal it answers new requests 503, lets the node drain, then calls
/// `stop` (which must end every actor) while answers can still be written.
/// Returns false (after printing why, and calling `stop`) when it cannot
/// listen or cannot use the TLS files.
/// `sealer` seals webhook secrets at the door, so that none travels in
/// clear between actors. `on_listening` gets the port once it listens.
/// `board`: where a single node's router publishes its partitions'
/// entries, so that requests reach them without its hop.
bool serve_http(caf::actor_system& sys, const config& cfg, node_actor node,
                std::shared_ptr<const crypto::sealer> sealer,
                const std::function<void()>& stop,
                const std::function<void(std::uint16_t)>& on_listening = {},
                route_board_ptr board = nullptr);

} // namespace hookd
