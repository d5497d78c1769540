#pragma once
// The partitions a single node's HTTP front end may reach without passing
// through its router: each running partition's entry (access) actor,
// published by the router whenever one starts, stops or moves. A request
// goes straight to its partition's entry when the router would only have
// handed it on; everything the router decides itself (a cluster member's
// requests, another organization's token, the token-only and admin-only
// routes) still goes through it.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "hookd/actors.hpp"
#include "hookd/read_board.hpp"

namespace hookd {

struct direct_routes {
  /// Hex SHA-256 of the admin token.
  std::string admin_hash;
  /// By partition; null where a request must go through the router (the
  /// partition is starting, stopping or not served here).
  std::vector<access_actor> entries;
  /// By partition, beside its entry: what the front end answers from.
  std::vector<partition_reads_ptr> reads;
};

/// Where the router publishes the routes and the front end reads them,
/// from any thread.
class route_board {
public:
  void publish(std::shared_ptr<const direct_routes> routes) {
    std::atomic_store(&current_, std::move(routes));
  }
  std::shared_ptr<const direct_routes> read() const {
    return std::atomic_load(&current_);
  }

private:
  std::shared_ptr<const direct_routes> current_;
};

using route_board_ptr = std::shared_ptr<route_board>;

/// The partition `call` may go to directly under `routes`, or nothing when
/// the router must see it.
std::optional<std::uint32_t> direct_partition(const direct_routes& routes,
                                              const api_call& call);

/// The answer to `call` the front end may give itself, or nothing when an
/// actor must answer: a GET of one webhook whose answer its registry shard
/// keeps, with the admin token or a token of the webhook's organization.
/// Anything else (no such answer kept, a token the table does not hold, a
/// foreign token, another operation) goes to the actors, which answer it
/// as they always did, errors included.
std::optional<std::string> kept_answer(const direct_routes& routes,
                                       const api_call& call);

/// An ingestion the front end took on itself (POST …/events), admitted
/// and ready to write: `writes` holds its new events, claimed in their
/// partition's gate, to be committed with commit_ingests(); once written,
/// they go to the partition's ingest actor to be fanned out (and
/// `reserved` released) before `answer`, the 202's body, is given. No new
/// events: all were repeats, answered with no write and no fan-out.
struct direct_ingest {
  std::shared_ptr<const ingest_door> door;
  std::string org;
  event_batch fresh;
  std::int64_t reserved = 0;
  write_batch writes;
  std::string answer;
};

/// Admits `call` (POST …/events) on the calling thread, as the partition's
/// ingest actor would, when the partition lets its front end write
/// (partition_reads::ingest) and `call` carries the admin token or a token
/// of its organization that the published table holds. The answer is the
/// ingestion to commit, or the error to answer with; nothing when the
/// call must go to the actors, which answer it as they always did (so
/// too when an id the client chose cannot be looked up from memory: the
/// actors read the disk on their store readers, not an I/O thread).
std::optional<caf::expected<direct_ingest>>
prepare_ingest(const direct_routes& routes, const api_call& call);

/// Commits prepared ingestions whose door writes here, those of one
/// partition in one write, and settles them (settle_ingests). By index:
/// none, or why that one was not written. Those whose door does not write
/// here are left as they are.
std::vector<caf::error> commit_ingests(std::vector<direct_ingest>& all);

/// After the write of ingestions through `door` (their new events and the
/// deliveries they reserved, `turn`): their claims are released; when it
/// failed (`err`), so are their reservations, and nothing of them counts
/// as ingested.
void settle_ingests(const ingest_door& door, const ingest_turn& turn,
                    const caf::error& err);

} // namespace hookd
