#pragma once

// The wiring diagram of hookd: every actor interface, one line per message.
// Every message is a serializable value (type_ids.hpp): no connection, no
// shared state and no clear secret travels between actors, so any of these
// handles may as well live on another node.
//
//   HTTP front end ──request(api_call, deadline)──► access
//   access ──delegate──► registry shard (hook management, by hash of scope)
//          ──delegate──► ingest (events in) / deployments (GET deployments)
//   registry ──delegate──► webhook actor (deliveries, ping, redeliver)
//   ingest ──(fanout)──► registry shards ──(event_batch)──► webhook actors
//   webhook ──(event_batch)──► its stage host (a pipeline) ──(stage_output)──►
//           webhook (what the stages let through, and their state changes)
//   webhook ──(http_request)──► its destination: delivery (libcurl multi)
//                                or a plugin destination's host
//           ──(deploy)──► deployments ──(raise)──► ingest
//           ──(pending)──► its registry ──(pending)──► ingest
//   every component ──► store writer (group commit), store readers (reads
//   for the API); the node supervises them all
//
// Dependencies run one way: a component gets at spawn the handles of the
// components spawned before it (node.hpp lists the order); registries
// subscribe to ingest, which is how ingest learns of them.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>

#include "hookd/api.hpp"
#include "hookd/delivery.hpp"
#include "hookd/event.hpp"
#include "hookd/stages.hpp"
#include "hookd/store.hpp"

