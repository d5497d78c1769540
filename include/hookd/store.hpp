#pragma once

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hookd/error.hpp"

namespace hookd {

/// The embedded store: an ordered key-value map on disk (RocksDB). It is
/// thread-safe; actors share it the way they share a file system, each one
/// writing only the keys it owns (see docs in store.cpp for the key layout).
class store {
public:
  /// A set of writes applied atomically.
  struct batch {
    std::vector<std::pair<std::string, std::string>> puts;
    std::vector<std::string> deletes;
    std::vector<std::string> delete_prefixes;
  };

  /// Opens (creating) the store in `dir`. `sync` fsyncs every write.
  static std::unique_ptr<store> open(const std::string& dir, bool sync,
                                     failure& err);
  virtual ~store() = default;

  /// Reads a key; false when absent. Store failures throw store_error.
  virtual bool get(std::string_view key, std::string& value) = 0;
  virtual void put(std::string_view key, std::string_view value) = 0;
  virtual void write(const batch& b) = 0;
  /// Visits keys starting with `prefix`, from `start` (inclusive, or the
  /// prefix itself when empty), in order or in reverse; stops when `visit`
  /// answers false.
  virtual void scan(std::string_view prefix, std::string_view start,
                    bool reverse,
                    const std::function<bool(std::string_view key,
                                             std::string_view value)>& visit)
    = 0;
  /// True when the store answers reads.
  virtual bool healthy() = 0;
};

/// A store operation failed; carries RocksDB's status text.
struct store_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using store_ptr = std::shared_ptr<store>;

} // namespace hookd
