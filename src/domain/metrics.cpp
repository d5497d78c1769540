#include "hookd/metrics.hpp"

#include <array>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>

#include <dirent.h>
#include <unistd.h>

#include "hookd/defaults.hpp"

namespace hookd::metrics {
namespace {

/// Cumulative buckets, Prometheus style: counts[i] = observations <=
/// bounds[i]; the last count is +Inf.
template <std::size_t N> struct histogram {
  std::array<double, N> bounds;
  std::array<std::uint64_t, N + 1> counts{};
  double sum = 0;
  std::uint64_t count = 0;

  void observe(double v) {
    for (std::size_t i = 0; i < N; ++i)
      if (v <= bounds[i])
        ++counts[i];
    ++counts[N];
    sum += v;
    ++count;
  }
};

std::string number(double v) {
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  std::ostringstream out;
  out.precision(12);
  out << v;
  return out.str();
}

/// A label value from a fixed vocabulary: anything else is "other", so a
/// caller's mistake cannot make the series unbounded.
std::string_view known(std::string_view v,
                       std::initializer_list<std::string_view> values) {
  for (auto k : values)
    if (v == k)
      return k;
  return "other";
}

std::string_view format_label(std::string_view f) {
  return known(f, {"raw", "slack", "ms_teams", "pulumi_deployments"});
}

std::string_view result_name(attempt_result r) {
  switch (r) {
  case attempt_result::succeeded:
    return "succeeded";
  case attempt_result::retrying:
    return "retrying";
  case attempt_result::failed:
    return "failed";
  }
  return "failed";
}

/// Route names are short identifiers from the router; longer or stranger
/// ones are folded into "other".
std::string route_label(std::string_view r) {
  if (r.empty() || r.size() > 40)
    return "other";
  for (char c : r)
    if (!((c >= 'a' && c <= 'z') || c == '_'))
      return "other";
  return std::string{r};
}

/// Component names are "store", "registry-3", ...: the shard number is
/// dropped, so that the label has as many values as there are kinds.
std::string component_label(std::string_view c) {
  auto dash = c.find('-');
  if (dash != std::string_view::npos && dash + 1 < c.size()
      && c[dash + 1] >= '0' && c[dash + 1] <= '9')
    c = c.substr(0, dash);
  return route_label(c);
}

struct registry {
  std::mutex mutex;
  std::map<std::pair<std::string, int>, std::uint64_t> requests;
  histogram<11> request_seconds{
      {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5}};
  std::uint64_t events = 0;
  std::map<std::pair<std::string_view, std::string_view>, std::uint64_t>
      attempts;
  std::map<std::string_view, std::uint64_t> retries;
  std::map<std::pair<std::string_view, std::string_view>, std::uint64_t>
      deliveries;
  std::map<std::pair<std::string_view, std::string_view>, std::uint64_t> manual;
  histogram<12> attempt_seconds{
      {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}};
  histogram<15> latency_seconds{{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                                 10, 30, 60, 300, 1800, 7200}};
  std::uint64_t private_refused = 0;
  std::int64_t actors_alive = 0;
  std::uint64_t actors_started = 0;
  std::uint64_t actors_revived = 0;
  std::map<std::string_view, std::uint64_t> plugin_failures;
  std::map<std::string, std::uint64_t> restarts;
};

registry& the() {
  static registry r;
  return r;
}

const double started_at
    = std::chrono::duration<double>(
          std::chrono::system_clock::now().time_since_epoch())
          .count();

void header(std::ostringstream& out, std::string_view name,
            std::string_view type, std::string_view help) {
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type
      << '\n';
}

/// A family of one sample without labels.
template <class T>
void scalar(std::ostringstream& out, std::string_view name,
            std::string_view type, std::string_view help, const T& value) {
  header(out, name, type, help);
  out << name << ' ' << value << '\n';
}

/// A counter family with one label, from a map of its values.
template <class Map>
void labelled(std::ostringstream& out, std::string_view name,
              std::string_view help, std::string_view label, const Map& m) {
  header(out, name, "counter", help);
  for (const auto& [value, n] : m)
    out << name << '{' << label << "=\"" << value << "\"} " << n << '\n';
}

/// A counter family with two labels, from a map keyed by pairs of values.
template <class Map>
void labelled(std::ostringstream& out, std::string_view name,
              std::string_view help, std::string_view first,
              std::string_view second, const Map& m) {
  header(out, name, "counter", help);
  for (const auto& [key, n] : m)
    out << name << '{' << first << "=\"" << key.first << "\"," << second
        << "=\"" << key.second << "\"} " << n << '\n';
}

template <std::size_t N>
void write_histogram(std::ostringstream& out, std::string_view name,
                     const histogram<N>& h) {
  for (std::size_t i = 0; i < N; ++i)
    out << name << "_bucket{le=\"" << number(h.bounds[i]) << "\"} "
        << h.counts[i] << '\n';
  out << name << "_bucket{le=\"+Inf\"} " << h.counts[N] << '\n'
      << name << "_sum " << number(h.sum) << '\n'
      << name << "_count " << h.count << '\n';
}

/// Resident memory and open descriptors, from /proc (0 when unreadable).
std::pair<std::int64_t, std::int64_t> process_figures() {
  std::int64_t rss = 0;
  std::ifstream statm{"/proc/self/statm"};
  std::int64_t pages = 0, resident = 0;
  if (statm >> pages >> resident)
    rss = resident * ::sysconf(_SC_PAGESIZE);
  std::int64_t fds = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (auto* e = ::readdir(d))
      if (e->d_name[0] != '.')
        ++fds;
    ::closedir(d);
    --fds; // the directory stream itself
  }
  return {rss, fds};
}

} // namespace

