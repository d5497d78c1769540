// A webhook actor: owns one webhook's delivery queue and history (h/, hx/
// and q/ of its id in keys.hpp) and the state of its pipeline stages (p/).
// It records each event it takes before answering (after its stage host
// passed it through the pipeline, when it has one), attempts deliveries
// through the delivery client (or asks the deployments actor, for
// pulumi_deployments), and retries by its policy.
#include <algorithm>
#include <deque>
#include <memory>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "delivery_record.hpp"
#include "hookd/behaviours.hpp"
#include "hookd/components.hpp"
#include "hookd/defaults.hpp"
#include "hookd/formats.hpp"
#include "hookd/keys.hpp"
#include "hookd/log.hpp"
#include "hookd/metrics.hpp"
#include "hookd/signature.hpp"
#include "reads.hpp"
#include "retry_policy.hpp"

namespace hookd {

namespace {

using domain::record_json;
using namespace std::chrono_literals;

/// The delivery client answers within the request timeout; this margin
/// covers queueing inside hookd.
constexpr auto reply_margin = 5s;
constexpr auto outbox_delay = std::chrono::milliseconds{1};
constexpr std::size_t outbox_max = 256;
/// Keys a prune on the store readers reads past the excess it deletes.
constexpr std::size_t prune_window_margin = 64;

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::uint64_t now_micros() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
}

/// A seed for a webhook's jitter. Opening a random_device per actor made
/// starting 100,000 of them slow: one per thread seeds the rest.
std::uint32_t seed() {
  thread_local std::mt19937 seeder{std::random_device{}()};
  return static_cast<std::uint32_t>(seeder());
}

/// Where a queued event stands in a chain of deployments: what a
/// pulumi_deployments webhook's deployment of it counts against.
struct chain {
  std::uint32_t hops = 0;
  std::string root; ///< empty: the event is the root
};

chain chain_of(const event& ev) {
  return {ev.hops, ev.root.empty() ? ev.id : ev.root};
}

/// The queue marker's value: the chain, which the record does not hold.
std::string marker_text(const chain& c) {
  record_json j{{"hops", c.hops}};
  if (c.hops > 0)
    j["root"] = c.root;
  return j.dump();
}

chain chain_from_marker(const std::string& id, const std::string& text) {
  auto marker = record_json::parse(text, nullptr, false);
  chain c;
  if (marker.is_object()) {
    c.hops = marker.value("hops", 0u);
    c.root = marker.value("root", std::string{});
  }
  if (c.root.empty())
    c.root = id;
  return c;
}

struct queued {
  record_json record;
  std::string seq;
  chain from;
  /// When it was recorded (ms since the epoch), for the event-to-delivery
  /// figure; 0 for deliveries recovered after a restart.
  std::int64_t recorded_ms = 0;
};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Counts the webhook actors alive for /metrics, for as long as the state
/// lives.
struct alive_count {
  alive_count() {
    metrics::webhook_actor_started();
  }
  ~alive_count() {
    metrics::webhook_actor_stopped();
  }
  alive_count(const alive_count&) = delete;
  alive_count& operator=(const alive_count&) = delete;
};

using attempt_done = std::function<void(const header_list&, http_result)>;

struct webhook_state {
  static inline const char* name = "hookd.webhook";
  alive_count alive;
  webhook hook;
  webhook_setup setup;
  std::optional<domain::retry_policy> policy;
  /// Unfinished deliveries by event id, and those waiting for a slot.
  std::unordered_map<std::string, queued> pending;
  std::deque<std::string> ready;
  std::size_t in_flight = 0;
  std::uint64_t last_seq = 0;
  std::size_t history_count = 0;
  /// Where the next prune scan starts: everything before it is gone.
  std::string prune_cursor;
  /// A prune's scan or write is under way.
  bool pruning = false;
  std::uint64_t activity = 0;
  bool draining = false;
  /// Asked to drain: answered once no attempt is in flight and every
  /// outcome is on disk (allocated only then: most actors never drain).
  std::unique_ptr<std::vector<caf::typed_response_promise<bool>>> drain_waiters;
  /// Requests held unanswered on purpose (test builds, stall_hook).
  std::vector<caf::typed_response_promise<api_response>> stalled;
  /// Pings and redeliveries under way.
  std::size_t sync_in_flight = 0;
  std::minstd_rand rng{seed()};
  /// Outcomes of attempts, written together a moment later: one store write
  /// for many deliveries. Lost in a crash, they only cause a redelivery.
  write_batch outbox;
  /// Finished deliveries in the outbox, reported to the registry with it.
  std::int64_t outbox_finished = 0;
  bool flush_scheduled = false;
  /// The host of a plugin destination, spawned on the first attempt and
  /// again after it failed; null for the HTTP POST.
  destination_actor destination;
  /// The host of the pipeline's stages, spawned at start and on demand
  /// when the webhook has a pipeline; null otherwise.
  stage_actor stages;
  /// Timers the stages have armed, as their host last said: the actor
  /// does not stop when idle while they wait.
  std::uint32_t stage_timers = 0;
  /// The stages' host stopped before it could say whether it holds
  /// anything (say, its start-up read failed): a new one is spawned at the
  /// next idle tick, and the actor stays until then.
  bool stages_lost = false;

