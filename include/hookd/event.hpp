#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hookd/api.hpp"
#include "hookd/events.hpp"

namespace hookd {

/// Chains of pulumi_deployments webhooks stop after this many hops.
constexpr std::uint32_t max_deployment_hops = 8;

/// An accepted event: what fan-out matches on and what formats render.
struct event {
  std::string id;   ///< a UUID: the client's, or generated
  int index = -1;   ///< in the event catalogue
  std::string org;
  std::string project;
  std::string subject; ///< the stack or environment name
  std::string body;    ///< the raw payload, Pulumi's shape, compact JSON
  std::int64_t created_at = 0;
  /// pulumi_deployments hops that led here (0 for events from clients).
  std::uint32_t hops = 0;
  /// The client chose the id (it may repeat), or the event is fanned out
  /// again after a crash: webhooks check whether they have it already.
  bool maybe_seen = false;

  const event_info& info() const {
    return event_at(index);
  }
  /// The scopes whose webhooks may take this event: the org always, and the
  /// stack or environment unless the event is org-only.
  std::vector<scope> target_scopes() const;
};

using event_ptr = std::shared_ptr<const event>;

/// Events fanned out together: one message and one store write per webhook
/// for a whole ingestion batch.
struct event_batch {
  std::vector<event_ptr> events;
};

/// Does a webhook with these masks take the event? (Empty means all.)
bool subscribed(std::uint64_t filters, std::uint8_t groups, int event_index);

/// Parses an ingestion body: one event object or an array of up to
/// `max_batch`. Errors name the failing index of a batch.
bool parse_events(std::string_view body, const std::string& org,
                  std::size_t max_batch, std::vector<event>& out, bool& batch,
                  failure& err);

/// Builds an event raised inside hookd (a queued deployment).
event make_event(const std::string& name, const std::string& org,
                 const std::string& project, const std::string& subject,
                 std::string_view data_json, std::uint32_t hops);

std::string event_storage_json(const event& ev);
bool event_from_storage(std::string_view text, event& out);

/// A canonical lowercase UUID?
bool valid_uuid(std::string_view id);

} // namespace hookd
