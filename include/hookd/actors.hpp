#pragma once

// The wiring diagram of hookd: every actor interface, one line per message.
//
//   HTTP front end ──(api_call, responder)──► access
//   access ──(api_call, responder)──► registry shard (hash of the scope)
//   registry ──(api_call, responder)──► webhook (spawned or revived on demand)

#include <cstddef>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "hookd/api.hpp"
#include "hookd/config.hpp"
#include "hookd/store.hpp"
#include "hookd/webhook.hpp"

// These travel only inside one process: a responder wraps a live HTTP
// connection and a webhook carries its secret in clear.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hookd::api_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hookd::responder_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hookd::webhook)

namespace hookd {

namespace atom {
using crash = caf::atom_constant<caf::atom("crash")>;
using revive = caf::atom_constant<caf::atom("revive")>;
using stats = caf::atom_constant<caf::atom("stats")>;
using idle = caf::atom_constant<caf::atom("idle")>;
} // namespace atom

/// A webhook: owns its configuration copy and its delivery history.
using webhook_actor = caf::typed_actor<
  // Serve a per-hook request: deliveries, ping, redeliver.
  caf::reacts_to<api_call, responder_ptr>,
  // The registry changed this hook's configuration.
  caf::reacts_to<webhook>,
  // Test builds only: throw from a handler, as a bug would.
  caf::reacts_to<atom::crash>,
  // Internal: stop when nothing happened for a while.
  caf::reacts_to<atom::idle>>;

/// A registry shard: the single writer of the webhook configurations of
/// the scopes that hash to it; spawns, finds and supervises their actors.
using registry_actor = caf::typed_actor<
  // Serve a hook-management request for a scope of this shard.
  caf::reacts_to<api_call, responder_ptr>,
  // Internal: revive a crashed webhook actor after its back-off.
  caf::reacts_to<atom::revive, std::string>,
  // Counts for tests and metrics: hooks indexed, webhook actors alive,
  // revivals so far.
  caf::replies_to<atom::stats>::with<std::size_t, std::size_t, std::size_t>,
  // Test builds only: the actor of a hook (spawning it if needed).
  caf::replies_to<atom::crash, std::string, std::string>::with<webhook_actor>>;

/// Access control: checks the credential of every API request, serves the
/// token routes, and routes the rest to the registry shard of its scope.
using access_actor = caf::typed_actor<
  // Authenticate, authorize, then serve or route an API request.
  caf::reacts_to<api_call, responder_ptr>>;

/// Which registry shard owns a scope.
std::size_t shard_of(const scope& where, std::size_t shard_count);

/// Spawns registry shard `shard` of `shard_count`.
registry_actor spawn_registry(caf::actor_system& sys, store_ptr db,
                              const config& cfg, crypto::sealer sealer,
                              std::size_t shard, std::size_t shard_count);

/// Spawns the access actor. `admin_hash` is the SHA-256 of the admin token.
access_actor spawn_access(caf::actor_system& sys, store_ptr db,
                          std::vector<registry_actor> shards,
                          std::string admin_hash);

} // namespace hookd