  /// Whatever way the actor ends, what it still has to write is sent to
  /// the writer (which commits it in order after everything sent before).
  ~webhook_state() {
    if (setup.writer && !outbox.empty())
      caf::anon_send(setup.writer, atom::write::value, std::move(outbox));
    if (destination)
      caf::anon_send_exit(destination, caf::exit_reason::user_shutdown);
    if (stages)
      caf::anon_send_exit(stages, caf::exit_reason::user_shutdown);
  }
};

using self_ptr = webhook_actor::stateful_pointer<webhook_state>;

std::string record_key(self_ptr self, const std::string& seq,
                       const std::string& event_id) {
  return keys::history_prefix(self->state.hook.id) + seq + '/' + event_id;
}

std::string index_key(self_ptr self, const std::string& event_id) {
  return keys::history_index_prefix(self->state.hook.id) + event_id;
}

std::string queue_key(self_ptr self, const std::string& event_id) {
  return keys::queue_prefix(self->state.hook.id) + event_id;
}

void tell_registry(self_ptr self, std::int64_t delta) {
  if (delta != 0)
    self->send(self->state.setup.registry, atom::pending::value, delta);
}

/// Sends a batch to the writer; `done` runs once it is on disk.
template <class OnOk, class OnError>
void write(self_ptr self, write_batch b, OnOk on_ok, OnError on_error) {
  self->request(self->state.setup.writer, caf::infinite, atom::write::value,
                std::move(b))
      .then([=](std::uint64_t) mutable { on_ok(); },
            [=](caf::error& err) mutable { on_error(err); });
}

/// Writes the outbox; `then` runs once everything written so far is on
/// disk (reads after it see every outcome).
template <class Then> void flush(self_ptr self, Then then) {
  auto& st = self->state;
  tell_registry(self, -st.outbox_finished);
  st.outbox_finished = 0;
  auto b = std::move(st.outbox);
  st.outbox = {};
  write(
      self, std::move(b), [=]() mutable { then(caf::error{}); },
      [=](caf::error& err) mutable { then(err); });
}

void schedule_flush(self_ptr self) {
  auto& st = self->state;
  if (st.outbox.puts.size() >= outbox_max) {
    flush(self, [](const caf::error&) {
      // Outcomes lost with a failed write only cause a redelivery.
    });
  } else if (!st.flush_scheduled) {
    st.flush_scheduled = true;
    self->delayed_send(self, outbox_delay, atom::flush::value);
  }
}

/// Answers the drain requests once nothing is in flight: the outcomes are
/// written first, so that whoever serves the partition next finds them.
void check_drained(self_ptr self) {
  auto& st = self->state;
  if (!st.drain_waiters || st.drain_waiters->empty() || st.in_flight > 0
      || st.sync_in_flight > 0)
    return;
  auto waiters = std::move(*st.drain_waiters);
  st.drain_waiters->clear();
  flush(self, [waiters](const caf::error& err) mutable {
    for (auto& w : waiters)
      w.deliver(!err);
  });
}

/// Allocates a history position: later records sort after earlier ones.
std::string next_seq(self_ptr self) {
  auto seq = std::max(now_micros(), self->state.last_seq + 1);
  self->state.last_seq = seq;
  return domain::seq_text(seq);
}

/// Finished history records of this webhook, past its limit: how many.
std::size_t finished_excess(self_ptr self) {
  auto& st = self->state;
  auto finished = st.history_count > st.pending.size()
                      ? st.history_count - st.pending.size()
                      : 0;
  return finished > st.setup.history_limit ? finished - st.setup.history_limit
                                           : 0;
}

void prune(self_ptr self);

/// Deletes the oldest finished records among `keys` (history keys from the
/// prune cursor on, oldest first) until the history is within its limit.
/// `window`: the scan stopped at its limit, so more keys follow.
void prune_keys(self_ptr self, const std::vector<std::string>& keys,
                bool window) {
  auto& st = self->state;
  write_batch b;
  std::size_t removed = 0;
  auto excess = finished_excess(self);
  auto cursor = st.prune_cursor;
  for (const auto& key : keys) {
    if (removed >= excess)
      break;
    auto id = key.substr(key.rfind('/') + 1);
    if (st.pending.count(id) > 0)
      continue;
    b.deletes.push_back(index_key(self, id));
    b.deletes.push_back(key);
    cursor = key;
    ++removed;
  }
  if (removed == 0) {
    st.pruning = false;
    // A whole window of unfinished deliveries: step past it (as a scan
    // without a window would), or the history would grow behind it.
    if (window && !keys.empty()) {
      st.prune_cursor = keys.back();
      prune(self);
    }
    return;
  }
  // Final outcomes still in the outbox are written first (the writer
  // commits one sender's writes in order), so what this deletes stays
  // deleted.
  if (!st.outbox.empty())
    flush(self, [](const caf::error&) {});
  write(
      self, std::move(b),
      [=] {
        auto& st = self->state;
        st.pruning = false;
        st.history_count -= std::min(st.history_count, removed);
        st.prune_cursor = cursor;
        prune(self);
      },
      [=](caf::error&) { self->state.pruning = false; });
}

/// Keeps the finished history within its limit: deletes the oldest
/// finished records, never an unfinished delivery however old. It runs
/// after a write once the limit is passed by a slack, so that its scan is
/// paid once per many records, and resumes where the last one stopped
/// rather than walking over what it deleted. The scan reads keys only, and
/// from memory as far as it can, stopping once it has enough; only when it
/// needs the disk does it go to the store readers.
void prune(self_ptr self) {
  auto& st = self->state;
  auto slack = std::max<std::size_t>(16, st.setup.history_limit / 10);
  auto excess = finished_excess(self);
  if (st.pruning || excess <= slack)
    return;
  st.pruning = true;
  auto prefix = keys::history_prefix(st.hook.id);
  std::vector<std::string> keys;
  std::size_t finished = 0;
  auto in_memory
      = st.setup.db->scan_cached(prefix, st.prune_cursor, false,
                                 [&](std::string_view key, std::string_view) {
                                   keys.emplace_back(key);
                                   auto id = key.substr(key.rfind('/') + 1);
                                   if (st.pending.count(std::string{id}) == 0)
                                     ++finished;
                                   return finished < excess;
                                 });
  if (in_memory) {
    prune_keys(self, keys, false);
    return;
  }
  // On the readers, a window of keys: enough for the excess and a few
  // unfinished ones among them; the write that follows prunes again if
  // more is needed.
  scan_request req;
  req.prefix = std::move(prefix);
  req.start = st.prune_cursor;
  req.keys_only = true;
  req.limit = excess + prune_window_margin;
  scan_range(self, *st.setup.db, st.setup.reader, std::move(req),
             order::interleaved, [=](caf::expected<scan_result> found) {
               if (!found) {
                 self->state.pruning = false; // tried after the next write
                 return;
               }
               std::vector<std::string> keys;
               keys.reserve(found->items.size());
               for (auto& item : found->items)
                 keys.push_back(std::move(item.first));
               prune_keys(self, keys, found->truncated);
             });
}

void pump(self_ptr self);

/// Counts and logs, once, a delivery that will not be attempted again.
void failed_for_good(self_ptr self, const std::string& id,
                     const record_json& rec) {
  auto& hook = self->state.hook;
  metrics::delivery_finished(hook.format, false, -1.0);
  log::warn("delivery failed for good",
            {{"org", hook.where.org},
             {"scope", hook.where.path()},
             {"hook", hook.name},
             {"event", id},
             {"kind", rec["kind"].get<std::string>()},
             {"status", rec["responseCode"].get<int>()},
             {"attempts", rec["attempts"].get<int>()},
             {"error", rec["error"].get<std::string>()}});
}

/// Records the outcome of an attempt and decides what comes next.
void finish_attempt(self_ptr self, const std::string& id,
                    const header_list& sent, const http_result& r) {
  auto& st = self->state;
  --st.in_flight;
  auto it = st.pending.find(id);
  if (it == st.pending.end())
    return pump(self);
  auto& q = it->second;
  auto& rec = q.record;
  auto now = now_seconds();
  domain::apply_result(rec, sent, r, now);
  auto attempts = static_cast<std::size_t>(rec["attempts"].get<int>());
  domain::attempt_outcome outcome{r.code, r.retry_after_s, r.refused};
  std::uniform_real_distribution<double> uniform{0.0, 1.0};
  auto d
      = st.policy->decide(outcome, attempts, st.hook.active, uniform(st.rng));
  metrics::attempt(
      st.hook.format,
      d.what == domain::verdict::succeeded ? metrics::attempt_result::succeeded
      : d.what == domain::verdict::retry   ? metrics::attempt_result::retrying
                                           : metrics::attempt_result::failed,
      static_cast<double>(r.duration_ms) / 1000.0);
  switch (d.what) {
  case domain::verdict::succeeded:
    domain::finish_record(rec, true);
    metrics::delivery_finished(
        st.hook.format, true,
        q.recorded_ms > 0
            ? static_cast<double>(now_ms() - q.recorded_ms) / 1000.0
            : -1.0);
    break;
  case domain::verdict::retry:
    rec["status"] = "retrying";
    rec["nextAttemptAt"]
        = now
          + std::chrono::duration_cast<std::chrono::seconds>(d.delay).count();
    self->delayed_send(self, d.delay, atom::retry::value, id);
    break;
  case domain::verdict::failed:
    domain::finish_record(rec, false);
    if (domain::retry_policy::inactive_stop(outcome, st.hook.active))
      rec["error"] = rec["error"].get<std::string>()
                     + " (webhook inactive: no further attempts)";
    failed_for_good(self, id, rec);
    break;
  }
  st.outbox.puts.emplace_back(record_key(self, q.seq, id),
                              domain::dump_record(rec));
  if (d.what != domain::verdict::retry) {
    st.outbox.deletes.push_back(queue_key(self, id));
    st.pending.erase(it);
    ++st.outbox_finished;
  }
  schedule_flush(self);
  pump(self);
}

std::pair<std::string, std::string> split_stack(const std::string& ref) {
  auto slash = ref.find('/');
  return {ref.substr(0, slash), ref.substr(slash + 1)};
}

/// Asks the deployments actor for a deployment of the target stack.
void deploy(self_ptr self, const std::string& event_id, const chain& from,
            bool manual, attempt_done done) {
  auto& hook = self->state.hook;
  auto started = std::chrono::steady_clock::now();
  if (from.hops >= max_deployment_hops) {
    http_result r;
    r.error = "not deployed: deployment chains stop after "
              + std::to_string(max_deployment_hops)
              + " hops (is there a loop between stacks?)";
    r.refused = true; // trying again cannot help
    return done({}, std::move(r));
  }
  auto [project, stack] = split_stack(hook.payload_url);
  // A redelivery asks for a new deployment on purpose, and starts a chain
  // of its own.
  auto attempt = manual ? crypto::uuid4() : event_id;
  deployment_request req{hook.where.org,
                         project,
                         stack,
                         from.hops,
                         manual ? attempt : from.root,
                         hook.where.path() + '/' + hook.name,
                         event_id,
                         hook.id + '/' + attempt};
  self->request(self->state.setup.deployments, self->state.setup.timeout,
                atom::deploy::value, std::move(req))
      .then(
          [=](std::string& deployment) {
            http_result r;
            r.code = 202;
            r.response_body = std::move(deployment);
            r.duration_ms
                = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
            done({}, std::move(r));
          },
          [=](caf::error& err) {
            http_result r;
            r.error = "the deployment could not be queued: " + message_of(err);
            // Past the event's budget of deployments: final.
            r.refused = code_of(err) == ec::forbidden;
            done({}, std::move(r));
          });
}

/// Where attempts go: the delivery client for the HTTP POST, or the host
/// of the webhook's plugin destination (spawned when none runs).
destination_actor destination_of(self_ptr self) {
  auto& st = self->state;
  const auto& use = st.hook.destination;
  if (!use || use->name == http_destination)
    return st.setup.delivery;
  if (!st.destination) {
    st.destination
        = spawn_destination(self->system(), st.setup.behaviours, *use,
                            plugin_webhook(st.hook), self->address());
    self->monitor(st.destination);
  }
  return st.destination;
}

/// Adds a format's own headers to hookd's; hookd's win, but for
/// Content-Type, which a format may set.
void add_format_headers(header_list& headers, const header_list& extra) {
  auto same = [](const std::string& a, const std::string& b) {
    return a.size() == b.size()
           && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
                return std::tolower(static_cast<unsigned char>(x))
                       == std::tolower(static_cast<unsigned char>(y));
              });
  };
  for (const auto& [name, value] : extra) {
    auto it = std::find_if(headers.begin(), headers.end(),
                           [&](const auto& h) { return same(h.first, name); });
    if (it == headers.end())
      headers.emplace_back(name, value);
    else if (same(name, "Content-Type"))
      it->second = value;
  }
}

