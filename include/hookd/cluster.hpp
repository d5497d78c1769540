#pragma once

// What a node knows of its cluster (SPEC section 9), and the router: the
// actor that serves every API request of a node, itself or through the
// partition's owner.
//
//   HTTP front end ──api_call──► router ──► local partition (node.hpp)
//                                       └─(forward, p, api_call)─► owner's
//                                          router, over CAF's middleman
//
// A single node is the same router with every partition its own.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/typed_actor.hpp>

#include "hookd/actors.hpp"
#include "hookd/direct_routes.hpp"
#include "hookd/layout.hpp"

namespace hookd {

/// Bumped when a message between nodes changes: nodes of other versions
/// are refused (etcd records it; CAF's application identifiers too).
/// 2: replication (pulls, seeds and lag between routers).
constexpr std::uint32_t wire_version = 2;

/// A member of the cluster, as registered in etcd.
struct member_info {
  std::string name;
  std::string http;       ///< host:port of its API
  std::string host;       ///< its node-to-node address
  std::uint16_t port = 0; ///< its node-to-node port
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_info& x) {
  return f(caf::meta::type_name("hookd.member_info"), x.name, x.http, x.host,
           x.port);
}

/// A partition's owner now: a member's name (empty: none) and the epoch of
/// its claim (the ownership record's revision in etcd).
struct partition_owner {
  std::string node;
  std::int64_t epoch = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, partition_owner& x) {
  return f(caf::meta::type_name("hookd.partition_owner"), x.node, x.epoch);
}

/// A partition's copies that hold every acknowledged write: its owner and
/// the followers in sync with it, as the owner recorded them in etcd
/// (`insync/<p>`, written with its claim and at every change). When the
/// owner is gone, only these members may claim the partition.
struct replica_set {
  std::string owner;
  std::vector<std::string> followers;
  /// The record's revision in etcd (0: no record): a claim is made only
  /// against the record it read.
  std::int64_t revision = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_set& x) {
  return f(caf::meta::type_name("hookd.replica_set"), x.owner, x.followers,
           x.revision);
}

/// The routing table, as this node's membership last read it from etcd.
struct cluster_view {
  std::string self;
  std::vector<member_info> members;
  /// By partition.
  std::vector<partition_owner> owners;
  /// Placement is done: every partition has its home member.
  bool placed = false;
  /// This node could not renew its lease in time: it serves and delivers
  /// for no partition until it holds one again.
  bool fenced = false;
  /// By partition: the members that should hold it, its owner-to-be first,
  /// then its followers (HOOKD_REPLICAS of them in all, capped by the
  /// members), placed over the members that stay (none leaving). Empty
  /// until placement is done.
  std::vector<std::vector<std::string>> wanted;
  /// By partition: what its owner recorded of its copies (empty owner: no
  /// record yet, the partition never had an owner).
  std::vector<replica_set> insync;
  /// Members that are leaving the cluster for good: they hand their
  /// partitions over and then stop.
  std::vector<std::string> leaving;

