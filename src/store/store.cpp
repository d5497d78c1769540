// The RocksDB store. Key layout (every key starts with a one-letter table):
//
//   c/<scope key>/<hook name>   webhook configuration (secret sealed)
//   h/<hook id>/<seq>           a webhook's delivery records
//   t/<token id>                an organization token (hash only)
//   m/<name>                    node metadata, e.g. m/admin-token
//
// Scope keys are "o/<org>", "s/<org>/<project>/<stack>", "e/<org>/<project>/<env>";
// names never contain '/', so a scope's hooks are exactly one key prefix.
#include "hookd/store.hpp"

#include <filesystem>

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

namespace hookd {

namespace {

rocksdb::Slice slice(std::string_view s) {
  return {s.data(), s.size()};
}

void check(const rocksdb::Status& st) {
  if (!st.ok())
    throw store_error(st.ToString());
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
  rocks_store(std::unique_ptr<rocksdb::DB> db, bool sync)
    : db_(std::move(db)) {
    write_.sync = sync;
  }

  bool get(std::string_view key, std::string& value) override {
    auto st = db_->Get(rocksdb::ReadOptions{}, slice(key), &value);
    if (st.IsNotFound())
      return false;
    check(st);
    return true;
  }

  void put(std::string_view key, std::string_view value) override {
    check(db_->Put(write_, slice(key), slice(value)));
  }

  void write(const batch& b) override {
    rocksdb::WriteBatch wb;
    for (const auto& prefix : b.delete_prefixes) {
      auto end = prefix_end(prefix);
      check(wb.DeleteRange(slice(prefix), slice(end)));
    }
    for (const auto& key : b.deletes)
      check(wb.Delete(slice(key)));
    for (const auto& [key, value] : b.puts)
      check(wb.Put(slice(key), slice(value)));
    check(db_->Write(write_, &wb));
  }

  void scan(std::string_view prefix, std::string_view start, bool reverse,
            const std::function<bool(std::string_view, std::string_view)>&
              visit) override {
    rocksdb::ReadOptions ro;
    std::string upper = prefix_end(std::string{prefix});
    rocksdb::Slice upper_slice{upper};
    if (!upper.empty())
      ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(ro)};
    if (!reverse) {
      it->Seek(slice(start.empty() ? prefix : start));
      for (; it->Valid(); it->Next()) {
        auto k = it->key();
        if (!k.starts_with(slice(prefix)))
          break;
        if (!visit({k.data(), k.size()},
                   {it->value().data(), it->value().size()}))
          break;
      }
    } else {
      if (start.empty())
        it->SeekToLast();
      else
        it->SeekForPrev(slice(start));
      for (; it->Valid(); it->Prev()) {
        auto k = it->key();
        if (!k.starts_with(slice(prefix)))
          break;
        if (!visit({k.data(), k.size()},
                   {it->value().data(), it->value().size()}))
          break;
      }
    }
    check(it->status());
  }

  bool healthy() override {
    std::string ignored;
    auto st = db_->Get(rocksdb::ReadOptions{}, "m/health", &ignored);
    return st.ok() || st.IsNotFound();
  }

private:
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteOptions write_;
};

} // namespace

std::unique_ptr<store> store::open(const std::string& dir, bool sync,
                                   failure& err) {
  std::error_code fs_err;
  std::filesystem::create_directories(dir, fs_err);
  if (fs_err) {
    err = {ec::internal,
           "cannot create data directory '" + dir + "': " + fs_err.message()};
    return nullptr;
  }
  rocksdb::Options options;
  options.create_if_missing = true;
  // Small values, point reads and prefix scans: a bloom filter and a
  // modest block cache keep reads cheap without holding the data in memory.
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(32 * 1024 * 1024);
  // Most point reads ask for keys that do not exist (has this webhook seen
  // this event?): a bloom filter answers those without reading blocks.
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  options.IncreaseParallelism(2);
  options.max_open_files = 256;
  options.keep_log_file_num = 3;
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::Open(options, dir + "/db", &raw);
  if (!st.ok()) {
    err = {ec::internal,
           "cannot open the store in '" + dir + "': " + st.ToString()};
    return nullptr;
  }
  return std::make_unique<rocks_store>(std::unique_ptr<rocksdb::DB>{raw}, sync);
}

} // namespace hookd