/// Where a recorded delivery goes: its format's own target, kept in the
/// record, else the webhook's payloadUrl as it is now.
std::string target_of(self_ptr self, const record_json& rec) {
  auto it = rec.find("formatTarget");
  if (it != rec.end() && it->is_string() && !it->get<std::string>().empty())
    return it->get<std::string>();
  return self->state.hook.payload_url;
}

/// A format's own headers, as the record keeps them.
header_list format_headers(const record_json& rec) {
  header_list out;
  auto it = rec.find("formatHeaders");
  if (it != rec.end() && it->is_array())
    for (const auto& pair : *it)
      if (pair.is_array() && pair.size() == 2 && pair[0].is_string()
          && pair[1].is_string())
        out.emplace_back(pair[0].get<std::string>(),
                         pair[1].get<std::string>());
  return out;
}

/// One attempt of a body to the hook's destination (the HTTP POST to `url`
/// unless it names another), signed now.
void post(self_ptr self, const std::string& id, const std::string& kind,
          const std::string& body, const header_list& extra,
          const std::string& url, attempt_done done) {
  auto& hook = self->state.hook;
  http_request req;
  req.url = url;
  req.body = body;
  auto now = now_seconds();
  req.headers = delivery_headers(id, kind, body, hook.secret, now,
                                 signing_previous(hook, now));
  if (!extra.empty())
    add_format_headers(req.headers, extra);
  req.timeout = self->state.setup.timeout;
  auto sent = req.headers;
  auto target = destination_of(self);
  bool plugin = hook.destination && hook.destination->name != http_destination;
  auto label = plugin ? "destination '" + hook.destination->name + "': "
                      : std::string{"delivery client: "};
  // The built-in client answers every request within its timeout (libcurl
  // keeps it) or stops, which fails the request: no CAF timer, which would
  // cost its clock two wake-ups a delivery. A plugin's destination may
  // hang, so its answer has a deadline.
  auto within = plugin ? caf::duration{req.timeout + reply_margin}
                       : caf::duration{caf::infinite};
  self->request(target, within, std::move(req))
      .then([=](http_result& r) { done(sent, std::move(r)); },
            [=](caf::error& err) {
              http_result r;
              r.error = label + self->system().render(err);
              done(sent, std::move(r));
            });
}

