#pragma once
// What one partition's ingestion decides with: its bounds on pending work
// (as its registry shards report them), the ids being written, and the
// acceptance stamps. The ingest actor and, on a single node, the HTTP front
// end's I/O threads (direct_ingest.hpp) both admit events through it, so
// both see one set of counts; every member locks, so any thread may call.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/error.hpp>

#include "hookd/actors.hpp"
#include "hookd/components.hpp"
#include "hookd/event.hpp"
#include "hookd/store.hpp"

namespace hookd {

class ingest_gate {
public:
  ingest_gate(std::size_t shard_count, const ingest_limits& limits);
  ingest_gate(const ingest_gate&) = delete;
  ingest_gate& operator=(const ingest_gate&) = delete;
  /// Takes this partition's share out of the node's counts.
  ~ingest_gate();

  // Bounds.

  /// Refuses (429) while the node, or `org`, is already at its bound.
  caf::error check_room(const std::string& org);

  /// Admits events of `org` that add at most the deliveries their scopes'
  /// webhooks make: every bound holds after them. On success, those
  /// deliveries are counted as fanning out (`reserved`) until released
  /// with add_fanning(org, -reserved).
  caf::error admit(const std::string& org, const std::vector<event>& events,
                   std::int64_t& reserved);

  /// The same for `added` deliveries already counted by the caller.
  caf::error admit_count(const std::string& org, std::int64_t added);

  /// The most deliveries an event adds: the active webhooks of its scopes.
  std::int64_t deliveries_of(const event& ev);

  /// Counts (or, negative, stops counting) deliveries that events of
  /// `org` will add once fanned out.
  void add_fanning(const std::string& org, std::int64_t n);

  /// Unfinished deliveries over this partition's shards, as reported.
  std::int64_t pending();

  /// Shard `n` is gone or new: what it reported no longer counts.
  void reset_shard(std::size_t n);

  /// Shard `n` reports its unfinished deliveries and its webhook counts.
  void report(std::size_t n, std::int64_t total, const shard_report& report);

  // Ids.

  /// The organization whose event holds `id`, as far as writes under way
  /// or just made tell (reads of the store may not show them yet).
  std::optional<std::string> known_org(const std::string& id);

  /// Claims `events` as being written. An id claimed already is left out
  /// and reported in `taken` (its organization by index), to be answered
  /// as a repeat or refused.
  void claim(const std::vector<const event*>& events,
             std::vector<std::optional<std::string>>& taken);

  /// The claimed events are written (or not): a repeat now finds them in
  /// the store, or while reads of chosen ids are under way, here.
  void release(const std::vector<const event*>& events, bool written);

  /// Reads of client-chosen ids from the store start and end: events
  /// written meanwhile are remembered until none is under way.
  void begin_lookups();
  void end_lookups();

  /// A stamp that orders acceptances: nanoseconds since the epoch, always
  /// past the last one given, as 20 digits so that stamps sort as text.
  /// Kept in an event's fan-out marker, so that fan-outs a crash left
  /// unfinished are done again in the order the events were accepted (a
  /// stage such as debounce keeps the last event of a stack: replayed in
  /// another order, it would keep another).
  std::string stamp();

private:
  std::int64_t pending_locked() const;
  std::int64_t org_pending_locked(const std::string& org) const;
  std::int64_t deliveries_of_locked(const event& ev) const;
  void add_fanning_locked(const std::string& org, std::int64_t n);
  caf::error admit_locked(const std::string& org, std::int64_t added);
  /// 429 when `added` more deliveries pass the node's or `org`'s bound.
  caf::error crowded_locked(const std::string& org, std::int64_t added);
  void sync_locked();
  std::int64_t backlog_locked();

  std::mutex mutex_;
  std::int64_t max_pending_;
  std::int64_t max_pending_per_org_;
  std::shared_ptr<node_load> load_;
  std::int64_t published_backlog_ = 0;
  std::vector<std::int64_t> shard_pending_;
  std::vector<std::unordered_map<std::string, std::int64_t>> shard_org_pending_;
  std::vector<std::unordered_map<std::string, std::int64_t>> shard_scope_hooks_;
  std::int64_t fanning_ = 0;
  std::unordered_map<std::string, std::int64_t> org_fanning_;
  std::unordered_map<std::string, std::string> committing_;
  std::unordered_map<std::string, std::string> recent_;
  std::size_t lookups_ = 0;
  std::uint64_t last_stamp_ = 0;
};

using ingest_gate_ptr = std::shared_ptr<ingest_gate>;

/// Events stored before under ids a client chose: stored text by id.
using earlier_events = std::unordered_map<std::string, std::string>;

/// Decides which events of `parsed` are new and claims them in `gate`
/// (moved into `fresh`, to be written, then released with
/// release_events()), and sets `answer` to the 202's body. A repeated id
/// (in the request, being written, or in `earlier`) is acknowledged again
/// and written once, within its organization; another organization's id
/// is refused (409), and then nothing is claimed.
caf::error claim_new_events(ingest_gate& gate, parsed_events& parsed,
                            const earlier_events& earlier,
                            std::vector<event_ptr>& fresh, std::string& answer);

/// What a client is answered when the store failed to read or write its
/// events (503): nothing of them was accepted.
caf::error not_accepted(const caf::error& store_error);

/// The claimed events are written (or not).
void release_events(ingest_gate& gate, const std::vector<event_ptr>& fresh,
                    bool written);

/// Writes an accepted event with its fan-out marker (holding its acceptance
/// stamp) and its place in the order of expiry, together.
void put_event(write_batch& b, const event& ev, const std::string& stamp);

} // namespace hookd
