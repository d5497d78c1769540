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
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/typed_actor.hpp>

#include "hookd/actors.hpp"
#include "hookd/layout.hpp"

namespace hookd {

/// Bumped when a message between nodes changes: nodes of other versions
/// are refused (etcd records it; CAF's application identifiers too).
constexpr std::uint32_t wire_version = 1;

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
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_view& x) {
  return f(caf::meta::type_name("hookd.cluster_view"), x.self, x.members,
           x.owners, x.placed, x.fenced);
}

namespace atom {
using forward = caf::atom_constant<caf::atom("forward")>;
using cluster = caf::atom_constant<caf::atom("cluster")>;
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
    caf::reacts_to<atom::cluster, std::string>>;

/// Spawns the router over the partitions `host` has open (every one on a
/// single node). In a cluster it opens and starts the partitions the
/// membership says are its own, and stops those it no longer holds.
router_actor spawn_router(caf::actor_system& sys, host_setup host);

} // namespace hookd