namespace hookd {

/// A pulumi_deployments webhook asks for a deployment of a stack.
struct deployment_request {
  std::string org;
  std::string project;
  std::string stack;
  std::uint32_t hops = 0; ///< of the event that triggered it
  /// What the deployment counts against: the client event its chain
  /// started from (max_deployments_per_event).
  std::string root;
  std::string source;       ///< the triggering webhook, "scope/name"
  std::string source_event; ///< the triggering event id
  /// Names the attempt: a retried attempt with the same key gets the
  /// deployment the first one queued instead of a second one.
  std::string attempt_key;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deployment_request& x) {
  return f(caf::meta::type_name("hookd.deployment_request"), x.org, x.project,
           x.stack, x.hops, x.root, x.source, x.source_event, x.attempt_key);
}

/// What a component says of itself to the node and to /healthz.
struct component_status {
  std::string name;
  bool ready = false;
  std::string detail; ///< why not ready, in words
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, component_status& x) {
  return f(caf::meta::type_name("hookd.component_status"), x.name, x.ready,
           x.detail);
}

/// Events a front end wrote itself in one turn of its loop
/// (direct_routes.hpp), for one partition's ingest actor: the new events
/// of each request, and the deliveries each reserved.
struct ingest_turn {
  std::vector<event_batch> requests;
  std::vector<std::int64_t> reserved;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ingest_turn& x) {
  return f(caf::meta::type_name("hookd.ingest_turn"), x.requests, x.reserved);
}

/// What one registry shard tells ingest, for the bounds on pending work:
/// the organizations whose count of unfinished deliveries changed, with
/// their new totals, and the scopes whose number of active webhooks
/// changed, with their new numbers (each an upper bound on the deliveries
/// one event to that scope adds); and the organizations whose number of
/// webhooks (active or not) changed, with their new numbers; the same for
/// the webhooks that use plugin behaviours, and how many of those the shard
/// has in all.
struct shard_report {
  std::vector<std::pair<std::string, std::int64_t>> org_pending;
  std::vector<std::pair<std::string, std::int64_t>> scope_hooks;
  std::vector<std::pair<std::string, std::int64_t>> org_hooks;
  std::vector<std::pair<std::string, std::int64_t>> org_plugin_hooks;
  std::int64_t plugin_hooks = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_report& x) {
  return f(caf::meta::type_name("hookd.shard_report"), x.org_pending,
           x.scope_hooks, x.org_hooks, x.org_plugin_hooks, x.plugin_hooks);
}

/// A stack or environment of an organization that has webhooks, and how
/// many it has.
struct scope_count {
  scope where;
  std::uint32_t hooks = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, scope_count& x) {
  return f(caf::meta::type_name("hookd.scope_count"), x.where, x.hooks);
}

/// One registry shard's part of an organization's scopes, by scope key.
struct scope_page {
  std::vector<scope_count> items;
  bool more = false; ///< the shard has more past this page
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, scope_page& x) {
  return f(caf::meta::type_name("hookd.scope_page"), x.items, x.more);
}

namespace atom {
using scopes = caf::atom_constant<caf::atom("scopes")>;
using crash = caf::atom_constant<caf::atom("crash")>;
using revive = caf::atom_constant<caf::atom("revive")>;
using stats = caf::atom_constant<caf::atom("stats")>;
using idle = caf::atom_constant<caf::atom("idle")>;
using done = caf::atom_constant<caf::atom("done")>;
using retry = caf::atom_constant<caf::atom("retry")>;
using fanout = caf::atom_constant<caf::atom("fanout")>;
using deploy = caf::atom_constant<caf::atom("deploy")>;
using drain = caf::atom_constant<caf::atom("drain")>;
using flush = caf::atom_constant<caf::atom("flush")>;
using sweep = caf::atom_constant<caf::atom("sweep")>;
using hooks = caf::atom_constant<caf::atom("hooks")>;
using deleted = caf::atom_constant<caf::atom("deleted")>;
using update = caf::atom_constant<caf::atom("update")>;
using raise = caf::atom_constant<caf::atom("raise")>;
using pending = caf::atom_constant<caf::atom("pending")>;
using subscribe = caf::atom_constant<caf::atom("subscribe")>;
using forget = caf::atom_constant<caf::atom("forget")>;
using write = caf::atom_constant<caf::atom("write")>;
using get = caf::atom_constant<caf::atom("get")>;
using scan = caf::atom_constant<caf::atom("scan")>;
using status = caf::atom_constant<caf::atom("status")>;
using health = caf::atom_constant<caf::atom("health")>;
using metrics = caf::atom_constant<caf::atom("metrics")>;
using entry = caf::atom_constant<caf::atom("entry")>;
using resume = caf::atom_constant<caf::atom("resume")>;
using expire = caf::atom_constant<caf::atom("expire")>;
} // namespace atom

/// What every component of the node answers: is it ready?
using status_actor
    = caf::typed_actor<caf::replies_to<atom::status>::with<component_status>>;

/// The store writer: the single thread that writes RocksDB. Writes that
/// arrive together are committed together (group commit).
using store_writer_actor = caf::typed_actor<
    // Commit a batch; answers with the store's sequence number once it is on
    // disk (fsynced with HOOKD_SYNC=1), or an error.
    caf::replies_to<atom::write, write_batch>::with<std::uint64_t>,
    // Readiness, for the node.
    caf::replies_to<atom::status>::with<component_status>,
    // Internal: commit what has arrived.
    caf::reacts_to<atom::flush>>;

/// Store reads on threads of their own (a pool of detached actors), so a
/// slow disk holds none of CAF's shared workers.
using store_reader_actor = caf::typed_actor<
    // Read keys; one result per key, in order.
    caf::replies_to<atom::get, read_request>::with<read_results>,
    // Read a range of keys.
    caf::replies_to<atom::scan, scan_request>::with<scan_result>,
    caf::replies_to<atom::status>::with<component_status>>;

/// The outbound HTTP client: libcurl multi on one transfer thread.
using delivery_actor = caf::typed_actor<
    // POST once; answers with what came back (never an error for HTTP or
    // network failures: those are in the result).
    caf::replies_to<http_request>::with<http_result>,
    caf::replies_to<atom::status>::with<component_status>,
    // Internal: the transfer thread finished request `id`.
    caf::reacts_to<atom::done, std::uint64_t, http_result>>;

/// Where a webhook's attempts go, whatever its destination: the delivery
/// client (the HTTP POST) or a plugin destination's host, which answers the
/// same way.
using destination_actor = caf::typed_actor<
    // One attempt of a rendered, signed delivery; answers with its outcome
    // (errors of the destination are in the result).
    caf::replies_to<http_request>::with<http_result>>;

/// The host of a webhook's pipeline stages (stages.hpp): a detached actor,
/// owned by the webhook actor, whose end it follows.
using stage_actor = caf::typed_actor<
    // Pass events through the stages; answers with what came out and the
    // stages' store changes, which the webhook commits with its records
    // before it acknowledges the events.
    caf::replies_to<event_batch>::with<stage_output>,
    // Internal: timer `key` of stage `position` went off (`generation`
    // tells a replaced timer from the current one).
    caf::reacts_to<atom::retry, std::uint32_t, std::string, std::uint64_t>,
    // Internal: make stage `position` again after it failed.
    caf::reacts_to<atom::revive, std::uint32_t>>;

/// What ingest asks of a registry shard.
using fanout_actor = caf::typed_actor<
    // Hand events to the subscribed webhooks of a scope; answers with how
    // many deliveries were recorded, once each webhook has them on disk.
    caf::replies_to<atom::fanout, event_batch, scope>::with<std::size_t>>;

/// Ingestion: persists events, then fans them out.
using ingest_actor = caf::typed_actor<
    // POST …/events.
    caf::replies_to<api_call>::with<api_response>,
    // Persist and fan out an event raised inside hookd (a queued
    // deployment); answers with its id once it is on disk.
    caf::replies_to<atom::raise, event>::with<std::string>,
    // A registry shard (re)started: fan-outs for shard `n` go to it.
    caf::reacts_to<atom::subscribe, std::size_t, fanout_actor>,
    // Events the front end wrote itself (direct_routes.hpp): fan them
    // out and release the deliveries reserved for them; answers once they
    // are on their way to the registry shards.
    caf::replies_to<atom::fanout, ingest_turn>::with<bool>,
    // A registry shard's count of unfinished deliveries, in all and for
    // the organizations whose count changed.
    caf::reacts_to<atom::pending, std::size_t, std::int64_t, shard_report>,
    // Unfinished deliveries over all shards (for /metrics).
    caf::replies_to<atom::stats>::with<std::int64_t>,
    // Webhooks of an organization over all shards, as last reported; those
    // of them using plugin behaviours; those of the node using them.
    caf::replies_to<atom::hooks, std::string>::with<std::int64_t, std::int64_t,
                                                    std::int64_t>,
    caf::replies_to<atom::status>::with<component_status>,
    // Internal: fan event `id` out again after a failed attempt.
    caf::reacts_to<atom::retry, std::string>,
    // Internal: write the fan-out markers of finished events away.
    caf::reacts_to<atom::flush>,
    // Internal: delete the events past their retention.
    caf::reacts_to<atom::sweep>,
    // Internal: fail the fan-outs past their deadline (deadlines.hpp).
    caf::reacts_to<atom::expire>>;

/// Deployments queued by pulumi_deployments webhooks.
using deployments_actor = caf::typed_actor<
    // GET …/deployments.
    caf::replies_to<api_call>::with<api_response>,
    // Queue a deployment of a stack; answers with the deployment as JSON.
    caf::replies_to<atom::deploy, deployment_request>::with<std::string>,
    // A webhook was deleted: drop what it queued.
    caf::reacts_to<atom::forget, std::string>,
    caf::replies_to<atom::status>::with<component_status>>;

/// A webhook: owns its delivery queue and history.
using webhook_actor = caf::typed_actor<
    // Serve a per-hook request: deliveries, ping, redeliver.
    caf::replies_to<api_call>::with<api_response>,
    // The registry changed this hook's configuration (its stored form, with
    // the secret sealed).
    caf::reacts_to<atom::update, std::string>,
    // Record and queue a delivery of each event; answers how many it took
    // once they are on disk.
    caf::replies_to<event_batch>::with<std::size_t>,
    // Internal: attempt the delivery of event `id` again.
    caf::reacts_to<atom::retry, std::string>,
    // From its stage host: what a timer or a start of the stages let
    // through, to record with the stages' store changes.
    caf::reacts_to<stage_output>,
    // Shutting down or handing its partition over: start no new attempts;
    // answers once those in flight have finished and their outcomes are on
    // disk.
    caf::replies_to<atom::drain>::with<bool>,
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
using registry_actor = fanout_actor::extend<
    // Serve a hook-management request for a scope of this shard.
    caf::replies_to<api_call>::with<api_response>,
    // From a webhook actor of this shard: its unfinished deliveries changed.
    caf::reacts_to<atom::pending, std::int64_t>,
    // Shutting down or handing the partition over: every webhook actor
    // starts no new attempts; answers once all of them have drained.
    caf::replies_to<atom::drain>::with<bool>,
    // Internal: revive a crashed webhook actor after its back-off.
    caf::reacts_to<atom::revive, std::string>,
    // Internal: report this shard's unfinished deliveries to ingest.
    caf::reacts_to<atom::flush>,
    // Internal: fail the fan-outs to webhooks past their deadline.
    caf::reacts_to<atom::expire>,
    // From a webhook actor of this shard: it has read its queue back and
    // owes this many deliveries.
    caf::reacts_to<atom::resume, std::int64_t>,
    // The stacks and environments of organization `org` with webhooks in
    // this shard, by scope key after `after` (a scope key, or empty), at
    // most `limit` of them.
    caf::replies_to<atom::scopes, std::string, std::string,
                    std::uint32_t>::with<scope_page>,
    // Counts for tests and metrics: hooks indexed, webhook actors alive,
    // revivals so far.
    caf::replies_to<atom::stats>::with<std::size_t, std::size_t, std::size_t>,
    caf::replies_to<atom::status>::with<component_status>,
    // Test builds only: the actor of a hook (spawning it if needed).
    caf::replies_to<atom::crash, std::string,
                    std::string>::with<webhook_actor>>;

/// Access control: checks the credential of every API request, serves the
/// token routes, and routes the rest.
using access_actor = caf::typed_actor<
    // Authenticate, authorize, then serve or route an API request.
    caf::replies_to<api_call>::with<api_response>,
    caf::replies_to<atom::status>::with<component_status>>;

/// The node: the root supervisor (node.hpp).
using node_actor = caf::typed_actor<
    // The actor that serves API requests now (it changes when revived).
    caf::replies_to<atom::entry>::with<access_actor>,
    // GET /healthz: ok when every component is up, else an error naming the
    // first one that is not.
    caf::replies_to<atom::health>::with<api_response>,
    // GET /metrics, in Prometheus text format.
    caf::replies_to<atom::metrics>::with<std::string>,
    // Registry shard `n`, for tests and tools.
    caf::replies_to<atom::stats, std::size_t>::with<registry_actor>,
    // Shutting down or handing the partition over: start no new delivery
    // attempts; answers true once those in flight are done and their
    // outcomes written, false when `deadline` passed first.
    caf::replies_to<atom::drain, caf::timespan>::with<bool>,
    // Internal: check whether the drain is done.
    caf::reacts_to<atom::drain>,
    // Unfinished deliveries, as its ingest counts them.
    caf::replies_to<atom::pending>::with<std::int64_t>,
    // Internal: revive component `n` after its back-off.
    caf::reacts_to<atom::revive, std::size_t>>;

/// Which registry shard owns a scope.
std::size_t shard_of(const scope& where, std::size_t shard_count);
/// The same, from the scope's key (scope::key()).
std::size_t shard_of_key(std::string_view scope_key, std::size_t shard_count);

} // namespace hookd
