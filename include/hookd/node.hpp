#pragma once

#include <atomic>
#include <memory>
#include <string>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "hookd/actors.hpp"
#include "hookd/behaviours.hpp"
#include "hookd/components.hpp"
#include "hookd/config.hpp"
#include "hookd/crypto.hpp"

namespace hookd {

/// What a node starts from, prepared before any actor runs.
struct node_setup {
  config cfg;
  store_ptr db;
  std::shared_ptr<const crypto::sealer> sealer;
  /// Hex SHA-256 of the admin token.
  std::string admin_hash;
  /// The behaviours webhooks may name: the built-ins and the plugins'.
  std::shared_ptr<const behaviour_registry> behaviours;
  /// The node's delivery client, shared by its partitions; null: the
  /// partition spawns and supervises one of its own.
  delivery_actor delivery;
  /// Threads of the store readers.
  std::size_t reader_threads = 2;
  /// What the node's partitions count together (components.hpp).
  std::shared_ptr<node_load> load;
  /// In a cluster: the partition's leader, which its writes wait for.
  leader_actor leader;
  /// What the front end may answer from (read_board.hpp); null: the
  /// partition keeps its own, which no front end reads.
  partition_reads_ptr reads;
};

/// One partition on its own (tests and tools; hookd itself starts from
/// prepare_host, layout.hpp): opens a store in cfg.data_dir and loads the
/// master key; cfg.admin_token must be set.
caf::expected<node_setup> prepare_node(const config& cfg);

/// The 32-byte master key: cfg.master_key, or the key file in the data
/// directory (created with mode 0600 when missing).
caf::expected<std::string> load_master_key(const config& cfg);

/// The sealer of webhook secrets, from the master key (load_master_key).
caf::expected<std::shared_ptr<const crypto::sealer>>
make_sealer(const config& cfg);

/// Spawns the node, the root supervisor. It spawns its components in
/// dependency order: store writer, store readers, delivery client, ingest,
/// deployments, the registry shards, access. It monitors each; one that dies is
/// revived after a back-off together with every component spawned after it
/// (they hold its handle), and stopped components go in reverse order when the
/// node gets an exit message.
node_actor spawn_node(caf::actor_system& sys, node_setup setup);

} // namespace hookd
