#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include "hookd/error.hpp"

namespace hookd {

/// A set of writes applied atomically: prefix deletes first, then deletes,
/// then puts.
struct write_batch {
  std::vector<std::pair<std::string, std::string>> puts;
  std::vector<std::string> deletes;
  std::vector<std::string> delete_prefixes;

  bool empty() const {
    return puts.empty() && deletes.empty() && delete_prefixes.empty();
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_batch& x) {
  return f(caf::meta::type_name("hookd.write_batch"), x.puts, x.deletes,
           x.delete_prefixes);
}

/// A key read: found or not, and its value.
struct read_result {
  bool found = false;
  std::string value;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, read_result& x) {
  return f(caf::meta::type_name("hookd.read_result"), x.found, x.value);
}

/// Keys to read together; the answer holds one result per key, in order.
struct read_request {
  std::vector<std::string> keys;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, read_request& x) {
  return f(caf::meta::type_name("hookd.read_request"), x.keys);
}

struct read_results {
  std::vector<read_result> items;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, read_results& x) {
  return f(caf::meta::type_name("hookd.read_results"), x.items);
}

/// A range of keys under a prefix, from `start` (inclusive; the prefix when
/// empty), forward or in reverse, at most `limit` of them (0: all); with
/// `keys_only` the values stay behind (answered empty). With `shards`
/// above 0, only keys of the scopes that registry shard `shard` owns are
/// answered (the scope key is what lies between the prefix and the key's
/// last '/'), and `limit` counts the keys looked at: a shard loading its
/// part pages through the whole range without copying the rest.
struct scan_request {
  std::string prefix;
  std::string start;
  bool reverse = false;
  std::size_t limit = 0;
  bool keys_only = false;
  std::uint32_t shards = 0;
  std::uint32_t shard = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, scan_request& x) {
  return f(caf::meta::type_name("hookd.scan_request"), x.prefix, x.start,
           x.reverse, x.limit, x.keys_only, x.shards, x.shard);
}

struct scan_result {
  std::vector<std::pair<std::string, std::string>> items;
  /// Stopped by its limit: the range goes on after `last_seen`.
  bool truncated = false;
  std::string last_seen;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, scan_result& x) {
  return f(caf::meta::type_name("hookd.scan_result"), x.items, x.truncated,
           x.last_seen);
}

/// What the stores of all partitions share (one block cache, one budget
/// for their memtables), so that many partitions cost no more memory than
/// one store. Made by make_store_resources; opaque outside the store.
struct store_resources;
using store_resources_ptr = std::shared_ptr<store_resources>;

store_resources_ptr make_store_resources(std::size_t block_cache_bytes,
                                         std::size_t write_buffer_bytes);

/// How a store is opened.
struct store_options {
  /// fsync every commit.
  bool sync = false;
  /// Shared with the other partitions' stores; null: a cache of its own.
  store_resources_ptr shared;
  /// Table files kept open (0: defaults::store_open_files).
  int max_open_files = 0;
  /// How long the write-ahead log is kept for followers that fall behind
  /// (0: RocksDB's default, deleted once flushed).
  std::uint64_t keep_log_seconds = 0;
};

/// The embedded store: an ordered key-value map on disk (RocksDB). It is
/// thread-safe. Every key prefix has one owning actor, the only one that
/// writes it (src/store/keys.hpp); writes go through the store writer actor,
/// which commits them in groups.
class store {
public:
  using visitor
      = std::function<bool(std::string_view key, std::string_view value)>;

  /// Opens (creating) the store in `dir`. `sync` fsyncs every commit.
  static caf::expected<std::shared_ptr<store>> open(const std::string& dir,
                                                    bool sync);
  static caf::expected<std::shared_ptr<store>>
  open(const std::string& dir, const store_options& options);
  virtual ~store() = default;

  /// Reads a key: its value, std::nullopt when absent, or an error.
  virtual caf::expected<std::optional<std::string>> get(std::string_view key)
      = 0;
  /// Applies batches in order as one atomic write: one WAL record and, with
  /// sync, one fsync for the whole group.
  virtual caf::error commit(const std::vector<write_batch>& group) = 0;
  /// Visits keys starting with `prefix`, from `start` (inclusive, or the
  /// prefix itself when empty), in order or in reverse; stops when `visit`
  /// answers false.
  virtual caf::error scan(std::string_view prefix, std::string_view start,
                          bool reverse, const visitor& visit)
      = 0;
  /// Reads a key from memory only (memtables and block cache), never
  /// waiting for the disk: std::nullopt when the answer needs the disk.
  virtual std::optional<caf::expected<std::optional<std::string>>>
  get_cached(std::string_view key) = 0;
  /// Scans from memory only; false when the scan needs the disk (what was
  /// visited by then is to be thrown away).
  virtual bool scan_cached(std::string_view prefix, std::string_view start,
                           bool reverse, const visitor& visit)
      = 0;
  /// True when the store answers reads.
  virtual bool healthy() = 0;
  /// The sequence number of the last commit.
  virtual std::uint64_t sequence() = 0;
  /// How much the store holds: its table files on disk and what is
  /// written but still in memory, in bytes (for /metrics).
  struct sizes {
    std::uint64_t sst_bytes = 0;
    std::uint64_t memtable_bytes = 0;
  };
  virtual sizes size() = 0;

  // -- Replication (SPEC section 9): a follower is seeded from a
  // checkpoint, then tails the owner's write-ahead log.

  /// A consistent copy of the store in `dir` (which must not exist), made
  /// of hard links where it can: it opens at the store's sequence now.
  virtual caf::error checkpoint(const std::string& dir) = 0;

  /// One committed group as the write-ahead log holds it: its first
  /// sequence number, how many it uses, and its raw bytes.
  struct change {
    std::uint64_t sequence = 0;
    std::uint64_t count = 0;
    std::string data;
  };
  /// The committed groups from sequence `from` on, at most `max_bytes` of
  /// them (at least one). An error with ec::not_found when the log no
  /// longer reaches back to `from` (the follower must be seeded again):
  /// never a silent skip.
  virtual caf::expected<std::vector<change>>
  changes_since(std::uint64_t from, std::size_t max_bytes) = 0;
  /// Applies a group read by changes_since on another store, which must be
  /// exactly at its sequence; an error (nothing applied) otherwise.
  virtual caf::error apply(const change& c) = 0;

  /// Applies one batch on the calling thread (start-up, tests).
  caf::error commit(write_batch b) {
    std::vector<write_batch> group;
    group.push_back(std::move(b));
    return commit(group);
  }
};

using store_ptr = std::shared_ptr<store>;

} // namespace hookd
