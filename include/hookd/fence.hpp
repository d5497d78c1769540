#pragma once

// Fencing by time (SPEC section 9): a cluster member may write to its
// partitions' stores and start deliveries only while its etcd lease is
// surely alive, that is before the time its last renewal guarantees. The
// membership moves that time forward at each renewal; the store writer and
// the delivery client ask before every commit and every attempt, so that a
// node paused past its lease (SIGSTOP, a long GC-like stall, a partition
// from etcd) does nothing when it wakes, before it learns it lost the lease.
// A single node has no fence: it is always open.

#include <chrono>

namespace hookd::fence {

/// Cluster mode: closed until the first renewal opens it.
void arm();

/// Open until `until` (steady clock).
void open_until(std::chrono::steady_clock::time_point until);

/// Closed now (the lease is gone).
void close();

/// Keeps the fence closed whatever the lease says, until release(): a
/// member that lost its lease holds it until its router has stopped the
/// partitions it served under that lease, so that none of them writes or
/// delivers under the next one.
void hold();
void release();
bool held();

/// May this node write and deliver now?
bool is_open();

} // namespace hookd::fence