/// One attempt: POST the stored body, or queue a deployment.
void send_attempt(self_ptr self, const std::string& id, const record_json& rec,
                  const chain& from, bool manual, attempt_done done) {
  if (self->state.hook.format == "pulumi_deployments")
    return deploy(self, id, from, manual, std::move(done));
  post(self, id, rec["kind"].get<std::string>(),
       rec["payload"].get<std::string>(), format_headers(rec),
       target_of(self, rec), std::move(done));
}

void pump(self_ptr self) {
  auto& st = self->state;
  while (!st.draining && st.in_flight < st.setup.max_in_flight
         && !st.ready.empty()) {
    auto id = std::move(st.ready.front());
    st.ready.pop_front();
    auto it = st.pending.find(id);
    if (it == st.pending.end())
      continue;
    if (!st.hook.active) {
      // Deactivated while queued: no further attempts.
      auto& rec = it->second.record;
      domain::finish_record(rec, false);
      rec["error"] = "webhook inactive: no further attempts";
      failed_for_good(self, id, rec);
      st.outbox.puts.emplace_back(record_key(self, it->second.seq, id),
                                  domain::dump_record(rec));
      st.outbox.deletes.push_back(queue_key(self, id));
      st.pending.erase(it);
      ++st.outbox_finished;
      schedule_flush(self);
      continue;
    }
    ++st.in_flight;
    auto& rec = it->second.record;
    send_attempt(self, id, rec, it->second.from, false,
                 [=](const header_list& sent, http_result r) {
                   finish_attempt(self, id, sent, r);
                 });
  }
  check_drained(self);
}

/// An event in the hook's format, through the behaviour registry; `failure`
/// says why when the format cannot render it (a plugin's may throw).
plugin::rendered render(self_ptr self, const event& ev, std::string& failure) {
  auto& st = self->state;
  const auto* format = st.setup.behaviours->format(st.hook.format);
  if (format == nullptr) {
    failure = "format '" + st.hook.format
              + "' is not registered (was its plugin removed from "
                "'plugins'?)";
    return {};
  }
  try {
    return format->render(plugin_event(ev), plugin_webhook(st.hook));
  } catch (const std::exception& e) {
    failure = "format '" + st.hook.format + "' failed: " + e.what();
  } catch (...) {
    failure = "format '" + st.hook.format + "' failed";
  }
  metrics::plugin_failure("format");
  return {};
}

using recorded_fn = std::function<void(const caf::error&)>;

/// Records and queues a delivery of each of `events` this webhook has not
/// seen (`seen`: ids found in its history), records each of `failed` as a
/// failed delivery saying why (`errors`), and writes them in one store write
/// together with `b` (the stages' state changes); `done` runs once they are
/// on disk, or with the error when nothing was written.
void record(self_ptr self, const std::vector<event_ptr>& events,
            const std::vector<event>& failed,
            const std::vector<std::string>& errors,
            const std::unordered_set<std::string>& seen, write_batch b,
            recorded_fn done) {
  auto& st = self->state;
  std::vector<std::string> taken;
  auto now = now_seconds();
  auto add = [&](const event& ev, std::string failure) {
    // Recorded before: a replayed fan-out delivers once.
    if (st.pending.count(ev.id) > 0 || seen.count(ev.id) > 0)
      return;
    std::string unrendered;
    auto out = render(self, ev, unrendered);
    if (failure.empty())
      failure = std::move(unrendered);
    auto kind = ev.index >= 0 ? std::string{ev.info().kind} : "unknown";
    queued q{
        domain::new_record(ev.id, kind, out.body, st.hook.payload_url, now),
        next_seq(self), chain_of(ev), now_ms()};
    if (!out.headers.empty()) {
      auto& list = q.record["formatHeaders"] = record_json::array();
      for (auto& [name, value] : out.headers)
        list.push_back({name, value});
    }
    if (!out.target.empty()) {
      // The format's own target (its URL is not repeated in the error: it
      // may carry a secret).
      auto why = delivery_url_problem(out.target);
      if (!why.empty() && failure.empty())
        failure = "format '" + st.hook.format + "' gave a target that " + why;
      if (why.empty()) {
        q.record["requestUrl"] = out.target;
        q.record["formatTarget"] = std::move(out.target);
      }
    }
    if (!failure.empty()) {
      // Nothing to send: recorded as failed, so that the history says why.
      domain::finish_record(q.record, false);
      q.record["error"] = failure;
      failed_for_good(self, ev.id, q.record);
      b.puts.emplace_back(record_key(self, q.seq, ev.id),
                          domain::dump_record(q.record));
      b.puts.emplace_back(index_key(self, ev.id), q.seq);
      ++st.history_count;
      return;
    }
    b.puts.emplace_back(record_key(self, q.seq, ev.id),
                        domain::dump_record(q.record));
    b.puts.emplace_back(index_key(self, ev.id), q.seq);
    b.puts.emplace_back(queue_key(self, ev.id), marker_text(q.from));
    st.pending.emplace(ev.id, std::move(q));
    taken.push_back(ev.id);
  };
  for (const auto& ptr : events)
    add(*ptr, {});
  for (std::size_t i = 0; i < failed.size(); ++i)
    add(failed[i], i < errors.size() && !errors[i].empty()
                       ? errors[i]
                       : std::string{"a pipeline stage failed"});
  if (b.empty()) {
    done(caf::error{});
    return;
  }
  tell_registry(self, static_cast<std::int64_t>(taken.size()));
  st.history_count += taken.size();
  write(
      self, std::move(b),
      [=]() mutable {
        for (auto& id : taken)
          self->state.ready.push_back(id);
        pump(self);
        prune(self);
        done(caf::error{});
      },
      [=](caf::error& err) mutable {
        // Nothing was recorded: the fan-out is tried again.
        auto& st = self->state;
        for (auto& id : taken)
          st.pending.erase(id);
        st.history_count -= std::min(st.history_count, taken.size());
        tell_registry(self, -static_cast<std::int64_t>(taken.size()));
        done(err);
      });
}