void http_request(std::string_view route, int status, double seconds) {
  if (status < 100 || status > 599)
    status = 500;
  auto& r = the();
  std::lock_guard<std::mutex> g{r.mutex};
  ++r.requests[{route_label(route), status}];
  r.request_seconds.observe(seconds);
}

void events_ingested(std::size_t n) {
  auto& r = the();
  std::lock_guard<std::mutex> g{r.mutex};
  r.events += n;
}

void attempt(std::string_view format, attempt_result result, double seconds) {
  auto& r = the();
  auto f = format_label(format);
  std::lock_guard<std::mutex> g{r.mutex};
  ++r.attempts[{f, result_name(result)}];
  if (result == attempt_result::retrying)
    ++r.retries[f];
  r.attempt_seconds.observe(seconds);
}

void delivery_finished(std::string_view format, bool succeeded,
                       double latency_seconds) {
  auto& r = the();
  auto f = format_label(format);
  std::lock_guard<std::mutex> g{r.mutex};
  ++r.deliveries[{f, succeeded ? "succeeded" : "failed"}];
  if (succeeded && latency_seconds >= 0)
    r.latency_seconds.observe(latency_seconds);
}

void manual_attempt(std::string_view kind, bool succeeded) {
  auto& r = the();
  auto k = known(kind, {"ping", "redeliver"});
  std::lock_guard<std::mutex> g{r.mutex};
  ++r.manual[{k, succeeded ? "succeeded" : "failed"}];
}

void private_target_refused() {
  auto& r = the();
  std::lock_guard<std::mutex> g{r.mutex};
  ++r.private_refused;
}

void webhook_actor_started() {
  auto& r = the();
  std::lock_guard<std::mutex> g{r.mutex};
  ++r.actors_alive;
  ++r.actors_started;
}

void webhook_actor_stopped() {
  auto& r = the();
  std::lock_guard<std::mutex> g{r.mutex};
  --r.actors_alive;
}

void webhook_actor_revived() {
  auto& r = the();
  std::lock_guard<std::mutex> g{r.mutex};
  ++r.actors_revived;
}

void plugin_failure(std::string_view kind) {
  auto& r = the();
  auto k = known(kind, {"format", "destination", "stage"});
  std::lock_guard<std::mutex> g{r.mutex};
  ++r.plugin_failures[k];
}

void component_restarted(std::string_view component) {
  auto& r = the();
  auto label = component_label(component);
  std::lock_guard<std::mutex> g{r.mutex};
  ++r.restarts[label];
}

std::size_t series_count() {
  auto& r = the();
  std::lock_guard<std::mutex> g{r.mutex};
  return r.requests.size() + r.attempts.size() + r.retries.size()
         + r.plugin_failures.size() + r.deliveries.size() + r.manual.size()
         + r.restarts.size();
}

