#pragma once
// What a running partition lets its single node's HTTP front end answer
// without an actor: the kept answers to GET of one webhook, which only the
// partition's registry shards fill and drop, and its organization tokens,
// which only its access actor publishes. The front end reads both from its
// I/O threads; whatever it does not find there goes to the actors as
// before, so a missing entry costs a hop, never a wrong answer.

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "hookd/actors.hpp"

namespace hookd {

/// Answers to GET of one webhook, by index key ("<scope key>/<name>"), at
/// most `budget` bytes, the oldest dropped first. Thread-safe.
///
/// A change of a webhook forgets its entry when the change starts and again
/// when it is committed, before it is answered; an answer rendered from a
/// read that began before a change is not kept (remember() with the count
/// of changes seen when the read began). So once a change is answered, no
/// reader finds what it replaced.
class answer_cache {
public:
  explicit answer_cache(std::size_t budget) : budget_(budget) {}

  std::optional<std::string> find(const std::string& key) const;

  /// Changes so far: take before reading what remember() will keep.
  std::uint64_t changes() const;

  /// Keeps `body` for `key` unless a change came after `changes_seen`.
  void remember(const std::string& key, const std::string& body,
                std::uint64_t changes_seen);

  /// Webhook `key` changes: its entry goes, and reads under way do not
  /// bring it back.
  void forget(const std::string& key);

  std::size_t bytes() const;

private:
  void drop(std::unordered_map<std::string, std::string>::iterator it);

  const std::size_t budget_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::string> entries_;
  std::deque<std::string> order_;
  std::size_t bytes_ = 0;
  std::uint64_t changes_ = 0;
};

/// A partition's organization tokens as its access actor holds them.
struct token_table {
  struct token {
    std::string org;
    std::string digest; ///< hex SHA-256 of the whole token
  };
  std::unordered_map<std::string, token> by_id;
};

class ingest_gate;

/// A partition's ingestion as its front end may take it on
/// (direct_routes.hpp): the bounds and ids it admits through, the actor
/// that fans out what was written, and where it is written: the store
/// itself, from the I/O thread, when `write_here`; else the store writer,
/// whose answer waits for an fsync (HOOKD_SYNC=1) or for the followers.
struct ingest_door {
  std::shared_ptr<ingest_gate> gate;
  ingest_actor ingest;
  store_ptr db;
  store_writer_actor writer;
  bool write_here = false;
};

/// One partition's board: a cache per registry shard, its tokens and its
/// ingestion.
class partition_reads {
public:
  /// A cache for each of the defaults::registry_shards shards, each of
  /// defaults::rendered_cache_bytes.
  partition_reads();
  partition_reads(std::size_t shards, std::size_t budget_per_shard);

  const std::shared_ptr<answer_cache>& answers(std::size_t shard) const {
    return answers_[shard];
  }
  std::size_t shards() const {
    return answers_.size();
  }

  /// An access actor starting on this partition claims the table: it is
  /// emptied (organization tokens go to the actors until the new actor has
  /// loaded them), and only the newest claimant may publish, so an old
  /// actor still on its way out cannot bring back a token deleted since.
  std::uint64_t claim_tokens();

  /// The access actor publishes its table whenever a token comes or goes,
  /// before it answers the change; while the table is null, no
  /// organization token is taken here. Ignored unless `claim` is the
  /// newest claim.
  void publish_tokens(std::uint64_t claim,
                      std::shared_ptr<const token_table> tokens);

  std::shared_ptr<const token_table> tokens() const {
    return std::atomic_load(&tokens_);
  }

  /// An ingest actor starting on this partition claims the door, as the
  /// access actor claims the tokens: it is closed until the new actor
  /// opens it, and only the newest claimant may open or close it.
  std::uint64_t claim_ingest();

  /// Opens (or, with null, closes) the door. Ignored unless `claim` is the
  /// newest claim.
  void publish_ingest(std::uint64_t claim,
                      std::shared_ptr<const ingest_door> door);

  std::shared_ptr<const ingest_door> ingest() const {
    return std::atomic_load(&ingest_);
  }

private:
  std::vector<std::shared_ptr<answer_cache>> answers_;
  std::mutex claim_mutex_;
  std::uint64_t claim_ = 0;
  std::shared_ptr<const token_table> tokens_;
  std::uint64_t ingest_claim_ = 0;
  std::shared_ptr<const ingest_door> ingest_;
};

using partition_reads_ptr = std::shared_ptr<partition_reads>;

} // namespace hookd
