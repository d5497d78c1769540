// Ingestion: an event is on disk, with a fan-out marker, before its 202.
// Fan-out then hands it to the registry shards of its scopes; the marker
// goes once every shard answered that its webhooks recorded it. Markers left
// by a crash are fanned out again on start (webhooks record an event once).
//
// Keys: ev/<event id> the event; pf/<event id> its unfinished fan-out;
// dv/<org>/<project>/<stack> the last deployment version of a stack;
// dp/<org>/<project>/<stack>/<version> a queued deployment;
// dk/<hook id>/<attempt> the deployment an attempt queued, so a retry does
// not queue another.
#include <chrono>
#include <iterator>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "hookd/actors.hpp"
#include "hookd/defaults.hpp"

namespace hookd {

namespace {

using json = nlohmann::ordered_json;

constexpr auto marker_flush_delay = std::chrono::milliseconds{20};

struct ingest_state {
  static inline const char* name = "hookd.ingest";
  store_ptr db;
  std::vector<registry_actor> shards;
  /// Last deployment version per stack, read from the store once.
  std::unordered_map<std::string, std::uint64_t> versions;
  pending_counter pending;
  std::int64_t max_pending = 0;
  /// Events accepted whose fan-out has not finished: not yet in `pending`,
  /// but owed all the same, so they count against the bound too.
  std::int64_t fanning = 0;
  /// Markers of finished fan-outs, deleted together with the next write or
  /// by a short timer: one write for many events instead of one each.
  std::vector<std::string> finished_markers;
  bool flush_scheduled = false;
};

using self_ptr = ingest_actor::stateful_pointer<ingest_state>;

std::string event_key(const std::string& id) {
  return "ev/" + id;
}

std::string marker_key(const std::string& id) {
  return "pf/" + id;
}

std::string version_text(std::uint64_t v) {
  auto digits = std::to_string(v);
  return std::string(20 - digits.size(), '0') + digits;
}

/// Deletes the markers of finished fan-outs. A marker that outlives a crash
/// only makes the next start fan its event out again, which webhooks
/// record once.
void flush_markers(self_ptr self, store::batch& b) {
  auto& markers = self->state.finished_markers;
  b.deletes.insert(b.deletes.end(), std::make_move_iterator(markers.begin()),
                   std::make_move_iterator(markers.end()));
  markers.clear();
}

/// Fans events out: one message per target scope for all of them. When
/// every scope has answered, their markers go; when one failed, each event
/// is fanned out again later (webhooks record an event once).
void fan_out(self_ptr self, std::vector<event_ptr> events) {
  if (events.empty())
    return;
  auto count = static_cast<std::int64_t>(events.size());
  self->state.fanning += count;
  std::map<std::string, std::pair<scope, event_batch>> by_scope;
  for (const auto& ev : events)
    for (auto& where : ev->target_scopes()) {
      auto& slot = by_scope[where.key()];
      slot.first = where;
      slot.second.events.push_back(ev);
    }
  struct tally {
    std::size_t remaining;
    bool failed = false;
  };
  auto t = std::make_shared<tally>(tally{by_scope.size()});
  auto all = std::make_shared<std::vector<event_ptr>>(std::move(events));
  auto settle = [=] {
    if (--t->remaining > 0)
      return;
    self->state.fanning -= count;
    for (const auto& ev : *all) {
      if (t->failed) {
        self->delayed_send(self, defaults::fanout_retry, atom::retry::value,
                           ev->id);
        continue;
      }
      self->state.finished_markers.push_back(marker_key(ev->id));
    }
    if (!t->failed && !self->state.flush_scheduled) {
      self->state.flush_scheduled = true;
      self->delayed_send(self, marker_flush_delay, atom::flush::value);
    }
  };
  auto& shards = self->state.shards;
  for (auto& [key, slot] : by_scope)
    self->request(shards[shard_of(slot.first, shards.size())],
                  defaults::fanout_timeout * 2, atom::fanout::value,
                  std::move(slot.second), slot.first)
      .then([=](std::size_t) { settle(); },
            [=](caf::error&) {
              t->failed = true;
              settle();
            });
}

void ingest(self_ptr self, const api_call& call, const responder_ptr& rp) {
  auto backlog = self->state.pending->load() + self->state.fanning;
  if (backlog >= self->state.max_pending)
    return rp->fail({ec::too_many_requests,
                     "hookd has " + std::to_string(backlog)
                       + " deliveries pending (limit "
                       + std::to_string(self->state.max_pending)
                       + "); retry later",
                     defaults::retry_after_seconds});
  std::vector<event> events;
  bool batch = false;
  failure err;
  if (!parse_events(call.body, call.where.org, defaults::max_event_batch,
                    events, batch, err))
    return rp->fail(std::move(err));
  auto& db = *self->state.db;
  store::batch b;
  std::vector<event_ptr> fresh;
  std::unordered_set<std::string> seen;
  auto ids = nlohmann::json::array();
  for (std::size_t i = 0; i < events.size(); ++i) {
    auto& ev = events[i];
    ids.push_back(ev.id);
    if (!seen.insert(ev.id).second)
      continue;
    // A repeated id is acknowledged again and delivered once, within its
    // organization; another organization's id is refused.
    std::string stored;
    if (ev.maybe_seen && db.get(event_key(ev.id), stored)) {
      event earlier;
      if (event_from_storage(stored, earlier) && earlier.org != ev.org)
        return rp->fail(ec::conflict,
                        (batch ? "event " + std::to_string(i) + ": " : "")
                          + "id '" + ev.id
                          + "' is taken by another organization's event");
      continue;
    }
    b.puts.emplace_back(event_key(ev.id), event_storage_json(ev));
    b.puts.emplace_back(marker_key(ev.id), "");
    fresh.push_back(std::make_shared<const event>(std::move(ev)));
  }
  if (!b.puts.empty()) {
    flush_markers(self, b);
    db.write(b);
  }
  // Fan out before answering: a client that acts on the 202 (say, changes
  // a webhook) is then ordered after the event in every registry shard.
  fan_out(self, std::move(fresh));
  rp->respond(success::accepted,
              batch ? nlohmann::json{{"ids", ids}}.dump()
                    : nlohmann::json{{"id", ids[0]}}.dump());
}

caf::result<std::string> deploy(self_ptr self, const deployment_request& req) {
  if (!valid_path_name(req.project) || !valid_path_name(req.stack))
    return caf::make_error(caf::sec::invalid_argument,
                           "invalid target stack " + req.project + '/'
                             + req.stack);
  auto stack_key = req.org + '/' + req.project + '/' + req.stack;
  auto& db = *self->state.db;
  // A retried attempt (a lost answer, a crash) gets the deployment its
  // first try queued: one event never deploys a stack twice.
  auto attempt_key = "dk/" + req.attempt_key;
  if (std::string earlier; db.get(attempt_key, earlier))
    return earlier;
  auto vit = self->state.versions.find(stack_key);
  if (vit == self->state.versions.end()) {
    std::string text;
    std::uint64_t last = db.get("dv/" + stack_key, text) ? std::stoull(text) : 0;
    vit = self->state.versions.emplace(stack_key, last).first;
  }
  auto version = vit->second + 1;
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  auto id = crypto::uuid4();
  json deployment{{"id", id},
                  {"version", version},
                  {"status", "queued"},
                  {"operation", "update"},
                  {"projectName", req.project},
                  {"stackName", req.stack},
                  {"created", now},
                  {"triggeredBy",
                   {{"webhook", req.source}, {"eventId", req.source_event}}}};
  json data{{"deploymentId", id},
            {"version", version},
            {"triggeredBy", deployment["triggeredBy"]}};
  auto ev = make_event("deployment_queued", req.org, req.project, req.stack,
                       data.dump(), req.hops + 1);
  auto text = deployment.dump();
  store::batch b;
  b.puts.emplace_back("dv/" + stack_key, std::to_string(version));
  b.puts.emplace_back("dp/" + stack_key + '/' + version_text(version), text);
  b.puts.emplace_back(attempt_key, text);
  b.puts.emplace_back(event_key(ev.id), event_storage_json(ev));
  b.puts.emplace_back(marker_key(ev.id), "");
  db.write(b);
  vit->second = version;
  fan_out(self, {std::make_shared<const event>(std::move(ev))});
  return text;
}

void list_deployments(self_ptr self, const api_call& call,
                      const responder_ptr& rp) {
  std::string body;
  self->state.db->scan("dp/" + call.where.org + '/' + call.where.project + '/'
                         + call.where.name + '/',
                       {}, true, [&](std::string_view, std::string_view value) {
                         body += body.empty() ? '[' : ',';
                         body.append(value.data(), value.size());
                         return true;
                       });
  body += body.empty() ? "[]" : "]";
  rp->respond(success::ok, std::move(body));
}

void refan(self_ptr self, const std::string& id) {
  std::string text;
  event ev;
  if (self->state.db->get(event_key(id), text)
      && event_from_storage(text, ev)) {
    ev.maybe_seen = true;
    fan_out(self, {std::make_shared<const event>(std::move(ev))});
  }
  else
    self->state.db->write({{}, {marker_key(id)}, {}});
}

ingest_actor::behavior_type ingest_behavior(self_ptr self, store_ptr db,
                                            std::vector<registry_actor> shards,
                                            pending_counter pending,
                                            std::int64_t max_pending) {
  self->state.db = std::move(db);
  self->state.pending = std::move(pending);
  self->state.max_pending = max_pending;
  self->state.shards = std::move(shards);
  // Wire the shards first: messages from one sender arrive in order, so
  // every fan-out below finds them connected.
  for (auto& shard : self->state.shards)
    self->send(shard, atom::connect::value,
               caf::actor_cast<ingest_actor>(self));
  std::vector<std::string> unfinished;
  self->state.db->scan("pf/", {}, false,
                       [&](std::string_view key, std::string_view) {
                         unfinished.emplace_back(key.substr(3));
                         return true;
                       });
  for (auto& id : unfinished)
    refan(self, id);
  self->set_exit_handler([=](caf::exit_msg& msg) { self->quit(msg.reason); });
  return {
    [=](api_call& call, responder_ptr& rp) {
      try {
        if (call.op == operation::ingest_events)
          return ingest(self, call, rp);
        if (call.op == operation::list_deployments)
          return list_deployments(self, call, rp);
        rp->fail(ec::internal, "unexpected request for ingestion");
      } catch (const store_error&) {
        rp->fail(ec::unavailable, "the store failed; nothing was accepted; "
                                  "retry later");
      } catch (const std::exception& e) {
        rp->fail(ec::internal, std::string{"internal error: "} + e.what());
      }
    },
    [=](atom::deploy, deployment_request& req) -> caf::result<std::string> {
      try {
        return deploy(self, req);
      } catch (const std::exception& e) {
        return caf::make_error(caf::sec::runtime_error, e.what());
      }
    },
    [=](atom::flush) {
      self->state.flush_scheduled = false;
      if (self->state.finished_markers.empty())
        return;
      store::batch b;
      flush_markers(self, b);
      try {
        self->state.db->write(b);
      } catch (const store_error&) {
        // The markers stay; the next start fans out again, harmlessly.
      }
    },
    [=](atom::retry, std::string& id) {
      try {
        refan(self, id);
      } catch (const store_error&) {
        self->delayed_send(self, defaults::fanout_retry, atom::retry::value, id);
      }
    },
  };
}

} // namespace

ingest_actor spawn_ingest(caf::actor_system& sys, store_ptr db,
                          std::vector<registry_actor> shards,
                          pending_counter pending, std::int64_t max_pending) {
  return sys.spawn(ingest_behavior, std::move(db), std::move(shards),
                   std::move(pending), max_pending);
}

} // namespace hookd