std::string render(const node_figures& node) {
  auto [rss, fds] = process_figures();
  std::ostringstream out;
  auto& r = the();
  std::lock_guard<std::mutex> g{r.mutex};

  header(out, "hookd_build_info", "gauge",
         "The running hookd's version (always 1).");
  out << "hookd_build_info{version=\"" << defaults::version << "\"} 1\n";

  labelled(out, "hookd_http_requests_total",
           "API requests answered, by route and HTTP status.", "route", "code",
           r.requests);
  header(out, "hookd_http_request_duration_seconds", "histogram",
         "Time from a request's arrival to its answer.");
  write_histogram(out, "hookd_http_request_duration_seconds",
                  r.request_seconds);

  scalar(out, "hookd_events_ingested_total", "counter",
         "Events accepted for fan-out.", r.events);

  labelled(out, "hookd_delivery_attempts_total",
           "Attempts of queued deliveries, by format and what followed.",
           "format", "result", r.attempts);
  labelled(out, "hookd_delivery_retries_total",
           "Attempts that failed and scheduled another, by format.", "format",
           r.retries);
  labelled(out, "hookd_deliveries_total",
           "Deliveries ended for good, by format and outcome.", "format",
           "outcome", r.deliveries);
  labelled(out, "hookd_manual_attempts_total",
           "Pings and redeliveries, by kind and outcome.", "kind", "outcome",
           r.manual);
  header(out, "hookd_delivery_duration_seconds", "histogram",
         "Duration of one delivery attempt (the HTTP exchange).");
  write_histogram(out, "hookd_delivery_duration_seconds", r.attempt_seconds);
  header(out, "hookd_event_to_delivery_seconds", "histogram",
         "Time from an event's fan-out to a webhook to its successful "
         "delivery there, retries included.");
  write_histogram(out, "hookd_event_to_delivery_seconds", r.latency_seconds);
  scalar(out, "hookd_private_targets_refused_total", "counter",
         "Delivery attempts refused because the URL resolved to a private "
         "address.",
         r.private_refused);

  scalar(out, "hookd_deliveries_pending", "gauge",
         "Deliveries recorded and not yet finished.", node.pending);

  scalar(out, "hookd_webhook_actors_alive", "gauge",
         "Webhook actors running now (idle ones stop and start on demand).",
         r.actors_alive);
  scalar(out, "hookd_webhook_actors_started_total", "counter",
         "Webhook actors started.", r.actors_started);
  scalar(out, "hookd_webhook_actors_revived_total", "counter",
         "Webhook actors revived after a crash.", r.actors_revived);
  labelled(out, "hookd_plugin_failures_total",
           "Plugin behaviours that threw or whose host stopped, by kind; the "
           "delivery or event concerned records the error.",
           "kind", r.plugin_failures);
  labelled(out, "hookd_component_restarts_total",
           "Node components (store, registry, ingest, ...) restarted after "
           "stopping unexpectedly.",
           "component", r.restarts);

  scalar(out, "hookd_partitions_running", "gauge",
         "Partitions with their actors running on this node.",
         node.partitions_running);
  if (node.clustered) {
    scalar(out, "hookd_cluster_members", "gauge", "Members registered in etcd.",
           node.members);
    scalar(out, "hookd_partitions_owned", "gauge", "Partitions this node owns.",
           node.partitions_owned);
    scalar(out, "hookd_partitions_unowned", "gauge",
           "Partitions no live member owns (their organizations get 503).",
           node.partitions_unowned);
    scalar(out, "hookd_cluster_peers_unreachable", "gauge",
           "Members this node cannot reach over the cluster port.",
           node.peers_unreachable);
    scalar(out, "hookd_fenced", "gauge",
           "1 while this node holds no live lease (it writes and delivers "
           "nothing).",
           node.fenced ? 1 : 0);
    scalar(out, "hookd_partitions_followed", "gauge",
           "Partitions of other members this node keeps a copy of.",
           node.partitions_followed);
    scalar(out, "hookd_followers_in_sync", "gauge",
           "Followers of this node's partitions that every write waits for.",
           node.followers_in_sync);
    scalar(out, "hookd_followers_out_of_sync", "gauge",
           "Followers of this node's partitions being seeded or catching up.",
           node.followers_out_of_sync);
    scalar(out, "hookd_replication_lag_max", "gauge",
           "The most writes (sequence numbers) any follower of this node's "
           "partitions is behind.",
           node.replication_lag_max);
    scalar(out, "hookd_partition_moves_total", "counter",
           "Partitions this node handed over to another member.", node.moves);
    scalar(out, "hookd_partition_reseeds_total", "counter",
           "Copies of partitions seeded on this node from a checkpoint.",
           node.reseeds);
  }
  if (node.store_known) {
    scalar(out, "hookd_store_sst_bytes", "gauge",
           "Size of the store's table files on disk.", node.store_sst_bytes);
    scalar(out, "hookd_store_memtable_bytes", "gauge",
           "Data written to the store and not yet in a table file.",
           node.store_memtable_bytes);
  }

  scalar(out, "process_resident_memory_bytes", "gauge",
         "Resident memory size in bytes.", rss);
  scalar(out, "process_open_fds", "gauge", "Open file descriptors.", fds);
  scalar(out, "process_start_time_seconds", "gauge",
         "Start time of the process since the epoch, in seconds.",
         number(std::floor(started_at)));
  return out.str();
}

} // namespace hookd::metrics
