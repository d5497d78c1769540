#include "webhook_actor.hpp"

#include <algorithm>
#include <deque>
#include <random>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "hookd/defaults.hpp"
#include "hookd/formats.hpp"
#include "hookd/signature.hpp"

namespace hookd {

namespace {

using json = nlohmann::ordered_json;
using namespace std::chrono_literals;

/// The delivery client answers within the request timeout; this margin
/// covers queueing inside hookd.
constexpr auto reply_margin = 5s;
constexpr double jitter = 0.2;
constexpr auto outbox_delay = std::chrono::milliseconds{5};
constexpr std::size_t outbox_max = 256;

/// Records quote what receivers answered, which need not be UTF-8: invalid
/// bytes become U+FFFD rather than an exception.
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

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

std::string seq_text(std::uint64_t seq) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, seq >>= 4)
    out[static_cast<std::size_t>(i)] = digits[seq & 0xf];
  return out;
}

struct queued {
  json record;
  std::string seq;
  std::uint32_t hops = 0;
};

struct webhook_state {
  static inline const char* name = "hookd.webhook";
  webhook hook;
  store_ptr db;
  delivery_actor delivery;
  ingest_actor ingest;
  delivery_settings settings;
  /// Unfinished deliveries by event id, and those waiting for a slot.
  std::unordered_map<std::string, queued> pending;
  std::deque<std::string> ready;
  std::size_t in_flight = 0;
  std::uint64_t last_seq = 0;
  std::size_t history_count = 0;
  /// Where the next prune scan starts: everything before it is gone.
  std::string prune_cursor;
  std::uint64_t activity = 0;
  bool draining = false;
  /// Pings and redeliveries under way (answered synchronously).
  std::size_t sync_in_flight = 0;
  std::minstd_rand rng{std::random_device{}()};
  /// Outcomes of attempts, written together a moment later: one store write
  /// for many deliveries. Lost in a crash, they only cause a redelivery.
  store::batch outbox;
  bool flush_scheduled = false;

  void flush() {
    if (outbox.puts.empty() && outbox.deletes.empty())
      return;
    db->write(outbox);
    outbox = {};
  }

  /// Whatever way the actor ends, its unfinished deliveries leave the
  /// node's count (a revived actor counts them again), and what it has
  /// still to write is written.
  ~webhook_state() {
    if (settings.pending)
      *settings.pending -= static_cast<std::int64_t>(pending.size());
    try {
      if (db)
        flush();
    } catch (...) {
      // The deliveries stay queued on disk and are attempted again.
    }
  }
};

using self_ptr = webhook_actor::stateful_pointer<webhook_state>;

/// "h/<hook id>/<seq>/<event id>": history order, and the event id without
/// reading the record.
std::string record_key(self_ptr self, const std::string& seq,
                       const std::string& event_id) {
  return history_prefix(self->state.hook.id) + seq + '/' + event_id;
}

std::string index_key(self_ptr self, const std::string& event_id) {
  return history_index_prefix(self->state.hook.id) + event_id;
}

std::string queue_key(self_ptr self, const std::string& event_id) {
  return queue_prefix(self->state.hook.id) + event_id;
}

json new_record(const std::string& id, const std::string& kind,
                const std::string& payload, const std::string& url) {
  return json{{"id", id},
              {"kind", kind},
              {"payload", payload},
              {"timestamp", now_seconds()},
              {"duration", 0},
              {"requestUrl", url},
              {"requestHeaders", ""},
              {"responseCode", 0},
              {"responseHeaders", ""},
              {"responseBody", ""},
              {"attempts", 0},
              {"status", "pending"},
              {"nextAttemptAt", now_seconds()},
              {"error", ""}};
}

/// Fills a record with the outcome of one attempt.
void apply_result(json& rec, const header_list& sent, const http_result& r) {
  rec["attempts"] = rec["attempts"].get<int>() + 1;
  rec["timestamp"] = now_seconds();
  rec["duration"] = r.duration_ms;
  rec["requestHeaders"] = header_block(sent);
  rec["responseCode"] = r.code;
  rec["responseHeaders"] = r.response_headers;
  rec["responseBody"] = r.response_body;
  rec["error"] = r.error.empty() && (r.code < 200 || r.code > 299)
                   ? "HTTP " + std::to_string(r.code)
                   : r.error;
}

bool succeeded(const http_result& r) {
  return r.code >= 200 && r.code <= 299;
}