/// Records and queues a delivery of each event of `batch` this webhook has
/// not seen, in one store write; answers how many it took once they are on
/// disk.
void record_events(self_ptr self, const event_batch& batch,
                   const std::unordered_set<std::string>& seen,
                   caf::typed_response_promise<std::size_t> rp) {
  auto considered = batch.events.size();
  record(self, batch.events, {}, {}, seen, {},
         [=](const caf::error& err) mutable {
           if (err)
             rp.deliver(err);
           else
             rp.deliver(considered);
         });
}

/// The host of the pipeline's stages, spawned when none runs; null for a
/// webhook without a pipeline.
stage_actor stages_of(self_ptr self) {
  auto& st = self->state;
  if (st.hook.pipeline.empty())
    return stage_actor{};
  if (!st.stages) {
    st.stages_lost = false;
    st.stages = spawn_stages(self->system(), st.setup.db, st.setup.writer,
                             st.setup.behaviours, st.hook.pipeline,
                             plugin_webhook(st.hook),
                             caf::actor_cast<webhook_actor>(self));
    self->monitor(st.stages);
  }
  return st.stages;
}

/// The stages' host went away: the next one reads the state back from the
/// store (what it handed out but was not written is thrown away with it).
void drop_stages(self_ptr self) {
  auto& st = self->state;
  if (!st.stages)
    return;
  self->demonitor(st.stages.address());
  caf::anon_send_exit(st.stages, caf::exit_reason::user_shutdown);
  st.stages = nullptr;
  st.stage_timers = 0;
}

/// Records what the stages let through (and failed on) with their state
/// changes, in one write: a stage's state and the deliveries it led to are
/// on disk together or not at all. `from`: the host that made it.
void record_stage_output(self_ptr self, stage_output& out, stage_actor from,
                         recorded_fn done) {
  auto& st = self->state;
  if (from != st.stages) {
    // A host this actor has replaced (the pipeline changed): its events
    // still count, its state does not.
    out.state = {};
  } else {
    st.stage_timers = out.timers;
  }
  std::vector<event_ptr> events;
  events.reserve(out.events.size());
  for (auto& ev : out.events)
    events.push_back(std::make_shared<const event>(std::move(ev)));
  record(self, events, out.failed, out.errors, {}, std::move(out.state),
         [=](const caf::error& err) {
           auto& st = self->state;
           // The host's memory is ahead of the disk now: a new one reads
           // the disk back.
           if (err && st.stages == from)
             drop_stages(self);
           done(err);
         });
}

/// Passes a batch through the pipeline, then records what came out: the
/// fan-out is answered once the stages' state and the deliveries are on
/// disk, so an event acknowledged to its client is in one or the other.
void take_staged(self_ptr self, const event_batch& batch,
                 const std::unordered_set<std::string>& seen,
                 caf::typed_response_promise<std::size_t> rp) {
  auto considered = batch.events.size();
  // An event already in the history or the queue passed the stages before
  // (a fan-out replayed after a crash, a client sending an id again).
  event_batch fresh;
  for (const auto& ev : batch.events)
    if (seen.count(ev->id) == 0 && self->state.pending.count(ev->id) == 0)
      fresh.events.push_back(ev);
  if (fresh.events.empty()) {
    rp.deliver(considered);
    return;
  }
  auto host = stages_of(self);
  self->request(host, defaults::fanout_timeout, std::move(fresh))
      .then(
          [=](stage_output& out) mutable {
            record_stage_output(self, out, host,
                                [=](const caf::error& err) mutable {
                                  if (err)
                                    rp.deliver(err);
                                  else
                                    rp.deliver(considered);
                                });
          },
          [=](caf::error& err) mutable {
            // Nothing was recorded: the fan-out is tried again. The host
            // may still have taken the batch into its memory, which is now
            // ahead of the disk: a new one reads the disk back.
            if (self->state.stages == host)
              drop_stages(self);
            rp.deliver(err);
          });
}

/// Records the events of a batch, through the pipeline when there is one.
void take_unseen(self_ptr self, const event_batch& batch,
                 const std::unordered_set<std::string>& seen,
                 caf::typed_response_promise<std::size_t> rp) {
  if (self->state.hook.pipeline.empty())
    record_events(self, batch, seen, rp);
  else
    take_staged(self, batch, seen, rp);
}

/// Takes a batch of events. Events that may have reached this webhook
/// before (a fan-out replayed after a crash) are looked up in its history
/// first, holding other messages back meanwhile, so that nothing else
/// records them in between.
caf::result<std::size_t> take_events(self_ptr self, const event_batch& batch) {
  auto& st = self->state;
  if (!st.hook.active)
    return std::size_t{0};
  auto rp = self->make_response_promise<std::size_t>();
  std::vector<std::string> ids;
  std::vector<std::string> lookups;
  for (const auto& ptr : batch.events)
    if (ptr->maybe_seen && st.pending.count(ptr->id) == 0) {
      ids.push_back(ptr->id);
      lookups.push_back(index_key(self, ptr->id));
    }
  if (lookups.empty()) {
    take_unseen(self, batch, {}, rp);
    return rp;
  }
  read_keys(self, *st.setup.db, st.setup.reader, std::move(lookups),
            order::in_order, [=](caf::expected<read_results> found) mutable {
              // A failed read records nothing; the fan-out is tried again.
              if (!found)
                return rp.deliver(std::move(found.error())), void();
              std::unordered_set<std::string> seen;
              for (std::size_t i = 0; i < ids.size(); ++i)
                if (found->items[i].found)
                  seen.insert(ids[i]);
              take_unseen(self, batch, seen, rp);
            });
  return rp;
}

