#pragma once

// hookd's etcd v3 client, for cluster membership and partition ownership
// (SPEC section 9). It speaks to etcd's HTTP/JSON gateway (POST /v3/...)
// through libcurl: no gRPC, no client library, no consensus of our own.
//
// Every call blocks for at most the client's timeout and fails with a
// hookd error (include/hookd/error.hpp):
//   ec::unavailable  etcd could not be reached or did not answer in time, or
//                    answered that it cannot serve now (no leader, ...);
//                    a retry may cure it
//   ec::not_found    a lease that no longer exists
//   ec::bad_request  etcd refused the request as malformed
//   ec::internal     etcd's answer was not what the gateway sends (not JSON,
//                    a missing field, larger than max_answer_bytes)

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace hookd::etcd {

/// The largest answer a call reads, and the largest single message of a
/// watch stream: past it the call fails rather than hold an unbounded body.
constexpr std::size_t max_answer_bytes = 8 * 1024 * 1024;

/// One key as etcd holds it. Keys and values are bytes.
struct kv {
  std::string key;
  std::string value;
  /// The revision that created the key (its current incarnation): unique
  /// per creation, so it serves as a fencing token. 0 means no such key.
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
  /// Writes since creation (1 after the first put).
  std::int64_t version = 0;
  /// The lease the key is attached to; 0 for none.
  std::int64_t lease = 0;
};

/// The outcome of a conditional write. `created` says whether this call
/// wrote; `current` is the record now in etcd either way: the one written,
/// or the one that made the condition fail (create_revision 0 when the key
/// does not exist at all).
struct claim_result {
  bool created = false;
  kv current;
};

/// One change a watch reports. A delete carries only the key and its
/// mod_revision (the revision of the delete).
struct event {
  bool deleted = false;
  kv item;
};

/// The range end that selects every key starting with `prefix`: the prefix
/// with its last byte that is not 0xff incremented and what follows
/// dropped; "\0" (every key) for an empty prefix or one of only 0xff bytes.
std::string prefix_end(const std::string& prefix);

/// A blocking client. Thread-safe: calls from several threads run
/// concurrently, each on its own connection.
class client {
public:
  /// `endpoints` are client URLs such as "http://127.0.0.1:2379", tried in
  /// turn when one refuses connections; the one that answered last is tried
  /// first next time. `timeout` bounds each call, every endpoint tried
  /// included.
  client(std::vector<std::string> endpoints, std::chrono::milliseconds timeout);
  ~client();

  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// A new lease of `ttl`; its id.
  caf::expected<std::int64_t> grant(std::chrono::seconds ttl);

  /// Renews a lease once; the TTL it now has, in seconds. ec::not_found when
  /// the lease expired or was revoked (its keys are gone).
  caf::expected<std::int64_t> keepalive(std::int64_t lease);

  /// Ends a lease and deletes its keys. A lease that is already gone is not
  /// an error: what the caller wanted holds.
  caf::error revoke(std::int64_t lease);

  /// The key, or std::nullopt when it does not exist.
  caf::expected<std::optional<kv>> get(const std::string& key);

  /// Every key starting with `prefix`, sorted by key. When `revision` is
  /// given it receives the store's revision the answer reflects: a watch
  /// from revision + 1 misses nothing and repeats nothing.
  caf::expected<std::vector<kv>> range(const std::string& prefix,
                                       std::int64_t* revision = nullptr);

  /// Writes a key, attached to `lease` unless it is 0.
  caf::error put(const std::string& key, const std::string& value,
                 std::int64_t lease = 0);

  /// Deletes a key; deleting a key that does not exist is not an error.
  caf::error erase(const std::string& key);

  /// Writes the key only if it does not exist (one transaction).
  caf::expected<claim_result> create_if_absent(const std::string& key,
                                               const std::string& value,
                                               std::int64_t lease = 0);

  /// create_if_absent, and when it writes, also writes the `also` keys
  /// (without a lease) in the same transaction. With a `guard` key, only
  /// if that key was last written at `guard_mod_revision` too (0: only if
  /// it does not exist).
  caf::expected<claim_result> create_if_absent_with(
      const std::string& key, const std::string& value, std::int64_t lease,
      const std::vector<std::pair<std::string, std::string>>& also,
      const std::string& guard = {}, std::int64_t guard_mod_revision = 0);
  /// Writes `key` only if `guard` was last written at `mod_revision` (one
  /// transaction): whether it did.
  caf::expected<bool> put_if_revision(const std::string& guard,
                                      std::int64_t mod_revision,
                                      const std::string& key,
                                      const std::string& value);
  /// Writes `new_value` under `lease` only if the key holds
  /// `expected_value` now (one transaction). The key keeps its
  /// create_revision: a restarting node takes back what it recorded under
  /// a lease it lost without changing the record's epoch.
  caf::expected<claim_result>
  put_if_value(const std::string& key, const std::string& expected_value,
               const std::string& new_value, std::int64_t lease = 0,
               const std::vector<std::pair<std::string, std::string>>& also
               = {});

  /// Deletes the key only if it holds `expected_value`; whether it did.
  caf::expected<bool> erase_if_value(const std::string& key,
                                     const std::string& expected_value);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// A watch of every key under a prefix, on a thread of its own: one
/// streaming POST /v3/watch. `on_events` receives the changes of each
/// revision in order, on the watch's thread. When the stream ends for any
/// reason but stop() (etcd went away, the start revision was compacted,
/// etcd cancelled the watch), `on_broken` is called once with the reason and
/// the watch does nothing more: the user ranges again and starts a new watch
/// from the range's revision + 1.
///
/// A watch does not notice an etcd that hangs with its connection open: a
/// quiet stream is what no change looks like. The lease keepalives notice
/// it (they time out).
///
/// The callbacks must not destroy the watch; they may call stop().
class watch {
public:
  /// Watches from `start_revision` (0: from now). `connect_timeout` bounds
  /// the connection to each endpoint, tried in turn.
  watch(std::vector<std::string> endpoints, std::string prefix,
        std::int64_t start_revision,
        std::function<void(std::vector<event>)> on_events,
        std::function<void(caf::error)> on_broken,
        std::chrono::milliseconds connect_timeout = std::chrono::seconds{2});
  ~watch();

  watch(const watch&) = delete;
  watch& operator=(const watch&) = delete;

  /// Ends the stream promptly; no callback runs once it returns, unless it
  /// is called from one. Idempotent.
  void stop();

private:
  struct state;
  std::shared_ptr<state> state_;
  std::thread thread_;
};

} // namespace hookd::etcd