/// No answer, a timeout, 408, 429 and 5xx may pass; 3xx and other 4xx won't.
bool retriable(const http_result& r) {
  if (r.refused)
    return false;
  return r.code == 0 || r.code == 408 || r.code == 429 || r.code >= 500;
}

/// Allocates a history position: later records sort after earlier ones.
std::string next_seq(self_ptr self) {
  auto seq = std::max(now_micros(), self->state.last_seq + 1);
  self->state.last_seq = seq;
  return seq_text(seq);
}

/// Adds the deletes that keep the finished history within its limit.
/// Unfinished deliveries stay, however old. It runs once the limit is passed
/// by a slack, so that its scan is paid once per many records, and resumes
/// where the last one stopped rather than walking over what it deleted.
void prune(self_ptr self, store::batch& b, std::size_t adding) {
  auto& st = self->state;
  st.history_count += adding;
  auto limit = st.settings.history_limit;
  auto slack = std::max<std::size_t>(16, limit / 10);
  auto finished = [&] { return st.history_count - st.pending.size(); };
  if (st.history_count < st.pending.size() || finished() <= limit + slack)
    return;
  // Final outcomes still in the outbox would resurrect what this deletes.
  st.flush();
  auto prefix = history_prefix(st.hook.id);
  st.db->scan(prefix, st.prune_cursor, false,
              [&](std::string_view key, std::string_view) {
                if (finished() <= limit)
                  return false;
                auto id = std::string{key.substr(key.rfind('/') + 1)};
                if (st.pending.count(id) > 0)
                  return true;
                b.deletes.emplace_back(key);
                b.deletes.push_back(index_key(self, id));
                st.prune_cursor = std::string{key};
                --st.history_count;
                return true;
              });
}

void pump(self_ptr self);

void finish_attempt(self_ptr self, const std::string& id,
                    const header_list& sent, const http_result& r) {
  auto& st = self->state;
  --st.in_flight;
  auto it = st.pending.find(id);
  if (it == st.pending.end())
    return pump(self);
  auto& q = it->second;
  auto& rec = q.record;
  apply_result(rec, sent, r);
  auto attempts = static_cast<std::size_t>(rec["attempts"].get<int>());
  if (succeeded(r)) {
    rec["status"] = "succeeded";
    rec["nextAttemptAt"] = nullptr;
  } else if (retriable(r) && st.hook.active
             && attempts < st.settings.retry_schedule.size()) {
    auto base = st.settings.retry_schedule[attempts];
    std::uniform_real_distribution<double> spread{1.0 - jitter, 1.0 + jitter};
    auto delay = std::chrono::milliseconds{
      static_cast<std::int64_t>(static_cast<double>(base.count()) * spread(st.rng))};
    if ((r.code == 429 || r.code == 503) && r.retry_after_s >= 0) {
      // Honoured, but no longer than the schedule's longest wait or an
      // hour, whichever is longer: a receiver cannot park a delivery.
      auto longest = std::max<std::chrono::milliseconds>(
        *std::max_element(st.settings.retry_schedule.begin(),
                          st.settings.retry_schedule.end()),
        defaults::retry_after_max);
      delay = std::max<std::chrono::milliseconds>(
        delay, std::min<std::chrono::milliseconds>(
                 std::chrono::seconds{r.retry_after_s}, longest));
    }
    rec["status"] = "retrying";
    rec["nextAttemptAt"] = now_seconds()
                           + std::chrono::duration_cast<std::chrono::seconds>(delay)
                               .count();
    self->delayed_send(self, delay, atom::retry::value, id);
  } else {
    rec["status"] = "failed";
    rec["nextAttemptAt"] = nullptr;
    if (!st.hook.active && retriable(r))
      rec["error"] = rec["error"].get<std::string>()
                     + " (webhook inactive: no further attempts)";
  }
  st.outbox.puts.emplace_back(record_key(self, q.seq, id), dump(rec));
  if (rec["status"] == "succeeded" || rec["status"] == "failed") {
    st.outbox.deletes.push_back(queue_key(self, id));
    st.pending.erase(it);
    --*st.settings.pending;
  }
  if (st.outbox.puts.size() >= outbox_max) {
    try {
      st.flush();
    } catch (const store_error&) {
      // Kept in the outbox for the next flush.
    }
  } else if (!st.flush_scheduled) {
    st.flush_scheduled = true;
    self->delayed_send(self, outbox_delay, atom::flush::value);
  }
  pump(self);
}

