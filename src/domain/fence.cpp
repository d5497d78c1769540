#include "hookd/fence.hpp"

#include <atomic>
#include <cstdint>
#include <limits>

namespace hookd::fence {

namespace {

using clock = std::chrono::steady_clock;

/// Nanoseconds of the steady clock until which the fence is open; the
/// largest value when there is no fence (a single node).
std::atomic<std::int64_t> open_until_ns{
    std::numeric_limits<std::int64_t>::max()};
std::atomic<bool> holding{false};

} // namespace

void arm() {
  open_until_ns.store(0);
}

void open_until(clock::time_point until) {
  open_until_ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                          until.time_since_epoch())
                          .count());
}

void close() {
  open_until_ns.store(0);
}

void hold() {
  holding.store(true);
}

void release() {
  holding.store(false);
}

bool held() {
  return holding.load();
}

bool is_open() {
  if (holding.load(std::memory_order_relaxed))
    return false;
  auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                 clock::now().time_since_epoch())
                 .count();
  return now < open_until_ns.load(std::memory_order_relaxed);
}

} // namespace hookd::fence
