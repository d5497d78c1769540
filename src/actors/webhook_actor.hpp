#pragma once

#include <chrono>
#include <vector>

#include "hookd/actors.hpp"

namespace hookd {

/// How a webhook actor delivers.
struct delivery_settings {
  std::vector<std::chrono::milliseconds> retry_schedule;
  std::chrono::milliseconds timeout{10000};
  std::size_t history_limit = 1000;
  /// Deliveries of one webhook in flight at once; the rest wait in its queue.
  std::size_t max_in_flight = 4;
  bool testing = false;
  /// Spawned while the node shuts down: start no attempts.
  bool draining = false;
  pending_counter pending;
};

/// Spawns the actor of one webhook; it resumes the deliveries it had queued.
webhook_actor spawn_webhook(caf::actor_system& sys, webhook hook, store_ptr db,
                            delivery_actor delivery, ingest_actor ingest,
                            delivery_settings settings);

/// Store keys of a webhook: delivery records (newest sort last), the index
/// from event id to record, and the queue of unfinished deliveries.
std::string history_prefix(const std::string& hook_id);
std::string history_index_prefix(const std::string& hook_id);
std::string queue_prefix(const std::string& hook_id);

} // namespace hookd