caf::result<api_response> ping(self_ptr self) {
  auto& hook = self->state.hook;
  auto id = crypto::uuid4();
  auto now = now_seconds();
  std::string body;
  header_list extra;
  std::string url = hook.payload_url;
  if (const auto* format = self->state.setup.behaviours->format(hook.format)) {
    try {
      auto out = format->ping(now, plugin_webhook(hook));
      body = std::move(out.body);
      extra = std::move(out.headers);
      if (!out.target.empty() && delivery_url_problem(out.target).empty())
        url = std::move(out.target);
    } catch (const std::exception&) {
      body = ping_body(now);
    }
  } else {
    body = ping_body(now);
  }
  auto rec = std::make_shared<record_json>(
      domain::new_record(id, "ping", body, url, now));
  auto rp = self->make_response_promise<api_response>();
  ++self->state.sync_in_flight;
  auto record = [=](const header_list& sent, const http_result& r) mutable {
    --self->state.sync_in_flight;
    domain::apply_result(*rec, sent, r, now_seconds());
    auto ok = domain::retry_policy::succeeded(r.code);
    domain::finish_record(*rec, ok);
    metrics::manual_attempt("ping", ok);
    auto seq = next_seq(self);
    auto out = domain::dump_record(*rec);
    write_batch b;
    b.puts.emplace_back(record_key(self, seq, id), out);
    b.puts.emplace_back(index_key(self, id), seq);
    ++self->state.history_count;
    write(
        self, std::move(b),
        [=]() mutable {
          prune(self);
          rp.deliver(api_response{success::ok, out, {}});
        },
        [=](caf::error& err) mutable {
          --self->state.history_count;
          rp.deliver(err);
        });
    check_drained(self);
  };
  if (hook.format == "pulumi_deployments") {
    // Nothing to reach over HTTP: deployments are queued inside hookd, and
    // a ping must not queue one.
    http_result r;
    r.code = 200;
    r.response_body
        = R"({"message":"pulumi_deployments webhooks deliver inside hookd; a ping queues no deployment"})";
    record({}, r);
    return rp;
  }
  post(self, id, "ping", body, extra, url, record);
  return rp;
}

/// Attempts a recorded delivery again, now, and answers with its record.
void attempt_again(self_ptr self, const std::string& id,
                   const std::string& record_seq, record_json parsed,
                   caf::typed_response_promise<api_response> rp) {
  auto rec = std::make_shared<record_json>(std::move(parsed));
  ++self->state.sync_in_flight;
  send_attempt(self, id, *rec, chain{0, id}, true,
               [=](const header_list& sent, http_result r) mutable {
                 auto& st = self->state;
                 --st.sync_in_flight;
                 auto it = st.pending.find(id);
                 auto ok = domain::retry_policy::succeeded(r.code);
                 metrics::manual_attempt("redeliver", ok);
                 // An unfinished delivery keeps its retries unless this one
                 // succeeds.
                 record_json& target
                     = it != st.pending.end() ? it->second.record : *rec;
                 domain::apply_result(target, sent, r, now_seconds());
                 if (ok || it == st.pending.end())
                   domain::finish_record(target, ok);
                 auto out = domain::dump_record(target);
                 // The outbox goes first, so an older outcome of the same
                 // record cannot land after this one.
                 auto b = std::move(st.outbox);
                 st.outbox = {};
                 b.puts.emplace_back(record_key(self, record_seq, id), out);
                 std::int64_t finished = st.outbox_finished;
                 st.outbox_finished = 0;
                 if (it != st.pending.end() && ok) {
                   b.deletes.push_back(queue_key(self, id));
                   st.pending.erase(it);
                   ++finished;
                 }
                 tell_registry(self, -finished);
                 write(
                     self, std::move(b),
                     [=]() mutable {
                       rp.deliver(api_response{success::ok, out, {}});
                     },
                     [=](caf::error& err) mutable { rp.deliver(err); });
                 check_drained(self);
               });
}

caf::result<api_response> redeliver(self_ptr self, const api_call& call) {
  auto id = call.item;
  auto rp = self->make_response_promise<api_response>();
  auto not_found = [=]() mutable {
    rp.deliver(make_error(ec::not_found,
                          "no delivery of event '" + id + "' to this webhook"));
  };
  // Every outcome so far is written first, then the record read back (on
  // the store readers) and attempted again.
  flush(self, [=](const caf::error& err) mutable {
    if (err)
      return rp.deliver(err), void();
    auto& reader = self->state.setup.reader;
    read_key(self, *self->state.setup.db, reader, index_key(self, id),
             order::interleaved,
             [=](caf::expected<std::optional<std::string>> seq) mutable {
               if (!seq)
                 return rp.deliver(seq.error()), void();
               if (!*seq)
                 return not_found();
               auto record_seq = **seq;
               read_key(
                   self, *self->state.setup.db, self->state.setup.reader,
                   record_key(self, record_seq, id), order::interleaved,
                   [=](caf::expected<std::optional<std::string>> text) mutable {
                     if (!text)
                       return rp.deliver(text.error()), void();
                     if (!*text)
                       return not_found();
                     auto parsed = record_json::parse(**text, nullptr, false);
                     if (!parsed.is_object())
                       return rp.deliver(
                                  make_error(ec::internal,
                                             "the delivery record is damaged")),
                              void();
                     attempt_again(self, id, record_seq, std::move(parsed), rp);
                   });
             });
  });
  return rp;
}

/// Reads a page of the history, newest first, on the store readers.
void read_deliveries(self_ptr self, const api_call& call,
                     caf::typed_response_promise<api_response> rp) {
  std::size_t limit = 0;
  if (auto err = page_limit(call.limit, defaults::deliveries_page_default,
                            defaults::deliveries_page_max, limit))
    return rp.deliver(std::move(err)), void();
  auto prefix = keys::history_prefix(self->state.hook.id);
  scan_request req;
  req.prefix = prefix;
  req.reverse = true;
  // One more than the page: its key says where the next page starts.
  req.limit = limit + 1;
  if (!call.continuation.empty()) {
    if (call.continuation.size() != 16
        || call.continuation.find_first_not_of("0123456789abcdef")
               != std::string::npos)
      return rp.deliver(
                 make_error(ec::bad_request, "invalid 'continuationToken'")),
             void();
    // Records are "<seq>/<event id>": start at the last one of this seq.
    req.start = prefix + call.continuation + "/\xff";
  }
  auto base_path = call.base_path;
  scan_range(self, *self->state.setup.db, self->state.setup.reader,
             std::move(req), order::interleaved,
             [=](caf::expected<scan_result> found) mutable {
               if (!found)
                 return rp.deliver(found.error()), void();
               auto& items = found->items;
               std::string next;
               if (items.size() > limit) {
                 next = items[limit].first.substr(prefix.size(), 16);
                 items.resize(limit);
               }
               auto body = json_array_of(*found);
               header_list headers;
               if (!next.empty())
                 headers.push_back(next_page_link(base_path, limit, next));
               rp.deliver(api_response{success::ok, std::move(body),
                                       std::move(headers)});
             });
}