std::pair<std::string, std::string> split_stack(const std::string& ref) {
  auto slash = ref.find('/');
  return {ref.substr(0, slash), ref.substr(slash + 1)};
}

/// Asks the ingest actor for a deployment of the target stack.
void deploy(self_ptr self, const std::string& event_id, std::uint32_t hops,
            bool manual,
            std::function<void(const header_list&, http_result)> done) {
  auto& hook = self->state.hook;
  auto started = std::chrono::steady_clock::now();
  if (hops >= max_deployment_hops) {
    http_result r;
    r.error = "not deployed: deployment chains stop after "
              + std::to_string(max_deployment_hops)
              + " hops (is there a loop between stacks?)";
    return done({}, std::move(r));
  }
  auto [project, stack] = split_stack(hook.payload_url);
  deployment_request req{hook.where.org,
                         project,
                         stack,
                         hops,
                         hook.where.path() + '/' + hook.name,
                         event_id,
                         // A redelivery asks for a new deployment on purpose.
                         hook.id + '/' + (manual ? crypto::uuid4() : event_id)};
  self->request(self->state.ingest, self->state.settings.timeout,
                atom::deploy::value, std::move(req))
    .then(
      [=](std::string& deployment) {
        http_result r;
        r.code = 202;
        r.response_body = std::move(deployment);
        r.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
        done({}, std::move(r));
      },
      [=](caf::error& err) {
        http_result r;
        r.error = "the deployment could not be queued: "
                  + self->system().render(err);
        done({}, std::move(r));
      });
}

/// One attempt: POST the stored body, or queue a deployment.
void send_attempt(self_ptr self, const std::string& id, const std::string& kind,
                  const std::string& body, std::uint32_t hops, bool manual,
                  std::function<void(const header_list&, http_result)> done) {
  auto& hook = self->state.hook;
  if (hook.format == "pulumi_deployments")
    return deploy(self, id, hops, manual, std::move(done));
  http_request req;
  req.url = hook.payload_url;
  req.body = body;
  req.headers = delivery_headers(id, kind, body, hook.secret, now_seconds());
  req.timeout = self->state.settings.timeout;
  auto sent = req.headers;
  self->request(self->state.delivery, req.timeout + reply_margin, std::move(req))
    .then([=](http_result& r) { done(sent, std::move(r)); },
          [=](caf::error& err) {
            http_result r;
            r.error = "delivery client: " + self->system().render(err);
            done(sent, std::move(r));
          });
}

void pump(self_ptr self) {
  auto& st = self->state;
  while (!st.draining && st.in_flight < st.settings.max_in_flight
         && !st.ready.empty()) {
    auto id = std::move(st.ready.front());
    st.ready.pop_front();
    auto it = st.pending.find(id);
    if (it == st.pending.end())
      continue;
    if (!st.hook.active) {
      // Deactivated while queued: no further attempts.
      auto& rec = it->second.record;
      rec["status"] = "failed";
      rec["nextAttemptAt"] = nullptr;
      rec["error"] = "webhook inactive: no further attempts";
      st.outbox.puts.emplace_back(record_key(self, it->second.seq, id),
                                  dump(rec));
      st.outbox.deletes.push_back(queue_key(self, id));
      st.pending.erase(it);
      --*st.settings.pending;
      if (!st.flush_scheduled) {
        st.flush_scheduled = true;
        self->delayed_send(self, outbox_delay, atom::flush::value);
      }
      continue;
    }
    ++st.in_flight;
    auto& rec = it->second.record;
    send_attempt(self, id, rec["kind"].get<std::string>(),
                 rec["payload"].get<std::string>(), it->second.hops, false,
                 [=](const header_list& sent, http_result r) {
                   finish_attempt(self, id, sent, r);
                 });
  }
}

