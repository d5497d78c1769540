#pragma once

// The wiring diagram of hookd: every actor interface, one line per message.
//
//   HTTP front end ──(api_call, responder)──► access
//   access ──► registry shard (hook management, by hash of the scope)
//          ──► ingest (events in, deployments)
//   ingest ──(fanout)──► registry shards ──(event)──► webhook actors
//   webhook ──(http_request)──► delivery (libcurl multi)
//           ──(deploy)──► ingest (pulumi_deployments webhooks)

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "hookd/api.hpp"
#include "hookd/config.hpp"
#include "hookd/delivery.hpp"
#include "hookd/event.hpp"
#include "hookd/store.hpp"
#include "hookd/webhook.hpp"

namespace hookd {

/// A pulumi_deployments webhook asks for a deployment of a stack.
struct deployment_request {
  std::string org;
  std::string project;
  std::string stack;
  std::uint32_t hops = 0;     ///< of the event that triggered it
  std::string source;         ///< the triggering webhook, "scope/name"
  std::string source_event;   ///< the triggering event id
  /// Names the attempt: a retried attempt with the same key gets the
  /// deployment the first one queued instead of a second one.
  std::string attempt_key;
};

/// Deliveries recorded but not finished, over all webhooks of the node:
/// webhook actors count them, ingestion refuses work past a bound.
using pending_counter = std::shared_ptr<std::atomic<std::int64_t>>;

} // namespace hookd

// These travel only inside one process: a responder wraps a live HTTP
// connection, a webhook carries its secret in clear, events are shared.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hookd::api_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hookd::responder_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hookd::webhook)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hookd::event_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hookd::scope)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hookd::http_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hookd::http_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hookd::deployment_request)

namespace hookd {

namespace atom {
using crash = caf::atom_constant<caf::atom("crash")>;
using revive = caf::atom_constant<caf::atom("revive")>;
using stats = caf::atom_constant<caf::atom("stats")>;
using idle = caf::atom_constant<caf::atom("idle")>;
using done = caf::atom_constant<caf::atom("done")>;
using retry = caf::atom_constant<caf::atom("retry")>;
using fanout = caf::atom_constant<caf::atom("fanout")>;
using deploy = caf::atom_constant<caf::atom("deploy")>;
using connect = caf::atom_constant<caf::atom("connect")>;
using drain = caf::atom_constant<caf::atom("drain")>;
using flush = caf::atom_constant<caf::atom("flush")>;
using deleted = caf::atom_constant<caf::atom("deleted")>;
} // namespace atom

/// The outbound HTTP client: libcurl multi on one transfer thread.
using delivery_actor = caf::typed_actor<
  // POST once; answers with what came back (never an error for HTTP or
  // network failures: those are in the result).
  caf::replies_to<http_request>::with<http_result>,
  // How many requests are in flight.
  caf::replies_to<atom::stats>::with<std::size_t>,
  // Internal: the transfer thread finished request `id`.
  caf::reacts_to<atom::done, std::uint64_t, http_result>>;

/// Ingestion and deployments: persists events, then fans them out.
using ingest_actor = caf::typed_actor<
  // POST …/events, GET …/deployments.
  caf::reacts_to<api_call, responder_ptr>,
  // Queue a deployment of a stack for a pulumi_deployments webhook; answers
  // with the deployment as JSON.
  caf::replies_to<atom::deploy, deployment_request>::with<std::string>,
  // Internal: fan event `id` out again after a failed attempt.
  caf::reacts_to<atom::retry, std::string>,
  // Internal: write the fan-out markers of finished events away.
  caf::reacts_to<atom::flush>>;

/// A webhook: owns its delivery queue and history.
using webhook_actor = caf::typed_actor<
  // Serve a per-hook request: deliveries, ping, redeliver.
  caf::reacts_to<api_call, responder_ptr>,
  // The registry changed this hook's configuration.
  caf::reacts_to<webhook>,
  // Record and queue a delivery of each event; answers how many it took
  // once they are on disk.
  caf::replies_to<event_batch>::with<std::size_t>,
  // Internal: attempt the delivery of event `id` again.
  caf::reacts_to<atom::retry, std::string>,
  // Shutting down: start no new attempts; those in flight finish.
  caf::reacts_to<atom::drain>,
  // Internal: write the outcomes of finished attempts.
  caf::reacts_to<atom::flush>,
  // The registry deleted this hook: drop its queue and history, then stop.
  caf::reacts_to<atom::deleted>,
  // Test builds only: throw from a handler, as a bug would.
  caf::reacts_to<atom::crash>,
  // Internal: stop when nothing happened for a while.
  caf::reacts_to<atom::idle>>;

/// A registry shard: the single writer of the webhook configurations of
/// the scopes that hash to it; spawns, finds and supervises their actors.
using registry_actor = caf::typed_actor<
  // Serve a hook-management request for a scope of this shard.
  caf::reacts_to<api_call, responder_ptr>,
  // Hand events to the subscribed webhooks of a scope; answers with how
  // many deliveries were recorded, once each webhook has them on disk.
  caf::replies_to<atom::fanout, event_batch, scope>::with<std::size_t>,
  // Wiring: the ingest actor, for pulumi_deployments webhooks.
  caf::reacts_to<atom::connect, ingest_actor>,
  // Shutting down: every webhook actor starts no new attempts.
  caf::reacts_to<atom::drain>,
  // Internal: revive a crashed webhook actor after its back-off.
  caf::reacts_to<atom::revive, std::string>,
  // Counts for tests and metrics: hooks indexed, webhook actors alive,
  // revivals so far.
  caf::replies_to<atom::stats>::with<std::size_t, std::size_t, std::size_t>,
  // Test builds only: the actor of a hook (spawning it if needed).
  caf::replies_to<atom::crash, std::string, std::string>::with<webhook_actor>>;

/// Access control: checks the credential of every API request, serves the
/// token routes, and routes the rest.
using access_actor = caf::typed_actor<
  // Authenticate, authorize, then serve or route an API request.
  caf::reacts_to<api_call, responder_ptr>>;

/// Which registry shard owns a scope.
std::size_t shard_of(const scope& where, std::size_t shard_count);

delivery_actor spawn_delivery(caf::actor_system& sys, delivery_options options);

/// Spawns registry shard `shard` of `shard_count`.
registry_actor spawn_registry(caf::actor_system& sys, store_ptr db,
                              const config& cfg, crypto::sealer sealer,
                              delivery_actor delivery, pending_counter pending,
                              std::size_t shard, std::size_t shard_count);

/// Spawns the ingest actor; it re-runs fan-outs left unfinished by a crash.
/// Past `max_pending` pending deliveries it answers 429.
ingest_actor spawn_ingest(caf::actor_system& sys, store_ptr db,
                          std::vector<registry_actor> shards,
                          pending_counter pending, std::int64_t max_pending);

/// Spawns the access actor. `admin_hash` is the SHA-256 of the admin token.
access_actor spawn_access(caf::actor_system& sys, store_ptr db,
                          std::vector<registry_actor> shards,
                          ingest_actor ingest, std::string admin_hash);

} // namespace hookd
