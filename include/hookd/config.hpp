#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "hookd/error.hpp"
#include "hookd/log.hpp"

namespace hookd {

/// Every setting of a hookd node. Loaded from a config file, then overridden
/// by HOOKD_* environment variables.
struct config {
  std::string bind;
  std::uint16_t http_port = 0;
  std::string data_dir;
  std::string admin_token; ///< empty: generate one on first start
  std::string master_key;  ///< 64 hex digits; empty: key file in data_dir
  std::vector<std::chrono::milliseconds> retry_schedule;
  std::chrono::milliseconds delivery_timeout{0};
  /// How long an API request may take inside hookd before its client gets
  /// 503 (ping and redeliver get the delivery timeout on top).
  std::chrono::milliseconds request_timeout{0};
  std::string slack_url_prefix;
  std::string ca_file;
  bool allow_private_targets = false;
  bool sync = false;
  /// How long a shutdown waits for deliveries in flight.
  std::chrono::milliseconds shutdown_timeout{0};
  /// Deliveries pending across all webhooks past which ingestion answers
  /// 429 instead of taking more.
  std::int64_t max_pending = 0;
  /// The same bound for one organization, so that one whose receivers are
  /// down does not make every other organization's ingestion answer 429.
  std::int64_t max_pending_per_org = 0;
  /// Webhooks one organization may have (0: no bound).
  std::int64_t max_hooks_per_org = 0;
  /// Webhooks of one organization that use plugin behaviours (a pipeline
  /// or a destination other than "http"): each runs threads of its own.
  std::int64_t max_plugin_hooks_per_org = 0;
  /// How long accepted events are kept (and their ids known).
  std::chrono::milliseconds event_retention{0};
  /// How long a replaced webhook secret keeps signing too.
  std::chrono::milliseconds secret_rotation_overlap{0};
  /// Client connections served at once; also kept below what the file
  /// descriptor limit leaves after the store and the delivery client.
  std::size_t max_connections = 0;
  /// The API over HTTPS: PEM files of the server's certificate (chain) and
  /// its private key, both or neither. With them hookd serves HTTPS only;
  /// load_config has checked that they can be read and belong together.
  std::string tls_cert;
  std::string tls_key;
  /// Lines below this level are not logged (HOOKD_LOG_LEVEL).
  log::level log_level = log::level::info;
  /// Shared libraries of behaviours (plugin.hpp), opened at start in this
  /// order (`plugins = a.so, b.so`, HOOKD_PLUGINS).
  std::vector<std::string> plugins;
  /// Partitions the data is split into by organization (HOOKD_PARTITIONS):
  /// fixed when the data directory (or the cluster) is created.
  std::uint32_t partitions = 0;
  /// This node's name: unique in a cluster (default: the host name).
  std::string node_name;
  /// Cluster mode (SPEC section 9): set when `cluster_etcd` is not empty.
  struct cluster_settings {
    std::vector<std::string> etcd; ///< etcd client URLs
    std::string prefix;            ///< etcd key prefix, ending in '/'
    std::string bind;              ///< node-to-node address
    std::uint16_t port = 0;        ///< node-to-node port (0: any)
    std::uint32_t size = 1;        ///< members the first start waits for
    std::chrono::milliseconds lease_ttl{0};
    std::uint32_t replicas = 0;
    /// Writes a follower may be behind and still catch up from the log;
    /// past it, it is seeded again from a checkpoint.
    std::uint64_t backlog = 0;
    std::string ca, cert, key; ///< mutual TLS between nodes (PEM files)
  } cluster;
  bool clustered() const {
    return !cluster.etcd.empty();
  }
  /// Testing aid: webhook actors accept a crash message. Never set in
  /// production; only the test harness turns it on.
  bool testing = false;
};

/// Looks up an environment variable; injectable for tests.
using env_lookup
    = std::function<std::optional<std::string>(const std::string&)>;

/// The process environment.
env_lookup process_env();

/// Builds the configuration: defaults, then the file at `path` (if not
/// empty), then the environment. Fails naming the bad setting.
caf::expected<config> load_config(const std::string& path,
                                  const env_lookup& env);

/// Parses "0s,200ms,1s,5m,2h" into durations.
bool parse_duration_list(const std::string& text,
                         std::vector<std::chrono::milliseconds>& out);
bool parse_duration(const std::string& text, std::chrono::milliseconds& out);

} // namespace hookd