  /// Whether `name` is a live member (registered under its lease).
  bool has_member(const std::string& name) const {
    for (const auto& m : members)
      if (m.name == name)
        return true;
    return false;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_view& x) {
  return f(caf::meta::type_name("hookd.cluster_view"), x.self, x.members,
           x.owners, x.placed, x.fenced, x.wanted, x.insync, x.leaving);
}

// -- Replication (SPEC section 9): a follower is seeded from a checkpoint
// of the owner's store, then pulls the owner's write-ahead log. Its next
// pull acknowledges what it applied.

/// One committed group of writes, as the owner's write-ahead log holds it.
struct log_change {
  std::uint64_t sequence = 0;
  std::uint64_t count = 0;
  std::string data;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_change& x) {
  return f(caf::meta::type_name("hookd.log_change"), x.sequence, x.count,
           x.data);
}

/// A follower asks for the changes from sequence `from` on; it has
/// applied everything before. `epoch` is the owner's epoch as the follower
/// knows it, `data_epoch` the epoch its copy came from (0: none).
struct pull_request {
  std::uint32_t partition = 0;
  std::string follower;
  std::int64_t epoch = 0;
  std::int64_t data_epoch = 0;
  std::uint64_t from = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pull_request& x) {
  return f(caf::meta::type_name("hookd.pull_request"), x.partition, x.follower,
           x.epoch, x.data_epoch, x.from);
}

/// The owner's answer: changes to apply in order (none: nothing new within
/// the wait), or `reseed`: the follower's copy cannot continue from the log
/// (another epoch's, or behind what the log keeps) and is seeded again.
struct pull_reply {
  std::int64_t epoch = 0;
  bool reseed = false;
  std::vector<log_change> changes;
  /// The owner's last sequence when it answered.
  std::uint64_t head = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pull_reply& x) {
  return f(caf::meta::type_name("hookd.pull_reply"), x.epoch, x.reseed,
           x.changes, x.head);
}

/// Seeding: `seed` 0 asks for a new checkpoint (answered with its id, its
/// files and their sizes); then chunks of file `file` from `offset`; a
/// `file` past the last ends the seed (the owner drops the checkpoint).
struct seed_request {
  std::uint32_t partition = 0;
  std::string follower;
  std::int64_t epoch = 0;
  std::uint64_t seed = 0;
  std::uint32_t file = 0;
  std::uint64_t offset = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, seed_request& x) {
  return f(caf::meta::type_name("hookd.seed_request"), x.partition, x.follower,
           x.epoch, x.seed, x.file, x.offset);
}

struct seed_reply {
  std::uint64_t seed = 0;
  std::vector<std::string> names;
  std::vector<std::uint64_t> sizes;
  std::string data;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, seed_reply& x) {
  return f(caf::meta::type_name("hookd.seed_reply"), x.seed, x.names, x.sizes,
           x.data);
}

/// How far a follower is behind its owner.
struct follower_lag {
  std::uint32_t partition = 0;
  std::string follower;
  bool in_sync = false;
  std::uint64_t behind = 0; ///< sequence numbers
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, follower_lag& x) {
  return f(caf::meta::type_name("hookd.follower_lag"), x.partition, x.follower,
           x.in_sync, x.behind);
}

struct lag_report {
  std::vector<follower_lag> items;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lag_report& x) {
  return f(caf::meta::type_name("hookd.lag_report"), x.items);
}

/// What the router asks of etcd through its membership: writes that must
/// be fenced by the partition's epoch. Calls block (etcd's round trip);
/// the router makes them from a thread of their own.
class cluster_control {
public:
  virtual ~cluster_control() = default;
  /// Records partition `p`'s copies, if this node still owns it at `epoch`.
  virtual bool record_insync(std::uint32_t p, std::int64_t epoch,
                             const replica_set& copies)
      = 0;
  /// Gives partition `p` up (a handover): its ownership record goes, if it
  /// is still this node's.
  virtual bool release(std::uint32_t p) = 0;
  /// Leaves the cluster for good: this member hands its partitions over,
  /// then stops.
  virtual void start_leaving() = 0;
};

namespace atom {
using forward = caf::atom_constant<caf::atom("forward")>;
using cluster = caf::atom_constant<caf::atom("cluster")>;
using replicate = caf::atom_constant<caf::atom("replicate")>;
using seed = caf::atom_constant<caf::atom("seed")>;
using lag = caf::atom_constant<caf::atom("lag")>;
using leave = caf::atom_constant<caf::atom("leave")>;
} // namespace atom

/// The router: a node's entry for API requests, its /healthz and /metrics,
/// and the supervisor of its partitions.
using router_actor = node_actor::extend_with<access_actor>::extend<
    // From another node's router: serve a request for partition `p`, which
    // this node owns (or answer 503 when it does not).
    caf::replies_to<atom::forward, std::uint32_t, api_call>::with<api_response>,
    // From the membership: the routing table changed.
    caf::reacts_to<atom::update, cluster_view>,
    // Internal: connect to the members not connected.
    caf::reacts_to<atom::cluster>,
    // From a member that connected to this one: its name (its router is
    // the sender). A pair of members shares one connection.
    caf::reacts_to<atom::cluster, std::string>,
    // From a follower of a partition this node owns: the next changes.
    caf::replies_to<atom::replicate, pull_request>::with<pull_reply>,
    // From a follower being seeded: a checkpoint and its files.
    caf::replies_to<atom::seed, seed_request>::with<seed_reply>,
    // How far this node's followers are behind (the owner's view).
    caf::replies_to<atom::lag>::with<lag_report>,
    // Leave the cluster for good (an admin's call).
    caf::reacts_to<atom::leave>>;

/// Spawns the router over the partitions `host` has open (every one on a
/// single node). In a cluster it opens and starts the partitions the
/// membership says are its own, and stops those it no longer holds. On a
/// single node it publishes its partitions' entries on `board`, for the
/// front end to reach them directly.
router_actor spawn_router(caf::actor_system& sys, host_setup host,
                          std::shared_ptr<cluster_control> control = nullptr,
                          route_board_ptr board = nullptr);

} // namespace hookd