caf::result<api_response> list_deliveries(self_ptr self, api_call& call) {
  // What the client reads must include every outcome so far: the outbox is
  // written first.
  auto rp = self->make_response_promise<api_response>();
  flush(self, [=](const caf::error& err) mutable {
    if (err)
      rp.deliver(err);
    else
      read_deliveries(self, call, rp);
  });
  return rp;
}

void arm_idle_timer(self_ptr self);

// Recovery at start, a step at a time, each read from memory or on the
// store readers and awaited: the actor handles nothing else until it knows
// its configuration, its history and its queue.

/// Last step: the unfinished deliveries are back; the registry hears how
/// many (and that this actor is up), and the due ones start.
void recovered(self_ptr self) {
  auto& st = self->state;
  self->send(st.setup.registry, atom::resume::value,
             static_cast<std::int64_t>(st.pending.size()));
  // The stages start now: those that wait for a timer set it again.
  stages_of(self);
  pump(self);
  arm_idle_timer(self);
}

/// Reads the delivery records of the queued events (`queue`: event id and
/// chain) through their history index.
void load_records(self_ptr self,
                  std::vector<std::pair<std::string, chain>> queue) {
  auto& st = self->state;
  std::vector<std::string> lookups;
  for (auto& [id, from] : queue)
    lookups.push_back(index_key(self, id));
  read_keys(
      self, *st.setup.db, st.setup.reader, std::move(lookups), order::in_order,
      [=](caf::expected<read_results> seqs) {
        if (!seqs)
          return self->quit(seqs.error());
        std::vector<std::string> records;
        std::vector<std::size_t> which;
        for (std::size_t i = 0; i < queue.size(); ++i)
          if (seqs->items[i].found) {
            records.push_back(
                record_key(self, seqs->items[i].value, queue[i].first));
            which.push_back(i);
          }
        auto results = *seqs;
        read_keys(
            self, *self->state.setup.db, self->state.setup.reader,
            std::move(records), order::in_order,
            [=](caf::expected<read_results> texts) {
              if (!texts)
                return self->quit(texts.error());
              auto& st = self->state;
              auto now = now_seconds();
              std::vector<std::optional<std::string>> text_of(queue.size());
              for (std::size_t k = 0; k < which.size(); ++k)
                if (texts->items[k].found)
                  text_of[which[k]] = std::move(texts->items[k].value);
              write_batch dropped;
              for (std::size_t i = 0; i < queue.size(); ++i) {
                auto& [id, from] = queue[i];
                auto record = text_of[i] ? record_json::parse(*text_of[i],
                                                              nullptr, false)
                                         : record_json{};
                if (!record.is_object()) {
                  // A missing or damaged record cannot be delivered again;
                  // leave it in the history rather than crash on every
                  // start.
                  dropped.deletes.push_back(queue_key(self, id));
                  continue;
                }
                auto next = record["nextAttemptAt"].is_number()
                                ? record["nextAttemptAt"].get<std::int64_t>()
                                : now;
                st.pending.emplace(id, queued{std::move(record),
                                              results.items[i].value, from});
                if (next > now)
                  self->delayed_send(self, std::chrono::seconds{next - now},
                                     atom::retry::value, id);
                else
                  st.ready.push_back(id);
              }
              if (!dropped.empty())
                write(
                    self, std::move(dropped), [] {}, [](caf::error&) {});
              recovered(self);
            });
      });
}

/// Reads the queue of unfinished deliveries.
void load_queue(self_ptr self) {
  auto& st = self->state;
  scan_request req;
  req.prefix = keys::queue_prefix(st.hook.id);
  scan_range(self, *st.setup.db, st.setup.reader, std::move(req),
             order::in_order, [=](caf::expected<scan_result> found) {
               if (!found)
                 return self->quit(found.error());
               if (found->items.empty())
                 return recovered(self);
               auto skip = keys::queue_prefix(self->state.hook.id).size();
               std::vector<std::pair<std::string, chain>> queue;
               for (auto& [key, value] : found->items) {
                 auto id = key.substr(skip);
                 auto from = chain_from_marker(id, value);
                 queue.emplace_back(std::move(id), std::move(from));
               }
               load_records(self, std::move(queue));
             });
}

/// Counts the history and finds its last position (keys only).
void load_history(self_ptr self) {
  auto& st = self->state;
  scan_request req;
  req.prefix = keys::history_prefix(st.hook.id);
  req.keys_only = true;
  scan_range(self, *st.setup.db, st.setup.reader, std::move(req),
             order::in_order, [=](caf::expected<scan_result> found) {
               if (!found)
                 return self->quit(found.error());
               auto& st = self->state;
               auto skip = keys::history_prefix(st.hook.id).size();
               for (auto& [key, unused] : found->items) {
                 ++st.history_count;
                 st.last_seq = std::max(
                     st.last_seq,
                     domain::seq_value(std::string_view{key}.substr(skip, 16)));
               }
               load_queue(self);
             });
}

/// First step: the configuration, stored under `config_key`.
void recover(self_ptr self, const std::string& config_key) {
  auto& st = self->state;
  read_key(
      self, *st.setup.db, st.setup.reader, keys::hook_config(config_key),
      order::in_order, [=](caf::expected<std::optional<std::string>> text) {
        // A failed read quits: what is queued stays on disk, and the
        // registry spawns this actor again.
        if (!text)
          return self->quit(text.error());
        if (!*text)
          return self->quit(make_error(ec::not_found, "webhook not found"));
        auto hook = from_storage_json(**text, *self->state.setup.sealer);
        if (!hook)
          return self->quit(hook.error());
        self->state.hook = std::move(*hook);
        load_history(self);
      });
}

