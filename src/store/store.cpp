// The RocksDB store: the only translation unit that includes RocksDB. The
// key layout is in include/hookd/keys.hpp.
#include "hookd/store.hpp"
#include "hookd/defaults.hpp"
#include "hookd/log.hpp"

#include <cstdarg>
#include <cstdio>
#include <cstring>

#include <filesystem>
#include <limits>

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/table.h>
#include <rocksdb/transaction_log.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>

namespace hookd {

namespace {

rocksdb::Slice slice(std::string_view s) {
  return {s.data(), s.size()};
}

caf::error failed(const rocksdb::Status& st) {
  return make_error(ec::unavailable, "the store failed: " + st.ToString());
}

/// The first key after every key that starts with `prefix`.
std::string prefix_end(std::string prefix) {
  while (!prefix.empty()) {
    auto& c = prefix.back();
    if (static_cast<unsigned char>(c) != 0xff) {
      ++c;
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;
}

class rocks_store final : public store {
public:
  rocks_store(std::unique_ptr<rocksdb::DB> db, bool sync) : db_(std::move(db)) {
    write_.sync = sync;
  }

  /// A clean stop writes the memtables out, so that the next start does
  /// not replay the whole write-ahead log (after a crash it does).
  ~rocks_store() override {
    rocksdb::FlushOptions fo;
    fo.wait = true;
    db_->Flush(fo).PermitUncheckedError();
  }

  caf::expected<std::optional<std::string>> get(std::string_view key) override {
    std::string value;
    auto st = db_->Get(rocksdb::ReadOptions{}, slice(key), &value);
    if (st.IsNotFound())
      return std::optional<std::string>{};
    if (!st.ok())
      return failed(st);
    return std::optional<std::string>{std::move(value)};
  }

  caf::error commit(const std::vector<write_batch>& group) override {
    rocksdb::WriteBatch wb;
    for (const auto& b : group) {
      for (const auto& prefix : b.delete_prefixes) {
        auto end = prefix_end(prefix);
        if (auto st = wb.DeleteRange(slice(prefix), slice(end)); !st.ok())
          return failed(st);
      }
      for (const auto& key : b.deletes)
        if (auto st = wb.Delete(slice(key)); !st.ok())
          return failed(st);
      for (const auto& [key, value] : b.puts)
        if (auto st = wb.Put(slice(key), slice(value)); !st.ok())
          return failed(st);
    }
    if (auto st = db_->Write(write_, &wb); !st.ok())
      return failed(st);
    return caf::none;
  }

  caf::error scan(std::string_view prefix, std::string_view start, bool reverse,
                  const visitor& visit) override {
    auto st = iterate(rocksdb::ReadOptions{}, prefix, start, reverse, visit);
    if (!st.ok())
      return failed(st);
    return caf::none;
  }

  std::optional<caf::expected<std::optional<std::string>>>
  get_cached(std::string_view key) override {
    // Not Get with kBlockCacheTier: when the key's table file is not open
    // yet (a store just opened, or a table reader evicted under
    // max_open_files), RocksDB answers it OK with an empty value, "it may
    // exist". KeyMayExist says whether the value was actually read.
    rocksdb::ReadOptions ro;
    ro.read_tier = rocksdb::kBlockCacheTier;
    std::string value;
    bool value_found = false;
    if (!db_->KeyMayExist(ro, slice(key), &value, &value_found))
      return caf::expected<std::optional<std::string>>{std::nullopt};
    if (!value_found)
      return std::nullopt;
    return caf::expected<std::optional<std::string>>{std::move(value)};
  }

  bool scan_cached(std::string_view prefix, std::string_view start,
                   bool reverse, const visitor& visit) override {
    rocksdb::ReadOptions ro;
    ro.read_tier = rocksdb::kBlockCacheTier;
    return iterate(ro, prefix, start, reverse, visit).ok();
  }

  sizes size() override {
    sizes out;
    std::uint64_t v = 0;
    if (db_->GetIntProperty("rocksdb.total-sst-files-size", &v))
      out.sst_bytes = v;
    if (db_->GetIntProperty("rocksdb.cur-size-all-mem-tables", &v))
      out.memtable_bytes = v;
    return out;
  }

  std::uint64_t sequence() override {
    return db_->GetLatestSequenceNumber();
  }

  caf::error checkpoint(const std::string& dir) override {
    rocksdb::Checkpoint* raw = nullptr;
    auto st = rocksdb::Checkpoint::Create(db_.get(), &raw);
    if (!st.ok())
      return failed(st);
    std::unique_ptr<rocksdb::Checkpoint> cp{raw};
    std::error_code fs_err;
    std::filesystem::create_directories(dir, fs_err);
    if (fs_err)
      return make_error(ec::internal,
                        "cannot create '" + dir + "': " + fs_err.message());
    // The whole write-ahead log goes along, so that the copy opens at the
    // sequence of the last commit.
    st = cp->CreateCheckpoint(dir + "/db",
                              std::numeric_limits<uint64_t>::max());
    if (!st.ok())
      return failed(st);
    return caf::none;
  }

  caf::expected<std::vector<change>>
  changes_since(std::uint64_t from, std::size_t max_bytes) override {
    std::vector<change> out;
    if (from > db_->GetLatestSequenceNumber())
      return out;
    std::unique_ptr<rocksdb::TransactionLogIterator> it;
    auto st = db_->GetUpdatesSince(from, &it);
    if (!st.ok())
      return make_error(ec::not_found, "the log does not reach back to "
                                           + std::to_string(from) + ": "
                                           + st.ToString());
    std::size_t bytes = 0;
    for (; it->Valid(); it->Next()) {
      auto batch = it->GetBatch();
      auto count = static_cast<std::uint64_t>(batch.writeBatchPtr->Count());
      // GetUpdatesSince starts at the group that holds `from`, or silently
      // at a later one when the log was cut: a gap is an error.
      if (out.empty()
          && (batch.sequence > from || batch.sequence + count <= from))
        return make_error(ec::not_found,
                          "the log does not reach back to "
                              + std::to_string(from) + " (it starts at "
                              + std::to_string(batch.sequence) + ")");
      out.push_back({batch.sequence, count, batch.writeBatchPtr->Data()});
      bytes += out.back().data.size();
      if (bytes >= max_bytes)
        break;
    }
    if (!it->status().ok() && out.empty())
      return failed(it->status());
    return out;
  }

  caf::error apply(const change& c) override {
    auto next = db_->GetLatestSequenceNumber() + 1;
    if (c.sequence != next)
      return make_error(ec::conflict, "the store is at "
                                          + std::to_string(next - 1)
                                          + "; this change starts at "
                                          + std::to_string(c.sequence));
    rocksdb::WriteBatch wb{c.data};
    if (auto st = db_->Write(write_, &wb); !st.ok())
      return failed(st);
    return caf::none;
  }

  bool healthy() override {
    std::string ignored;
    auto st = db_->Get(rocksdb::ReadOptions{}, "m/health", &ignored);
    return st.ok() || st.IsNotFound();
  }

private:
  /// Visits a prefix's keys with `ro`; answers the iterator's final status.
  rocksdb::Status iterate(rocksdb::ReadOptions ro, std::string_view prefix,
                          std::string_view start, bool reverse,
                          const visitor& visit) {
    std::string upper = prefix_end(std::string{prefix});
    rocksdb::Slice upper_slice{upper};
    if (!upper.empty())
      ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(ro)};
    auto visit_all = [&](auto step) {
      for (; it->Valid(); step()) {
        auto k = it->key();
        if (!k.starts_with(slice(prefix)))
          break;
        if (!visit({k.data(), k.size()},
                   {it->value().data(), it->value().size()}))
          break;
      }
    };
    if (!reverse) {
      it->Seek(slice(start.empty() ? prefix : start));
      visit_all([&] { it->Next(); });
    } else {
      if (start.empty())
        it->SeekToLast();
      else
        it->SeekForPrev(slice(start));
      visit_all([&] { it->Prev(); });
    }
    return it->status();
  }

  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteOptions write_;
};

} // namespace

namespace {

/// RocksDB's own log, for all partitions together: its warnings and errors
/// go to hookd's log; the rest (a file per instance by default, an open
/// descriptor each) is dropped.
class store_logger final : public rocksdb::Logger {
public:
  store_logger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format,
            va_list ap) override {
    if (level < GetInfoLogLevel())
      return;
    char line[1024];
    std::vsnprintf(line, sizeof(line), format, ap);
    // Checkpoints for followers turn file deletions off and on again; two
    // at once make RocksDB warn about its counter, which is no trouble.
    if (level < rocksdb::InfoLogLevel::ERROR_LEVEL
        && std::strstr(line, "File Deletions") != nullptr)
      return;
    if (level >= rocksdb::InfoLogLevel::ERROR_LEVEL)
      log::error("store", {{"rocksdb", std::string{line}}});
    else
      log::warn("store", {{"rocksdb", std::string{line}}});
  }
};

} // namespace

struct store_resources {
  std::shared_ptr<rocksdb::Cache> cache;
  std::shared_ptr<rocksdb::WriteBufferManager> write_buffers;
  std::shared_ptr<rocksdb::Logger> logger = std::make_shared<store_logger>();
};

store_resources_ptr make_store_resources(std::size_t block_cache_bytes,
                                         std::size_t write_buffer_bytes) {
  auto out = std::make_shared<store_resources>();
  out->cache = rocksdb::NewLRUCache(block_cache_bytes);
  // Memtables count against the block cache too, so that the two budgets
  // together bound what all partitions hold in memory.
  out->write_buffers = std::make_shared<rocksdb::WriteBufferManager>(
      write_buffer_bytes, out->cache);
  return out;
}

caf::expected<std::shared_ptr<store>> store::open(const std::string& dir,
                                                  bool sync) {
  store_options options;
  options.sync = sync;
  return open(dir, options);
}

caf::expected<std::shared_ptr<store>> store::open(const std::string& dir,
                                                  const store_options& opts) {
  std::error_code fs_err;
  // The database's own directory too: RocksDB reports a missing one as an
  // error while it creates it.
  std::filesystem::create_directories(dir + "/db", fs_err);
  if (fs_err)
    return make_error(ec::internal, "cannot create data directory '" + dir
                                        + "': " + fs_err.message());
  rocksdb::Options options;
  options.create_if_missing = true;
  // Small values, point reads and prefix scans: a bloom filter and a
  // modest block cache keep reads cheap without holding the data in memory.
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = opts.shared ? opts.shared->cache
                                  : rocksdb::NewLRUCache(32 * 1024 * 1024);
  if (opts.shared) {
    options.write_buffer_manager = opts.shared->write_buffers;
    options.info_log = opts.shared->logger;
    // Many small instances: smaller memtables, flushed sooner.
    options.write_buffer_size = 8 * 1024 * 1024;
  }
  // Most point reads ask for keys that do not exist (has this webhook seen
  // this event?): a bloom filter answers those without reading blocks.
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  options.IncreaseParallelism(2);
  options.max_open_files = opts.max_open_files > 0
                               ? opts.max_open_files
                               : static_cast<int>(defaults::store_open_files);
  options.keep_log_file_num = 3;
  if (opts.keep_log_seconds > 0)
    options.WAL_ttl_seconds = opts.keep_log_seconds;
  // and at most this much of it, whichever comes first.
  if (opts.keep_log_seconds > 0)
    options.WAL_size_limit_MB = 64;
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::Open(options, dir + "/db", &raw);
  if (!st.ok())
    return make_error(ec::internal, "cannot open the store in '" + dir
                                        + "': " + st.ToString());
  return std::shared_ptr<store>{std::make_shared<rocks_store>(
      std::unique_ptr<rocksdb::DB>{raw}, opts.sync)};
}

} // namespace hookd
