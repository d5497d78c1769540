#pragma once

// How each component is spawned, with what it gets from the components
// spawned before it. Only the node (and tests) spawn components.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "hookd/actors.hpp"
#include "hookd/behaviours.hpp"
#include "hookd/config.hpp"
#include "hookd/crypto.hpp"
#include "hookd/read_board.hpp"
#include "hookd/replication.hpp"
#include "hookd/webhook.hpp"

namespace hookd {

/// The store writer, on a thread of its own. With a `leader` (a cluster
/// member's partition that has followers), a commit is answered once the
/// leader says the followers in sync have it.
store_writer_actor spawn_store_writer(caf::actor_system& sys, store_ptr db,
                                      leader_actor leader = {});

/// What a store reader answers, computed on the calling thread: the
/// readers run these, and tests run them where no reader thread may.
caf::expected<read_results> read_now(store& db, const read_request& req);
caf::expected<scan_result> scan_now(store& db, const scan_request& req);

/// Store readers: `threads` detached actors behind one round-robin handle.
store_reader_actor spawn_store_readers(caf::actor_system& sys, store_ptr db,
                                       std::size_t threads);

delivery_actor spawn_delivery(caf::actor_system& sys, delivery_options options);

/// What the partitions of one node count together, so that the node's
/// bounds hold over all of them: each partition's ingest keeps its share
/// current.
struct node_load {
  /// Deliveries pending or being fanned out (HOOKD_MAX_PENDING).
  std::atomic<std::int64_t> backlog{0};
  /// Webhooks that use plugin behaviours (defaults::max_plugin_hooks).
  std::atomic<std::int64_t> plugin_hooks{0};
};

/// What ingestion bounds: unfinished deliveries in all and for one
/// organization (0: the node's bound), and how long events are kept.
struct ingest_limits {
  std::int64_t max_pending = 0;
  std::int64_t max_pending_per_org = 0;
  std::chrono::seconds event_retention{0};
  /// Shared by the partitions of a node (null: this ingest alone).
  std::shared_ptr<node_load> load;
  /// Where this partition's front end may find its ingestion, to take
  /// requests on itself (null: it never does), and whether it may write
  /// their events to the store itself (else the store writer does).
  partition_reads_ptr reads;
  bool front_end_writes = false;
};

/// Ingestion. It fans out to the `shard_count` registry shards that
/// subscribe to it, and re-runs fan-outs left unfinished by a crash once
/// they all have. It answers 429 when what a request adds would pass a
/// bound of `limits`, and deletes events older than their retention.
ingest_actor spawn_ingest(caf::actor_system& sys, store_ptr db,
                          store_writer_actor writer, store_reader_actor reader,
                          std::size_t shard_count, ingest_limits limits);

deployments_actor spawn_deployments(caf::actor_system& sys, store_ptr db,
                                    store_writer_actor writer,
                                    store_reader_actor reader,
                                    ingest_actor ingest);

/// What a registry shard (and the webhook actors it spawns) works with.
struct registry_setup {
  store_ptr db;
  store_writer_actor writer;
  store_reader_actor reader;
  delivery_actor delivery;
  ingest_actor ingest;
  deployments_actor deployments;
  std::shared_ptr<const crypto::sealer> sealer;
  webhook_rules rules;
  std::vector<std::chrono::milliseconds> retry_schedule;
  std::chrono::milliseconds delivery_timeout{0};
  bool testing = false;
  /// Spawned while the node shuts down: its webhooks start no attempts.
  bool draining = false;
  std::size_t shard = 0;
  std::size_t shard_count = 1;
  /// Webhooks one organization may have over every shard (0: no bound).
  std::int64_t max_hooks_per_org = 0;
  /// Of those, webhooks with a pipeline or a plugin destination (0: no
  /// bound); the node as a whole runs defaults::max_plugin_hooks at most.
  std::int64_t max_plugin_hooks_per_org = 0;
  /// Where its answers to GET of one webhook are kept, for the front end
  /// too (read_board.hpp): its partition's, given by the node.
  std::shared_ptr<answer_cache> answers;
};

/// A registry shard; it subscribes to ingest.
registry_actor spawn_registry(caf::actor_system& sys, registry_setup setup);

/// How a webhook actor delivers.
struct webhook_setup {
  store_ptr db;
  store_writer_actor writer;
  store_reader_actor reader;
  delivery_actor delivery;
  deployments_actor deployments;
  /// Its registry, told of changes to the unfinished deliveries.
  registry_actor registry;
  std::shared_ptr<const crypto::sealer> sealer;
  /// Formats and destinations, by the names the webhook gives.
  behaviours_ptr behaviours;
  std::vector<std::chrono::milliseconds> retry_schedule;
  std::chrono::milliseconds timeout{10000};
  std::size_t history_limit = 1000;
  /// Deliveries of one webhook in flight at once; the rest wait in its queue.
  std::size_t max_in_flight = 4;
  bool testing = false;
  /// Spawned while the node shuts down: start no attempts.
  bool draining = false;
};

/// The actor of one webhook, whose configuration is stored under
/// `config_key` ("<scope key>/<name>"); it reads it, then resumes the
/// deliveries it had queued, handling nothing else before.
webhook_actor spawn_webhook(caf::actor_system& sys, std::string config_key,
                            webhook_setup setup);

/// The host of one webhook's plugin destination (`use`): a detached actor
/// that makes the destination from its config and hands it each attempt.
/// A destination that throws fails that attempt (the result says why) and
/// is made afresh for the next; a host that dies is spawned again by
/// `owner`, whose end it follows.
destination_actor spawn_destination(caf::actor_system& sys,
                                    behaviours_ptr behaviours,
                                    behaviour_use use,
                                    plugin::webhook_info hook,
                                    caf::actor_addr owner);

/// The host of one webhook's pipeline stages: a detached actor that
/// waits for the writes sent before it, reads the stages' state (on its
/// own thread), makes each stage and starts it, and then passes events and
/// timers through them (stages.hpp). A stage that throws is made again
/// from its config; a host that dies is spawned again by `owner`, whose end
/// it follows, and reads the state back from the store.
stage_actor spawn_stages(caf::actor_system& sys, store_ptr db,
                         store_writer_actor writer, behaviours_ptr behaviours,
                         std::vector<behaviour_use> pipeline,
                         plugin::webhook_info hook, webhook_actor owner);

/// Access control. `admin_hash` is the hex SHA-256 of the admin token;
/// the organization tokens are published on `reads` (when not null) for
/// the front end.
access_actor spawn_access(caf::actor_system& sys, store_reader_actor reader,
                          store_writer_actor writer,
                          std::vector<registry_actor> shards,
                          ingest_actor ingest, deployments_actor deployments,
                          std::string admin_hash,
                          partition_reads_ptr reads = nullptr);

} // namespace hookd
