#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

/// hookd's figures for Prometheus (GET /metrics, text format 0.0.4).
///
/// Process-wide counters, gauges and histograms, safe from any thread.
/// Every label takes its values from a small fixed set, so the number of
/// series is bounded whatever clients do: routes are the router's own
/// names, statuses are HTTP codes, formats and outcomes are hookd's; an org,
/// stack, hook or event name is never a label.
namespace hookd::metrics {

/// An API request answered: `route` is one of the router's route names
/// (see http::route_name), `status` the HTTP code, `seconds` from the
/// request's arrival to its answer.
void http_request(std::string_view route, int status, double seconds);

/// Events accepted by POST /api/orgs/{org}/events (and raised inside).
void events_ingested(std::size_t n);

/// What one delivery attempt led to.
enum class attempt_result : std::uint8_t { succeeded, retrying, failed };

/// One attempt of a queued delivery (not pings or redeliveries), in a
/// webhook's format, that took `seconds`.
void attempt(std::string_view format, attempt_result r, double seconds);

/// A delivery ended, for good: succeeded or failed. `latency_seconds` is
/// from its event's fan-out to this webhook to the end (negative: unknown,
/// as for deliveries recovered after a restart).
void delivery_finished(std::string_view format, bool succeeded,
                       double latency_seconds);

/// A manual attempt: a ping or a redelivery.
void manual_attempt(std::string_view kind, bool succeeded);

/// A delivery refused because its URL resolved to a private address.
void private_target_refused();

/// Webhook actors: one started, one gone, one revived after a crash.
void webhook_actor_started();
void webhook_actor_stopped();
void webhook_actor_revived();

/// A plugin's behaviour failed: `kind` is "format", "destination" or
/// "stage" (it threw, or its host stopped); the rest of the node went on.
void plugin_failure(std::string_view kind);

/// A node component stopped unexpectedly and is being started again.
void component_restarted(std::string_view component);

/// What the node adds at scrape time.
struct node_figures {
  std::int64_t pending = 0;         ///< deliveries recorded, not yet finished
  std::int64_t store_sst_bytes = 0; ///< the store's table files on disk
  std::int64_t store_memtable_bytes = 0; ///< written, not yet in a file
  bool store_known = false;              ///< false: the store did not answer
  std::int64_t partitions_running = 0;
  /// Cluster mode (SPEC section 9).
  bool clustered = false;
  std::int64_t members = 0;
  std::int64_t partitions_owned = 0;
  std::int64_t partitions_unowned = 0;
  std::int64_t peers_unreachable = 0;
  bool fenced = false;
  /// Replication, as this node's leaders and followers see it.
  std::int64_t partitions_followed = 0;
  std::int64_t followers_in_sync = 0;
  std::int64_t followers_out_of_sync = 0;
  std::int64_t replication_lag_max = 0; ///< sequence numbers
  std::int64_t moves = 0;
  std::int64_t reseeds = 0;
};

/// The whole scrape, in Prometheus text format 0.0.4.
std::string render(const node_figures& node);

/// How many distinct series the label sets hold now (for the label-bound
/// tests).
std::size_t series_count();

} // namespace hookd::metrics
