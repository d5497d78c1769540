#pragma once

// A node's data directory (SPEC section 9):
//
//   <data dir>/node.json              layout version, partition count, the
//                                     admin token's hash when hookd made it
//   <data dir>/master.key             the master key (when not configured)
//   <data dir>/partitions/<p>/db/     one RocksDB instance a partition
//
// A data directory of the single-store layout (<data dir>/db/) is
// converted on its first start: every key goes to the partition of the
// organization it belongs to, and the old store is kept, renamed, beside.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "hookd/behaviours.hpp"
#include "hookd/config.hpp"
#include "hookd/crypto.hpp"
#include "hookd/store.hpp"

namespace hookd {

/// What a node starts from, prepared before any actor runs.
struct host_setup {
  config cfg;
  /// The stores shared resources (one block cache, one memtable budget).
  store_resources_ptr resources;
  /// The open partitions' stores, by partition (null: not open here).
  std::vector<store_ptr> stores;
  std::shared_ptr<const crypto::sealer> sealer;
  /// Hex SHA-256 of the admin token.
  std::string admin_hash;
  /// Set when no admin token existed and one was generated: shown once,
  /// stored only as a hash.
  std::string new_admin_token;
  std::shared_ptr<const behaviour_registry> behaviours;
};

/// Reads (or creates) the data directory's layout, converting the
/// single-store layout, and loads the master key and the admin token's hash.
/// With `open_all`, opens every partition's store that exists (a single
/// node); the others, and a cluster member's, open when they start
/// (open_partition).
caf::expected<host_setup> prepare_host(const config& cfg, bool open_all);

/// Opens (creating) partition `p`'s store.
caf::expected<store_ptr> open_partition(const host_setup& host,
                                        std::uint32_t p);

/// The directory of partition `p` under `data_dir`.
std::string partition_dir(const std::string& data_dir, std::uint32_t p);

/// Whether partition `p` has a store under `data_dir` (it ever held data).
bool partition_exists(const std::string& data_dir, std::uint32_t p);

/// Converts a data directory of the single-store layout into `partitions`
/// partitions: answers how many keys moved. Exposed for tests.
caf::expected<std::size_t> convert_single_store(const config& cfg,
                                                std::uint32_t partitions);

} // namespace hookd
