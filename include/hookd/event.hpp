#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include "hookd/api.hpp"
#include "hookd/events.hpp"

namespace hookd {

/// Chains of pulumi_deployments webhooks stop after this many hops.
constexpr std::uint32_t max_deployment_hops = 8;
/// Deployments one client event may set off in all, however many
/// pulumi_deployments webhooks pass it on: hops bound a chain's depth,
/// this its width.
constexpr std::uint32_t max_deployments_per_event = 64;

/// An accepted event: what fan-out matches on and what formats render.
struct event {
  std::string id; ///< a UUID: the client's, or generated
  int index = -1; ///< in the event catalogue
  std::string org;
  std::string project;
  std::string subject; ///< the stack or environment name
  std::string body;    ///< the raw payload, Pulumi's shape, compact JSON
  std::int64_t created_at = 0;
  /// pulumi_deployments hops that led here (0 for events from clients).
  std::uint32_t hops = 0;
  /// The client event that set off the chain of deployments that raised
  /// this one; empty for events from clients.
  std::string root;
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

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event& x) {
  return f(caf::meta::type_name("hookd.event"), x.id, x.index, x.org, x.project,
           x.subject, x.body, x.created_at, x.hops, x.root, x.maybe_seen);
}

using event_ptr = std::shared_ptr<const event>;

/// Events fanned out together: one message and one store write per webhook
/// for a whole ingestion batch. Inside one process the events are shared
/// (a fan-out to a thousand webhooks copies no payload); across processes
/// they are serialized by value.
struct event_batch {
  std::vector<event_ptr> events;
};

template <class Inspector>
typename std::enable_if<Inspector::reads_state,
                        typename Inspector::result_type>::type
inspect(Inspector& f, event_batch& x) {
  std::vector<event> values;
  values.reserve(x.events.size());
  for (const auto& ev : x.events)
    values.push_back(*ev);
  return f(caf::meta::type_name("hookd.event_batch"), values);
}

template <class Inspector>
typename std::enable_if<Inspector::writes_state,
                        typename Inspector::result_type>::type
inspect(Inspector& f, event_batch& x) {
  std::vector<event> values;
  auto result = f(caf::meta::type_name("hookd.event_batch"), values);
  x.events.clear();
  for (auto& ev : values)
    x.events.push_back(std::make_shared<const event>(std::move(ev)));
  return result;
}

/// Does a webhook with these masks take the event? (Empty means all.)
bool subscribed(std::uint64_t filters, std::uint8_t groups, int event_index);

/// An ingestion body, parsed.
struct parsed_events {
  std::vector<event> events;
  bool batch = false; ///< an array (answered with "ids"), not one object
};

/// Parses an ingestion body: one event object or an array of up to
/// `max_batch`. Errors name the failing index of a batch.
caf::expected<parsed_events> parse_events(std::string_view body,
                                          const std::string& org,
                                          std::size_t max_batch);

/// Builds an event raised inside hookd (a queued deployment), `hops` into
/// the chain set off by client event `root`.
event make_event(const std::string& name, const std::string& org,
                 const std::string& project, const std::string& subject,
                 std::string_view data_json, std::uint32_t hops,
                 const std::string& root);

std::string event_storage_json(const event& ev);
bool event_from_storage(std::string_view text, event& out);

/// A canonical lowercase UUID?
bool valid_uuid(std::string_view id);

} // namespace hookd
