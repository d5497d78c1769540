#pragma once

// A node's membership in its cluster, kept in etcd (SPEC section 9):
//
//   <prefix>meta            {"partitions": P, "wire": W}: fixed by the first
//                           member; a node with others is refused
//   <prefix>members/<name>  its addresses, under its lease
//   <prefix>placement       each partition's home member, written once by
//                           whichever member first sees HOOKD_CLUSTER_SIZE
//                           members (rendezvous hashing, balanced)
//   <prefix>owners/<p>      the member serving partition p now, under its
//                           lease; the record's revision is the epoch
//
// A thread renews the lease (and moves the fence, fence.hpp), claims the
// partitions placed here (taking back those still recorded under its own
// name from before a restart), and hands the router every new routing
// table; a watch on the prefix makes changes arrive at once.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <caf/expected.hpp>

#include "hookd/cluster.hpp"
#include "hookd/config.hpp"

namespace hookd {

/// The router's way to etcd (cluster_control): it exists before the node
/// joins and outlives the membership; calls fail while none is bound.
class membership_control : public cluster_control {
public:
  bool record_insync(std::uint32_t p, std::int64_t epoch,
                     const replica_set& copies) override;
  bool release(std::uint32_t p) override;
  void start_leaving() override;
  void bind(cluster_control* target);

private:
  std::mutex mtx_;
  cluster_control* target_ = nullptr;
};

class membership {
public:
  /// Reaches etcd, checks the cluster's partition count and wire version
  /// against this node's, and registers `self` under a new lease; fails
  /// with a message that says what to do (etcd unreachable, a mismatch).
  static caf::expected<std::unique_ptr<membership>> join(const config& cfg,
                                                         member_info self);

  ~membership();

  /// Starts renewing, claiming and watching; routing tables go to
  /// `router`, which reaches etcd through `control`. `on_left` runs once
  /// this member, leaving for good, holds nothing others count on.
  void start(router_actor router, std::shared_ptr<membership_control> control,
             std::function<void()> on_left);

  /// This node's API address, once it listens.
  void set_http(std::string address);

  /// Leaves for now (a clean stop): the lease is revoked, so the
  /// partitions are free at once rather than when the lease would expire.
  void leave();

  struct impl;

private:
  explicit membership(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

/// `hookd leave`: asks the node this configuration describes (its HTTP
/// port on this machine) to leave its cluster for good; with `wait`, until
/// it has stopped, within `deadline`. A line for the operator, or why not.
caf::expected<std::string> ask_to_leave(const config& cfg, bool wait,
                                        std::chrono::seconds deadline);

} // namespace hookd
