#pragma once

// Partition replication (SPEC section 9). Each partition this node owns has
// a leader beside its actor tree; each partition it follows has a follower.
//
//   follower ──(replicate, pull_request)──► its router ──► owner's router
//                                                          └─► leader
//   store writer ──(wait, seq)──► leader: answered once every in-sync
//                                 follower applied seq
//
// A follower is seeded from a checkpoint of the owner's store (files sent
// in chunks), then pulls the owner's write-ahead log from its next
// sequence; each pull acknowledges what came before. A copy from another
// epoch, or one behind what the log keeps, is seeded again, never patched.
// The leader records in etcd which followers are in sync (cluster_control)
// before it counts on them, and drops one that lags before it stops
// waiting for it: only a member of that record may claim the partition
// when its owner is gone.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <caf/fwd.hpp>
#include <caf/typed_actor.hpp>

#include "hookd/cluster.hpp"

namespace hookd {

namespace atom {
using wait = caf::atom_constant<caf::atom("wait")>;
using handover = caf::atom_constant<caf::atom("handover")>;
using tick = caf::atom_constant<caf::atom("tick")>;
using insync = caf::atom_constant<caf::atom("insync")>;
using release = caf::atom_constant<caf::atom("release")>;
} // namespace atom

/// The owner's side of one partition.
using leader_actor = caf::typed_actor<
    // A follower's pull (its router delegates it here).
    caf::replies_to<atom::replicate, pull_request>::with<pull_reply>,
    // A follower being seeded.
    caf::replies_to<atom::seed, seed_request>::with<seed_reply>,
    // From the store writer: answered once sequence `seq` is on every
    // follower in sync (at once when the partition has no follower to
    // have), or an error when this node gives the partition up first.
    caf::replies_to<atom::wait, std::uint64_t>::with<std::uint64_t>,
    // The routing table changed (followers wanted, members alive).
    caf::reacts_to<atom::update, cluster_view>,
    // The followers and how far behind they are.
    caf::replies_to<atom::lag>::with<lag_report>,
    // A handover to `member`: answered true once it is in sync and has
    // every write (the partition's tree has stopped), false past a deadline.
    caf::replies_to<atom::handover, std::string>::with<bool>,
    // Internal: timeouts, lag checks, old checkpoints.
    caf::reacts_to<atom::tick>,
    // Internal: the outcome of recording the in-sync followers in etcd.
    caf::reacts_to<atom::insync, bool, replica_set>>;

/// The follower's side of one partition: it has no interface; it pulls.
using follower_actor = caf::typed_actor<caf::reacts_to<atom::tick>>;

/// Blocking etcd writes on a thread of their own, for the router and its
/// leaders.
using etcd_worker_actor = caf::typed_actor<
    caf::replies_to<atom::insync, std::uint32_t, std::int64_t,
                    replica_set>::with<bool>,
    caf::replies_to<atom::release, std::uint32_t>::with<bool>,
    caf::reacts_to<atom::leave>>;

etcd_worker_actor spawn_etcd_worker(caf::actor_system& sys,
                                    std::shared_ptr<cluster_control> control);

struct leader_setup {
  std::uint32_t partition = 0;
  std::string self; ///< this member's name
  std::int64_t epoch = 0;
  /// The epoch this node's copy was of when it took the partition (0:
  /// none), and the store's sequence then: a follower's copy of that epoch
  /// no further than this is a prefix of this epoch's history, and goes on
  /// from the log rather than being seeded again.
  std::int64_t prev_epoch = 0;
  std::uint64_t start_seq = 0;
  store_ptr db;
  std::string data_dir;
  etcd_worker_actor etcd;
  /// How long a follower in sync may leave a write unacknowledged before
  /// it is dropped from the record, and how long writes wait for a
  /// follower before the log says so.
  std::chrono::milliseconds lag_limit{2000};
  std::chrono::milliseconds wait_limit{5000};
  /// A follower further behind than this is seeded again.
  std::uint64_t backlog = 1000000;
  cluster_view view;
};

leader_actor spawn_leader(caf::actor_system& sys, leader_setup setup);

struct follower_setup {
  std::uint32_t partition = 0;
  std::string self;
  std::int64_t epoch = 0; ///< the owner's
  std::string data_dir;
  /// This node's router: it carries pulls to the owner.
  router_actor router;
  /// Opens (creating) the partition's store once its copy is in place.
  std::function<caf::expected<store_ptr>()> open;
  /// Counts copies seeded (for /metrics).
  std::shared_ptr<std::atomic<std::uint64_t>> reseeds;
};

follower_actor spawn_follower(caf::actor_system& sys, follower_setup setup);

/// The epoch the copy in partition `p`'s directory came from (0: unknown).
std::int64_t data_epoch(const std::string& data_dir, std::uint32_t p);
void write_data_epoch(const std::string& data_dir, std::uint32_t p,
                      std::int64_t epoch);

} // namespace hookd
