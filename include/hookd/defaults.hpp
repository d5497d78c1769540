#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

/// Every default and limit of hookd, named once.
namespace hookd::defaults {

using namespace std::chrono_literals;

constexpr const char* version = "0.1.0";

constexpr const char* bind = "127.0.0.1";
constexpr std::uint16_t http_port = 8080;
constexpr const char* data_dir = "./data";

/// Largest request body answered normally; larger ones get 413.
constexpr std::size_t max_body_bytes = 1024 * 1024;
/// Largest body read off the wire at all: past this the connection is closed.
constexpr std::size_t max_wire_body_bytes = 16 * 1024 * 1024;

/// How long the HTTP front end waits for an actor before answering 503.
constexpr auto request_timeout = 10s;
constexpr auto delivery_timeout = 10s;
constexpr const char* retry_schedule = "0s,5s,5m,30m,2h,5h,10h,10h";
constexpr const char* slack_url_prefix = "https://hooks.slack.com/";

constexpr std::size_t hook_name_max = 32;
constexpr std::size_t display_name_max = 256;
constexpr std::size_t payload_url_max = 2048;
/// Stages one webhook's pipeline may hold.
constexpr std::size_t pipeline_max = 16;
/// Organization, project, stack and environment names in paths.
constexpr std::size_t path_name_max = 100;
/// Organization tokens are "hookd_<id>_<secret>".
constexpr const char* token_prefix = "hookd_";
constexpr std::size_t token_id_bytes = 8;
constexpr std::size_t token_secret_bytes = 24;
constexpr std::size_t token_name_max = 100;
constexpr std::size_t token_description_max = 1024;
/// Tokens one organization may hold at once.
constexpr std::size_t max_tokens_per_org = 100;
/// Webhooks one organization may have, over all its scopes
/// (HOOKD_MAX_HOOKS_PER_ORG).
constexpr std::int64_t max_hooks_per_org = 10000;
/// Of those, webhooks that use plugin behaviours: a pipeline (each runs a
/// stage host, a thread of its own, while its actor runs) or a destination
/// other than "http" (a destination host, another thread)
/// (HOOKD_MAX_PLUGIN_HOOKS_PER_ORG).
constexpr std::int64_t max_plugin_hooks_per_org = 100;
/// The same over every organization of the node: what bounds the threads
/// plugin behaviours may take.
constexpr std::int64_t max_plugin_hooks = 2000;

/// The state of one pipeline stage of one webhook: keys it may keep in
/// its store, bytes of those keys and values together, and timers armed at
/// once. A call that would pass one has no effect (plugin.hpp).
constexpr std::size_t stage_state_keys_max = 10000;
constexpr std::size_t stage_state_bytes_max = 16 * 1024 * 1024;
constexpr std::size_t stage_timers_max = 10000;

/// Partitions of the data by organization (SPEC section 9), each its own
/// RocksDB instance and actors; the count is fixed when the data directory
/// (or the cluster) is created.
constexpr std::uint32_t partitions = 64;
constexpr long long max_partitions = 1024;
/// What all partitions' stores share: one block cache and one budget for
/// their memtables, so that many partitions cost no more memory than one.
constexpr std::size_t store_block_cache_bytes = 64 * 1024 * 1024;
constexpr std::size_t store_write_buffer_bytes = 128 * 1024 * 1024;
/// Descriptors one open partition holds besides its table files (its WAL,
/// MANIFEST, LOCK and directories), and the table files it keeps open at
/// least: store_open_files is shared out among the partitions.
constexpr std::size_t partition_descriptors = 5;
constexpr int partition_open_files_min = 8;
/// Descriptors `partitions` open partitions may hold, table files included
/// (the most: the store_open_files budget, or each partition's least).
constexpr std::size_t store_descriptors(std::uint32_t partitions) {
  std::size_t tables = partitions * std::size_t{partition_open_files_min};
  return partitions * partition_descriptors + (tables > 256 ? tables : 256);
}
/// The least a node needs to start with `partitions`.
constexpr std::size_t store_descriptors_min(std::uint32_t partitions) {
  return partitions
         * (partition_descriptors + std::size_t{partition_open_files_min});
}
/// A request forwarded to the partition's owner gets 503 past this
/// (ping and redeliver: plus the delivery timeout).
constexpr std::chrono::milliseconds forward_timeout{4000};
/// How long a cluster member keeps its partitions' write-ahead log for
/// followers that fell behind.
constexpr std::uint64_t replication_log_seconds = 600;
/// Writes a follower may be behind and still catch up from the log.
constexpr std::uint64_t replication_backlog = 1000000;
/// Cluster mode: etcd key prefix, lease, copies of each partition.
constexpr const char* cluster_prefix = "hookd/";
constexpr auto lease_ttl = 5s;
constexpr std::uint32_t replicas = 2;

/// Registry shards; a scope always lives in the same shard.
constexpr std::size_t registry_shards = 4;
/// Answers to GET of one webhook a registry shard keeps (bytes): with 64
/// partitions of 4 shards, at most 16 MiB a node.
constexpr std::size_t rendered_cache_bytes = 64 * 1024;
/// A webhook actor with nothing to do stops after this long; its registry
/// spawns it again on the next message.
constexpr auto webhook_idle_timeout = 60s;
/// Deliveries of one webhook in flight at once: a slow receiver holds at
/// most this many connections; the rest of its queue waits.
constexpr std::size_t max_in_flight = 16;
/// Deliveries kept per webhook, newest first.
constexpr std::size_t history_limit = 1000;
/// Items a start-up load reads from the store in one request.
constexpr std::size_t load_page = 8192;
constexpr std::size_t deliveries_page_default = 100;
constexpr std::size_t deliveries_page_max = 1000;
/// A webhook listing answers this many at most, with a Link to the rest
/// (Pulumi's clients read one page: the default is the most).
constexpr std::size_t hooks_page_max = 1000;
/// An organization's scopes listing (GET /api/orgs/{org}/scopes) answers
/// this many stacks and environments at most, with a Link to the rest.
constexpr std::size_t scopes_page_max = 1000;

/// How long fan-out waits for the webhooks of a scope to record an event
/// before it tries again.
constexpr auto fanout_timeout = 30s;
/// Largest batch of events in one ingestion request.
constexpr std::size_t max_event_batch = 1000;
/// Largest event, as delivered: every webhook's history keeps a copy.
constexpr std::size_t max_event_bytes = 64 * 1024;
/// How long an accepted event is kept (HOOKD_EVENT_RETENTION): its id is
/// known for that long, so a client's retry under the same id is delivered
/// once. Delivery histories keep their own copies.
constexpr auto event_retention = std::chrono::hours{24 * 7};
/// A replaced webhook secret signs alongside the new one this long
/// (HOOKD_SECRET_ROTATION_OVERLAP).
constexpr auto secret_rotation_overlap = std::chrono::hours{24};
/// Expired events are deleted this many at a time.
constexpr std::size_t retention_page = 1000;
/// Fan-outs that failed are tried again after this long.
constexpr auto fanout_retry = 5s;

/// A shutdown waits this long for deliveries in flight to finish.
constexpr auto shutdown_timeout = 10s;
/// Pending deliveries (all webhooks) past which ingestion answers 429.
constexpr std::int64_t max_pending = 100000;
/// Pending deliveries of one organization (HOOKD_MAX_PENDING_PER_ORG).
constexpr std::int64_t max_pending_per_org = 25000;
/// Client connections served at once (HOOKD_MAX_CONNECTIONS).
constexpr std::size_t max_connections = 4096;
/// Files the store keeps open, and connections the delivery client keeps
/// to receivers: with a margin for everything else (threads' event fds,
/// pipes, logs), what the descriptor limit keeps away from clients.
constexpr std::size_t store_open_files = 256;
constexpr std::size_t delivery_connections = 256;
constexpr std::size_t spare_descriptors = 64;
/// The longest Retry-After a receiver gets honoured, unless the retry
/// schedule itself waits longer.
constexpr auto retry_after_max
    = std::chrono::milliseconds{std::chrono::hours{1}};
/// What a 429 or 503 asks clients to wait, in seconds.
constexpr int retry_after_seconds = 5;

/// How long the node waits for a component to say it is ready.
constexpr auto component_start_timeout = 60s;
/// Revival of a node component that keeps dying backs off up to this.
constexpr auto component_backoff_max = 30s;
/// Unfinished-delivery counts reach ingest at most this late.
constexpr auto pending_report_delay = std::chrono::milliseconds{5};

/// Revival of a webhook actor that keeps crashing backs off up to this.
constexpr auto revive_backoff_max = 30s;

} // namespace hookd::defaults