/// Records and queues a delivery of each event this webhook has not seen,
/// in one store write; answers how many it took.
std::size_t take_events(self_ptr self, const event_batch& batch) {
  auto& st = self->state;
  if (!st.hook.active)
    return 0;
  store::batch b;
  std::vector<std::string> taken;
  for (const auto& ptr : batch.events) {
    const auto& ev = *ptr;
    std::string existing;
    // Recorded before: a replayed fan-out delivers once.
    if (st.pending.count(ev.id) > 0
        || (ev.maybe_seen && st.db->get(index_key(self, ev.id), existing)))
      continue;
    auto payload = st.hook.format == "pulumi_deployments"
                     ? ev.body
                     : render_payload(st.hook.format, ev);
    queued q{new_record(ev.id, ev.info().kind, payload, st.hook.payload_url),
             next_seq(self), ev.hops};
    b.puts.emplace_back(record_key(self, q.seq, ev.id), dump(q.record));
    b.puts.emplace_back(index_key(self, ev.id), q.seq);
    b.puts.emplace_back(queue_key(self, ev.id),
                        json{{"hops", ev.hops}}.dump());
    st.pending.emplace(ev.id, std::move(q));
    taken.push_back(ev.id);
  }
  if (taken.empty())
    return batch.events.size();
  *st.settings.pending += static_cast<std::int64_t>(taken.size());
  try {
    prune(self, b, taken.size());
    st.db->write(b);
  } catch (const store_error&) {
    for (auto& id : taken)
      st.pending.erase(id);
    *st.settings.pending -= static_cast<std::int64_t>(taken.size());
    st.history_count -= taken.size();
    throw;
  }
  for (auto& id : taken)
    st.ready.push_back(std::move(id));
  pump(self);
  return batch.events.size();
}

void list_deliveries(self_ptr self, const api_call& call,
                     const responder_ptr& rp);

void ping(self_ptr self, const responder_ptr& rp) {
  auto& hook = self->state.hook;
  auto id = crypto::uuid4();
  auto body = ping_body(now_seconds());
  auto rec = std::make_shared<json>(new_record(id, "ping", body, hook.payload_url));
  ++self->state.sync_in_flight;
  auto record = [=](const header_list& sent, const http_result& r) {
    --self->state.sync_in_flight;
    apply_result(*rec, sent, r);
    (*rec)["status"] = succeeded(r) ? "succeeded" : "failed";
    (*rec)["nextAttemptAt"] = nullptr;
    auto seq = next_seq(self);
    auto out = dump(*rec);
    store::batch b;
    b.puts.emplace_back(record_key(self, seq, id), out);
    b.puts.emplace_back(index_key(self, id), seq);
    try {
      prune(self, b, 1);
      self->state.db->write(b);
    } catch (const store_error&) {
      return rp->fail(ec::unavailable, "the store failed; retry later");
    }
    rp->respond(success::ok, std::move(out));
  };
  if (hook.format == "pulumi_deployments") {
    // Nothing to reach over HTTP: deployments are queued inside hookd, and
    // a ping must not queue one.
    http_result r;
    r.code = 200;
    r.response_body = R"({"message":"pulumi_deployments webhooks deliver inside hookd; a ping queues no deployment"})";
    return record({}, r);
  }
  http_request req;
  req.url = hook.payload_url;
  req.body = body;
  req.headers = delivery_headers(id, "ping", body, hook.secret, now_seconds());
  req.timeout = self->state.settings.timeout;
  auto sent = req.headers;
  self->request(self->state.delivery, req.timeout + reply_margin, std::move(req))
    .then([=](http_result& r) { record(sent, r); },
          [=](caf::error& err) {
            http_result r;
            r.error = "delivery client: " + self->system().render(err);
            record(sent, r);
          });
}

void redeliver(self_ptr self, const api_call& call, const responder_ptr& rp) {
  auto& st = self->state;
  std::string seq;
  std::string text;
  if (!st.db->get(index_key(self, call.item), seq)
      || !st.db->get(record_key(self, seq, call.item), text))
    return rp->fail(ec::not_found, "no delivery of event '" + call.item
                                     + "' to this webhook");
  auto rec = std::make_shared<json>(json::parse(text));
  auto id = call.item;
  ++st.sync_in_flight;
  send_attempt(
    self, id, (*rec)["kind"].get<std::string>(),
    (*rec)["payload"].get<std::string>(), 0, true,
    [=](const header_list& sent, http_result r) {
      auto& st = self->state;
      --st.sync_in_flight;
      auto it = st.pending.find(id);
      // An unfinished delivery keeps its retries unless this one succeeds.
      json& target = it != st.pending.end() ? it->second.record : *rec;
      apply_result(target, sent, r);
      store::batch b;
      if (succeeded(r)) {
        target["status"] = "succeeded";
        target["nextAttemptAt"] = nullptr;
      } else if (it == st.pending.end()) {
        target["status"] = "failed";
        target["nextAttemptAt"] = nullptr;
      }
      auto out = dump(target);
      b.puts.emplace_back(record_key(self, seq, id), out);
      if (it != st.pending.end() && succeeded(r)) {
        b.deletes.push_back(queue_key(self, id));
        st.pending.erase(it);
        --*st.settings.pending;
      }
      try {
        // An older outcome of the same record must not land after this one.
        st.flush();
        st.db->write(b);
      } catch (const store_error&) {
        return rp->fail(ec::unavailable, "the store failed; retry later");
      }
      rp->respond(success::ok, std::move(out));
    });
}