void arm_idle_timer(self_ptr self) {
  self->delayed_send(self, defaults::webhook_idle_timeout, atom::idle::value);
}

webhook_actor::behavior_type
webhook_behavior(self_ptr self, std::string config_key, webhook_setup setup) {
  auto& st = self->state;
  st.setup = std::move(setup);
  if (!st.setup.behaviours)
    st.setup.behaviours = default_behaviours();
  st.draining = st.setup.draining;
  st.policy.emplace(st.setup.retry_schedule);
  // It lives and dies with its registry, which stops it when it ends
  // (registry_state); a revived registry spawns its webhooks anew.
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    if (st.destination && dm.source == st.destination.address()) {
      // Its destination's host failed: a fresh one takes the next attempt
      // (one in flight got an error and is retried by the policy).
      st.destination = nullptr;
      metrics::plugin_failure("destination");
      return;
    }
    if (st.stages && dm.source == st.stages.address()) {
      // Its stages' host failed: events it was handling were not
      // acknowledged (their fan-out is tried again). A new host reads the
      // state back, at once if timers were waiting, else on demand.
      auto waiting = st.stage_timers > 0;
      st.stages = nullptr;
      st.stage_timers = 0;
      st.stages_lost = !waiting && !st.hook.pipeline.empty();
      metrics::plugin_failure("stage");
      log::warn("a pipeline's host stopped; it is spawned again",
                {{"hook", st.hook.name},
                 {"scope", st.hook.where.path()},
                 {"reason", self->system().render(dm.reason)}});
      if (waiting)
        stages_of(self);
      return;
    }
    self->quit(dm.reason);
  });
  recover(self, config_key);
  return {
      [=](api_call& call) -> caf::result<api_response> {
        ++self->state.activity;
        switch (call.op) {
        case operation::list_deliveries:
          return list_deliveries(self, call);
        case operation::ping_hook:
          return ping(self);
        case operation::redeliver:
          return redeliver(self, call);
        case operation::stall_hook: {
          // Test builds only: alive but never answering, as a stuck
          // handler would be; the front end's deadline must answer.
          if (!self->state.setup.testing)
            return make_error(ec::not_found, "no such route");
          auto rp = self->make_response_promise<api_response>();
          self->state.stalled.push_back(rp);
          return rp;
        }
        default:
          return make_error(ec::internal, "unexpected request for a webhook");
        }
      },
      [=](atom::update, std::string& text) {
        ++self->state.activity;
        if (auto hook = from_storage_json(text, *self->state.setup.sealer)) {
          auto& st = self->state;
          // Another destination or config: the next attempt makes it anew.
          if (st.destination && !(hook->destination == st.hook.destination)) {
            self->demonitor(st.destination.address());
            caf::anon_send_exit(st.destination,
                                caf::exit_reason::user_shutdown);
            st.destination = nullptr;
          }
          // Another pipeline: a new host, which deletes the state of the
          // stages no longer there. None: their state goes now.
          auto restage = !(hook->pipeline == st.hook.pipeline);
          if (restage)
            drop_stages(self);
          if (restage && hook->pipeline.empty()) {
            write_batch b;
            b.delete_prefixes.push_back(keys::stages_prefix(hook->id));
            write(
                self, std::move(b), [] {}, [](caf::error&) {});
          }
          st.hook = std::move(*hook);
          if (restage)
            stages_of(self);
        }
      },
      [=](event_batch& batch) -> caf::result<std::size_t> {
        ++self->state.activity;
        return take_events(self, batch);
      },
      [=](atom::retry, std::string& id) {
        ++self->state.activity;
        if (self->state.pending.count(id) > 0) {
          self->state.ready.push_back(std::move(id));
          pump(self);
        }
      },
      [=](stage_output& out) {
        ++self->state.activity;
        auto from = caf::actor_cast<stage_actor>(self->current_sender());
        if (!from || from != self->state.stages)
          return; // a host since replaced
        record_stage_output(self, out, from, [](const caf::error&) {
          // Not written: the host is replaced and reads the state back,
          // whose timers go off again.
        });
      },
      [=](atom::drain) -> caf::result<bool> {
        auto& st = self->state;
        st.draining = true;
        auto rp = self->make_response_promise<bool>();
        if (!st.drain_waiters)
          st.drain_waiters = std::make_unique<
              std::vector<caf::typed_response_promise<bool>>>();
        st.drain_waiters->push_back(rp);
        check_drained(self);
        return rp;
      },
      [=](atom::deleted) {
        auto& st = self->state;
        st.outbox = {};
        st.pending.clear();
        drop_stages(self);
        write_batch b;
        b.delete_prefixes
            = {keys::history_prefix(st.hook.id),
               keys::history_index_prefix(st.hook.id),
               keys::queue_prefix(st.hook.id), keys::stages_prefix(st.hook.id)};
        // Sent after every earlier write of this actor, so nothing it wrote
        // late outlives the hook.
        caf::anon_send(st.setup.writer, atom::write::value, std::move(b));
        self->send(st.setup.deployments, atom::forget::value, st.hook.id);
        self->quit();
      },
      [=](atom::flush) {
        self->state.flush_scheduled = false;
        flush(self, [](const caf::error&) {
          // Outcomes lost with a failed write only cause a redelivery.
        });
      },
      [=](atom::crash) {
        if (self->state.setup.testing)
          throw std::runtime_error("crash requested by a test");
      },
      [=](atom::idle) {
        auto& st = self->state;
        // Stop only when idle and owing nothing: the registry spawns this
        // actor again on demand.
        // Stages waiting for a timer keep it alive; a lost stages' host
        // is spawned again now (a back-off of one idle period).
        if (st.stages_lost && !st.stages && !st.hook.pipeline.empty()) {
          st.stages_lost = false;
          stages_of(self);
          st.activity = 0;
          arm_idle_timer(self);
          return;
        }
        if (st.activity == 0 && st.pending.empty() && st.in_flight == 0
            && st.sync_in_flight == 0 && st.outbox.empty()
            && st.stage_timers == 0) {
          self->quit();
          return;
        }
        st.activity = 0;
        arm_idle_timer(self);
      },
  };
}

} // namespace

webhook_actor spawn_webhook(caf::actor_system& sys, std::string config_key,
                            webhook_setup setup) {
  return sys.spawn(webhook_behavior, std::move(config_key), std::move(setup));
}

} // namespace hookd