bool parse_limit(const std::string& text, std::size_t& out) {
  if (text.empty()) {
    out = defaults::deliveries_page_default;
    return true;
  }
  if (text.size() > 4
      || text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  out = std::stoul(text);
  return out >= 1 && out <= defaults::deliveries_page_max;
}

void list_deliveries(self_ptr self, const api_call& call,
                     const responder_ptr& rp) {
  std::size_t limit = 0;
  if (!parse_limit(call.limit, limit))
    return rp->fail(ec::bad_request,
                    "'limit' must be a whole number from 1 to "
                      + std::to_string(defaults::deliveries_page_max));
  auto prefix = history_prefix(self->state.hook.id);
  std::string start;
  if (!call.continuation.empty()) {
    if (call.continuation.size() != 16
        || call.continuation.find_first_not_of("0123456789abcdef")
             != std::string::npos)
      return rp->fail(ec::bad_request, "invalid 'continuationToken'");
    // Records are "<seq>/<event id>": start at the last one of this seq.
    start = prefix + call.continuation + "/\xff";
  }
  std::string body;
  std::size_t count = 0;
  std::string next;
  self->state.db->scan(prefix, start, true,
                       [&](std::string_view key, std::string_view value) {
                         if (count == limit) {
                           next = std::string{key.substr(prefix.size(), 16)};
                           return false;
                         }
                         body += body.empty() ? '[' : ',';
                         body.append(value.data(), value.size());
                         ++count;
                         return true;
                       });
  body += body.empty() ? "[]" : "]";
  header_list headers;
  if (!next.empty())
    headers.emplace_back("Link", "<" + call.base_path + "?limit="
                                   + std::to_string(limit)
                                   + "&continuationToken=" + next
                                   + ">; rel=\"next\"");
  rp->respond(success::ok, std::move(body), std::move(headers));
}

/// Loads the history position and count, and resumes unfinished deliveries.
void recover(self_ptr self) {
  auto& st = self->state;
  st.db->scan(history_prefix(st.hook.id), {}, false,
              [&](std::string_view key, std::string_view) {
                ++st.history_count;
                auto seq = key.substr(history_prefix(st.hook.id).size(), 16);
                std::uint64_t n = 0;
                for (char c : seq)
                  n = (n << 4)
                      | static_cast<std::uint64_t>(
                        c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
                st.last_seq = std::max(st.last_seq, n);
                return true;
              });
  std::vector<std::pair<std::string, std::uint32_t>> queue;
  st.db->scan(queue_prefix(st.hook.id), {}, false,
              [&](std::string_view key, std::string_view value) {
                auto marker = json::parse(value, nullptr, false);
                auto hops = marker.is_object() ? marker.value("hops", 0u) : 0u;
                queue.emplace_back(
                  std::string{key.substr(queue_prefix(st.hook.id).size())},
                  hops);
                return true;
              });
  auto now = now_seconds();
  for (auto& [id, hops] : queue) {
    std::string seq;
    std::string text;
    if (!st.db->get(index_key(self, id), seq)
        || !st.db->get(record_key(self, seq, id), text)) {
      st.db->write({{}, {queue_key(self, id)}, {}});
      continue;
    }
    auto record = json::parse(text, nullptr, false);
    if (!record.is_object()) {
      // A damaged record cannot be delivered again; leave it in the
      // history rather than crash on every start.
      st.db->write({{}, {queue_key(self, id)}, {}});
      continue;
    }
    queued q{std::move(record), seq, hops};
    auto next = q.record["nextAttemptAt"].is_number()
                  ? q.record["nextAttemptAt"].get<std::int64_t>()
                  : now;
    st.pending.emplace(id, std::move(q));
    ++*st.settings.pending;
    if (next > now)
      self->delayed_send(self, std::chrono::seconds{next - now},
                         atom::retry::value, id);
    else
      st.ready.push_back(id);
  }
  pump(self);
}

void arm_idle_timer(self_ptr self) {
  self->delayed_send(self, defaults::webhook_idle_timeout, atom::idle::value);
}

webhook_actor::behavior_type
webhook_behavior(self_ptr self, webhook hook, store_ptr db,
                 delivery_actor delivery, ingest_actor ingest,
                 delivery_settings settings) {
  auto& st = self->state;
  st.hook = std::move(hook);
  st.db = std::move(db);
  st.delivery = std::move(delivery);
  st.ingest = std::move(ingest);
  st.settings = std::move(settings);
  st.draining = st.settings.draining;
  try {
    recover(self);
  } catch (const std::exception&) {
    // The store failed: what is queued stays on disk, and the registry
    // spawns this actor again on the next message.
    self->quit(caf::sec::runtime_error);
  }
  arm_idle_timer(self);
  return {
    [=](api_call& call, responder_ptr& rp) {
      ++self->state.activity;
      try {
        // What the client reads must include every outcome so far.
        self->state.flush();
        switch (call.op) {
          case operation::list_deliveries:
            return list_deliveries(self, call, rp);
          case operation::ping_hook: return ping(self, rp);
          case operation::redeliver: return redeliver(self, call, rp);
          default:
            return rp->fail(ec::internal, "unexpected request for a webhook");
        }
      } catch (const store_error&) {
        rp->fail(ec::unavailable, "the store failed; retry later");
      } catch (const std::exception& e) {
        rp->fail(ec::internal, std::string{"internal error: "} + e.what());
      }
    },
    [=](webhook& updated) {
      ++self->state.activity;
      self->state.hook = std::move(updated);
    },
    [=](event_batch& batch) -> caf::result<std::size_t> {
      ++self->state.activity;
      try {
        return take_events(self, batch);
      } catch (const std::exception& e) {
        // The fan-out is tried again; nothing was recorded.
        return caf::make_error(caf::sec::runtime_error, e.what());
      }
    },
    [=](atom::retry, std::string& id) {
      ++self->state.activity;
      if (self->state.pending.count(id) > 0) {
        self->state.ready.push_back(std::move(id));
        pump(self);
      }
    },
    [=](atom::drain) { self->state.draining = true; },
    [=](atom::deleted) {
      auto& st = self->state;
      st.outbox = {};
      *st.settings.pending -= static_cast<std::int64_t>(st.pending.size());
      st.pending.clear();
      store::batch b;
      b.delete_prefixes = {history_prefix(st.hook.id),
                           history_index_prefix(st.hook.id),
                           queue_prefix(st.hook.id)};
      try {
        st.db->write(b);
      } catch (const store_error&) {
        // Left behind under an id no hook has any more; harmless.
      }
      self->quit();
    },
    [=](atom::flush) {
      self->state.flush_scheduled = false;
      try {
        self->state.flush();
      } catch (const store_error&) {
        // Kept in the outbox; the next flush tries again.
        self->state.flush_scheduled = true;
        self->delayed_send(self, outbox_delay, atom::flush::value);
      }
    },
    [=](atom::crash) {
      if (self->state.settings.testing)
        throw std::runtime_error("crash requested by a test");
    },
    [=](atom::idle) {
      auto& st = self->state;
      // Stop only when idle and owing nothing: the registry spawns this
      // actor again on demand.
      if (st.activity == 0 && st.pending.empty() && st.in_flight == 0
          && st.sync_in_flight == 0) {
        self->quit();
        return;
      }
      st.activity = 0;
      arm_idle_timer(self);
    },
  };
}

} // namespace

std::string history_prefix(const std::string& hook_id) {
  return "h/" + hook_id + "/";
}

std::string history_index_prefix(const std::string& hook_id) {
  return "hx/" + hook_id + "/";
}

std::string queue_prefix(const std::string& hook_id) {
  return "q/" + hook_id + "/";
}

webhook_actor spawn_webhook(caf::actor_system& sys, webhook hook, store_ptr db,
                            delivery_actor delivery, ingest_actor ingest,
                            delivery_settings settings) {
  return sys.spawn(webhook_behavior, std::move(hook), std::move(db),
                   std::move(delivery), std::move(ingest), std::move(settings));
}

} // namespace hookd
