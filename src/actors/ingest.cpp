// Ingestion: an event is on disk, with a fan-out marker, before its 202.
// Fan-out then hands it to the registry shards of its scopes; the marker
// goes once every shard answered that its webhooks recorded it. Markers left
// by a crash are fanned out again on start (webhooks record an event once).
// Events are deleted once older than their retention, unless their fan-out
// is unfinished. Owns ev/, et/, eb/ and pf/ (keys.hpp).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iterator>
#include <map>
#include <numeric>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "hookd/components.hpp"
#include "hookd/deadlines.hpp"
#include "hookd/defaults.hpp"
#include "hookd/ingest_gate.hpp"
#include "hookd/keys.hpp"
#include "hookd/metrics.hpp"
#include "reads.hpp"

namespace hookd {

namespace {

constexpr auto marker_flush_delay = std::chrono::milliseconds{20};

struct ingest_state {
  static inline const char* name = "hookd.ingest";
  /// Fan-outs waiting for an answer, by deadline.
  hookd::deadlines deadlines;
  store_ptr db;
  store_writer_actor writer;
  store_reader_actor reader;
  /// Registry shards by number, as they subscribe.
  std::vector<fanout_actor> shards;
  std::chrono::seconds retention{0};
  /// The bounds, the ids being written and the stamps: shared with the
  /// front end when it ingests itself (ingest_gate.hpp).
  ingest_gate_ptr gate;
  /// Where the front end finds this partition's ingestion (null: it never
  /// ingests itself), and this actor's claim on it.
  partition_reads_ptr reads;
  std::uint64_t reads_claim = 0;
  bool published = false;
  /// The front end writes events to the store itself (else it hands them
  /// to the store writer).
  bool front_end_writes = false;
  /// Each shard's webhooks by organization (as last reported).
  std::vector<std::unordered_map<std::string, std::int64_t>> shard_org_hooks;
  /// The same for webhooks using plugin behaviours, and each shard's total.
  std::vector<std::unordered_map<std::string, std::int64_t>>
      shard_org_plugin_hooks;
  std::vector<std::int64_t> shard_plugin_hooks;
  /// Markers of finished fan-outs, deleted together with the next write or
  /// by a short timer: one write for many events instead of one each.
  std::vector<std::string> finished_markers;
  bool flush_scheduled = false;
  /// Markers left by the last run were fanned out again.
  bool recovered = false;

  /// The node's partitions share its bounds (node_load): each keeps its
  /// share of the node's webhooks using plugins current.
  std::shared_ptr<node_load> load;
  std::int64_t published_plugins = 0;

  std::int64_t plugin_hooks() const {
    return std::accumulate(shard_plugin_hooks.begin(), shard_plugin_hooks.end(),
                           std::int64_t{0});
  }

  void sync_plugins() {
    if (!load)
      return;
    auto now = plugin_hooks();
    load->plugin_hooks.fetch_add(now - published_plugins);
    published_plugins = now;
  }

  /// Webhooks using plugin behaviours, over the whole node.
  std::int64_t node_plugin_hooks() {
    sync_plugins();
    return load ? load->plugin_hooks.load() : plugin_hooks();
  }

  ingest_state() = default;
  ingest_state(const ingest_state&) = delete;
  ingest_state& operator=(const ingest_state&) = delete;
  ~ingest_state() {
    // The front end stops ingesting here before this actor is gone.
    if (reads && published)
      reads->publish_ingest(reads_claim, nullptr);
    if (load)
      load->plugin_hooks.fetch_sub(published_plugins);
  }

  bool all_subscribed() const {
    return std::all_of(shards.begin(), shards.end(),
                       [](const auto& s) { return static_cast<bool>(s); });
  }

  void forget_shard(std::size_t n) {
    gate->reset_shard(n);
    shard_org_hooks[n].clear();
    shard_org_plugin_hooks[n].clear();
    shard_plugin_hooks[n] = 0;
    sync_plugins();
  }
};

using self_ptr = ingest_actor::stateful_pointer<ingest_state>;

/// Deletes the markers of finished fan-outs along with `b`. A marker that
/// outlives a crash only makes the next start fan its event out again,
/// which webhooks record once.
void take_markers(self_ptr self, write_batch& b) {
  auto& markers = self->state.finished_markers;
  b.deletes.insert(b.deletes.end(), std::make_move_iterator(markers.begin()),
                   std::make_move_iterator(markers.end()));
  markers.clear();
}

void write(self_ptr self, write_batch b) {
  self->request(self->state.writer, caf::infinite, atom::write::value,
                std::move(b))
      .then([](std::uint64_t) {},
            [](caf::error&) {
              // Only markers: they stay, and the next start fans out again.
            });
}

/// Fans events out: one message per target scope for all of them. When
/// every scope has answered, their markers go; when one failed, each event
/// is fanned out again later (webhooks record an event once).
void fan_out(self_ptr self, std::vector<event_ptr> events) {
  if (events.empty())
    return;
  // Every event of a fan-out is of one organization.
  auto org = events.front()->org;
  std::int64_t count = 0;
  for (const auto& ev : events)
    count += self->state.gate->deliveries_of(*ev);
  self->state.gate->add_fanning(org, count);
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
    self->state.gate->add_fanning(org, -count);
    for (const auto& ev : *all) {
      if (t->failed) {
        self->delayed_send(self, defaults::fanout_retry, atom::retry::value,
                           ev->id);
        continue;
      }
      self->state.finished_markers.push_back(keys::fanout_marker(ev->id));
    }
    if (!t->failed && !self->state.flush_scheduled) {
      self->state.flush_scheduled = true;
      self->delayed_send(self, marker_flush_delay, atom::flush::value);
    }
  };
  auto& shards = self->state.shards;
  for (auto& [key, slot] : by_scope) {
    auto& shard = shards[shard_of(slot.first, shards.size())];
    if (!shard) {
      // The shard is restarting: the events wait for the retry.
      t->failed = true;
      settle();
      continue;
    }
    request_within<std::size_t>(
        self, self->state.deadlines, defaults::fanout_timeout * 2, shard,
        [=](std::size_t) { settle(); },
        [=] {
          t->failed = true;
          settle();
        },
        atom::fanout::value, std::move(slot.second), slot.first);
  }
}

/// Writes the new events of a parsed request, then fans them out and
/// answers 202. `reserved`: the deliveries admitted for it, counted as
/// fanning out until its own fan-out counts them.
void accept(self_ptr self, parsed_events parsed, const earlier_events& earlier,
            std::int64_t reserved,
            caf::typed_response_promise<api_response> rp) {
  auto& st = self->state;
  auto org = parsed.events.front().org;
  auto gate = st.gate;
  auto fresh = std::make_shared<std::vector<event_ptr>>();
  std::string answer;
  if (auto refused = claim_new_events(*gate, parsed, earlier, *fresh, answer)) {
    gate->add_fanning(org, -reserved);
    rp.deliver(std::move(refused));
    return;
  }
  api_response accepted{success::accepted, std::move(answer), {}};
  if (fresh->empty()) {
    gate->add_fanning(org, -reserved);
    rp.deliver(std::move(accepted));
    return;
  }
  write_batch b;
  for (const auto& ev : *fresh)
    put_event(b, *ev, gate->stamp());
  take_markers(self, b);
  self->request(st.writer, caf::infinite, atom::write::value, std::move(b))
      .then(
          [=](std::uint64_t) mutable {
            release_events(*gate, *fresh, true);
            // Fan out before answering: a client that acts on the 202 (say,
            // changes a webhook) is then ordered after the event in every
            // registry shard. fan_out() counts the events from here on.
            gate->add_fanning(org, -reserved);
            metrics::events_ingested(fresh->size());
            fan_out(self, std::move(*fresh));
            rp.deliver(std::move(accepted));
          },
          [=](caf::error& err) mutable {
            release_events(*gate, *fresh, false);
            gate->add_fanning(org, -reserved);
            rp.deliver(not_accepted(err));
          });
}

caf::result<api_response> ingest(self_ptr self, const api_call& call) {
  auto& st = self->state;
  auto gate = st.gate;
  if (auto err = gate->check_room(call.where.org))
    return err;
  auto parsed
      = parse_events(call.body, call.where.org, defaults::max_event_batch);
  if (!parsed)
    return std::move(parsed.error());
  // What the whole request adds must fit, counted until its fan-out
  // counts it: a batch cannot walk past the bounds.
  std::int64_t added = 0;
  if (auto err = gate->admit(call.where.org, parsed->events, added))
    return err;
  auto rp = self->make_response_promise<api_response>();
  // Ids the client chose may name events stored before: read them (on the
  // store readers) before deciding what is new.
  read_request lookups;
  for (const auto& ev : parsed->events)
    if (ev.maybe_seen && !gate->known_org(ev.id))
      lookups.keys.push_back(keys::event(ev.id));
  if (lookups.keys.empty()) {
    accept(self, std::move(*parsed), {}, added, rp);
    return rp;
  }
  auto keys_read = lookups.keys;
  gate->begin_lookups();
  self->request(st.reader, caf::infinite, atom::get::value, std::move(lookups))
      .then(
          [=](read_results& found) mutable {
            gate->end_lookups();
            earlier_events earlier;
            auto prefix_len = keys::event("").size();
            for (std::size_t i = 0;
                 i < found.items.size() && i < keys_read.size(); ++i)
              if (found.items[i].found)
                earlier.emplace(keys_read[i].substr(prefix_len),
                                std::move(found.items[i].value));
            accept(self, std::move(*parsed), earlier, added, rp);
          },
          [=, org = call.where.org](caf::error& err) mutable {
            gate->end_lookups();
            gate->add_fanning(org, -added);
            rp.deliver(not_accepted(err));
          });
  return rp;
}

/// An event raised inside hookd counts against the bounds like one a
/// client sends: a refusal fails the attempt that raised it, which its
/// webhook tries again later.
caf::result<std::string> raise(self_ptr self, event& ev) {
  auto& gate = *self->state.gate;
  if (auto err = gate.admit_count(ev.org, gate.deliveries_of(ev)))
    return err;
  write_batch b;
  put_event(b, ev, gate.stamp());
  take_markers(self, b);
  auto ptr = std::make_shared<const event>(std::move(ev));
  auto rp = self->make_response_promise<std::string>();
  self->request(self->state.writer, caf::infinite, atom::write::value,
                std::move(b))
      .then(
          [=](std::uint64_t) mutable {
            fan_out(self, {ptr});
            rp.deliver(ptr->id);
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

/// Fans out an event whose marker is left (a crash, a failed fan-out).
void refan(self_ptr self, const std::string& id) {
  auto& st = self->state;
  read_key(self, *st.db, st.reader, keys::event(id), order::interleaved,
           [=](caf::expected<std::optional<std::string>> text) {
             if (!text) {
               self->delayed_send(self, defaults::fanout_retry,
                                  atom::retry::value, id);
               return;
             }
             event ev;
             if (*text && event_from_storage(**text, ev)) {
               ev.maybe_seen = true;
               fan_out(self, {std::make_shared<const event>(std::move(ev))});
               return;
             }
             write_batch b;
             b.deletes.push_back(keys::fanout_marker(id));
             write(self, std::move(b));
           });
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// How often expired events are looked for: often enough that a short
/// retention is kept to within about a quarter of it.
caf::timespan sweep_interval(const ingest_state& st) {
  return std::clamp<caf::timespan>(st.retention / 4, std::chrono::seconds{1},
                                   std::chrono::minutes{1});
}

/// Deletes expired events, a page at a time from `start` (the oldest
/// first), then waits for the next round. An event whose fan-out is
/// unfinished stays until it is finished.
void sweep(self_ptr self, std::string start) {
  auto& st = self->state;
  scan_request req;
  req.prefix = keys::event_times_prefix();
  req.start = std::move(start);
  req.keys_only = true;
  req.limit = defaults::retention_page;
  auto later = [self] {
    self->delayed_send(self, sweep_interval(self->state), atom::sweep::value);
  };
  scan_range(
      self, *st.db, st.reader, std::move(req), order::interleaved,
      [=](caf::expected<scan_result> found) {
        if (!found)
          return later();
        auto cutoff = now_seconds() - self->state.retention.count();
        auto prefix_len = std::string_view{keys::event_times_prefix()}.size();
        std::vector<std::string> time_keys, markers;
        for (auto& [key, value] : found->items) {
          // "et/<20 digits>/<id>"
          if (std::strtoll(key.c_str() + prefix_len, nullptr, 10) > cutoff)
            break;
          markers.push_back(keys::fanout_marker(key.substr(prefix_len + 21)));
          time_keys.push_back(key);
        }
        if (time_keys.empty())
          return later();
        auto all_expired = time_keys.size() == found->items.size();
        auto more = all_expired && found->truncated;
        auto next = found->last_seen + '\0';
        read_keys(self, *self->state.db, self->state.reader, std::move(markers),
                  order::interleaved, [=](caf::expected<read_results> fanning) {
                    if (!fanning)
                      return later();
                    write_batch b;
                    for (std::size_t i = 0; i < time_keys.size(); ++i) {
                      auto id = time_keys[i].substr(prefix_len + 21);
                      if (fanning->items[i].found
                          || self->state.gate->known_org(id))
                        continue;
                      b.deletes.push_back(keys::event(id));
                      b.deletes.push_back(keys::deployment_budget(id));
                      b.deletes.push_back(time_keys[i]);
                    }
                    if (b.empty())
                      return more ? sweep(self, next) : later();
                    self->request(self->state.writer, caf::infinite,
                                  atom::write::value, std::move(b))
                        .then(
                            [=](std::uint64_t) {
                              if (more)
                                sweep(self, next);
                              else
                                later();
                            },
                            [=](caf::error&) { later(); });
                  });
      });
}

/// Gives every event stored before there were et/ keys its key, once,
/// then starts the sweeps.
void start_retention(self_ptr self) {
  auto& st = self->state;
  read_key(self, *st.db, st.reader, keys::event_times_complete(),
           order::in_order,
           [=](caf::expected<std::optional<std::string>> complete) {
             if (!complete)
               return self->quit(complete.error());
             if (*complete)
               return sweep(self, {});
             auto batch = std::make_shared<write_batch>();
             auto flush = [=] {
               if (!batch->empty())
                 write(self, std::move(*batch));
               *batch = write_batch{};
             };
             scan_request req;
             req.prefix = "ev/";
             load_range(
                 self, self->state.reader, std::move(req),
                 [=](const std::string&, const std::string& value) {
                   event ev;
                   if (!event_from_storage(value, ev))
                     return;
                   batch->puts.emplace_back(
                       keys::event_time(ev.created_at, ev.id), "");
                   if (batch->puts.size() >= defaults::retention_page)
                     flush();
                 },
                 [=](const caf::error& err) {
                   if (err)
                     return self->quit(err);
                   batch->puts.emplace_back(keys::event_times_complete(), "");
                   flush();
                   sweep(self, {});
                 });
           });
}

/// Fans out again, in their order, the events `ids[from..]`, a page at a
/// time: each page is read in one request and fanned out before the next
/// is read, so a webhook is offered them in the order they were accepted.
void refan_in_order(self_ptr self,
                    std::shared_ptr<const std::vector<std::string>> ids,
                    std::size_t from) {
  constexpr std::size_t page = 256;
  if (from >= ids->size())
    return start_retention(self);
  auto until = std::min(ids->size(), from + page);
  std::vector<std::string> keys;
  for (auto i = from; i < until; ++i)
    keys.push_back(keys::event((*ids)[i]));
  auto& st = self->state;
  read_keys(
      self, *st.db, st.reader, std::move(keys), order::in_order,
      [=](caf::expected<read_results> found) {
        if (!found) {
          // One by one, later; their order is then lost, not the events.
          for (auto i = from; i < until; ++i)
            self->delayed_send(self, defaults::fanout_retry, atom::retry::value,
                               (*ids)[i]);
          return refan_in_order(self, ids, until);
        }
        write_batch gone;
        std::vector<event_ptr> run; // consecutive events of one organization
        auto flush = [&] {
          if (!run.empty())
            fan_out(self, std::move(run));
          run.clear();
        };
        for (auto i = from; i < until; ++i) {
          auto& item = found->items[i - from];
          event ev;
          if (!item.found || !event_from_storage(item.value, ev)) {
            gone.deletes.push_back(keys::fanout_marker((*ids)[i]));
            continue;
          }
          ev.maybe_seen = true;
          if (!run.empty() && run.front()->org != ev.org)
            flush();
          run.push_back(std::make_shared<const event>(std::move(ev)));
        }
        flush();
        if (!gone.empty())
          write(self, std::move(gone));
        refan_in_order(self, ids, until);
      });
}

/// Once every shard is there: fans out again the events whose fan-out a
/// crash or a stop left unfinished, in the order they were accepted (their
/// markers' stamps; markers written before stamps sort first).
void recover(self_ptr self) {
  auto& st = self->state;
  st.recovered = true;
  scan_request req;
  req.prefix = keys::fanout_markers_prefix();
  auto unfinished
      = std::make_shared<std::vector<std::pair<std::string, std::string>>>();
  load_range(
      self, st.reader, std::move(req),
      [unfinished](const std::string& key, const std::string& stamp) {
        unfinished->emplace_back(
            stamp,
            key.substr(std::string_view{keys::fanout_markers_prefix()}.size()));
      },
      [=](const caf::error& err) {
        // Tried again by the node, which revives a component that quits.
        if (err)
          return self->quit(err);
        std::sort(unfinished->begin(), unfinished->end());
        auto ids = std::make_shared<std::vector<std::string>>();
        ids->reserve(unfinished->size());
        for (auto& [stamp, id] : *unfinished)
          ids->push_back(std::move(id));
        unfinished->clear();
        refan_in_order(self, std::move(ids), 0);
      });
}

ingest_actor::behavior_type ingest_behavior(self_ptr self, store_ptr db,
                                            store_writer_actor writer,
                                            store_reader_actor reader,
                                            std::size_t shard_count,
                                            ingest_limits limits) {
  auto& st = self->state;
  st.db = std::move(db);
  st.writer = std::move(writer);
  st.reader = std::move(reader);
  st.load = limits.load;
  st.gate = std::make_shared<ingest_gate>(shard_count, limits);
  st.reads = limits.reads;
  st.front_end_writes = limits.front_end_writes;
  if (st.reads)
    st.reads_claim = st.reads->claim_ingest();
  st.retention = limits.event_retention.count() > 0 ? limits.event_retention
                                                    : defaults::event_retention;
  st.shards.resize(shard_count);
  st.shard_org_hooks.resize(shard_count);
  st.shard_org_plugin_hooks.resize(shard_count);
  st.shard_plugin_hooks.resize(shard_count);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    for (std::size_t n = 0; n < st.shards.size(); ++n)
      if (st.shards[n] && st.shards[n].address() == dm.source) {
        st.shards[n] = nullptr;
        st.forget_shard(n);
      }
  });
  return {
      [=](api_call& call) -> caf::result<api_response> {
        if (call.op != operation::ingest_events)
          return make_error(ec::internal, "unexpected request for ingestion");
        return ingest(self, call);
      },
      [=](atom::raise, event& ev) { return raise(self, ev); },
      [=](atom::subscribe, std::size_t n, fanout_actor& shard) {
        auto& st = self->state;
        if (n >= st.shards.size())
          return;
        // Watched: fan-outs to a shard that is gone wait for its successor.
        self->monitor(shard);
        st.shards[n] = std::move(shard);
        st.forget_shard(n);
        if (!st.all_subscribed())
          return;
        if (!st.recovered)
          recover(self);
        // Every shard is there: the front end may ingest itself, and
        // hand this actor the events to fan out.
        if (st.reads && !st.published) {
          st.published = true;
          st.reads->publish_ingest(
              st.reads_claim, std::make_shared<const ingest_door>(ingest_door{
                                  st.gate, caf::actor_cast<ingest_actor>(self),
                                  st.db, st.writer, st.front_end_writes}));
        }
      },
      [=](atom::pending, std::size_t n, std::int64_t total,
          shard_report& report) {
        auto& st = self->state;
        // Only the shard's current registry counts; one still stopping
        // does not.
        auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
        if (n >= st.shards.size() || !st.shards[n]
            || st.shards[n].address() != sender)
          return;
        st.gate->report(n, total, report);
        auto update = [](auto& counts, auto& changes) {
          for (auto& [name, count] : changes)
            if (count == 0)
              counts.erase(name);
            else
              counts[name] = count;
        };
        update(st.shard_org_hooks[n], report.org_hooks);
        update(st.shard_org_plugin_hooks[n], report.org_plugin_hooks);
        st.shard_plugin_hooks[n] = report.plugin_hooks;
        st.sync_plugins();
      },
      [=](atom::fanout, ingest_turn& turn) {
        // Written by the front end (direct_routes.hpp): fanned out before
        // the 202, as ingest() does; the requests of one organization
        // together.
        auto& gate = *self->state.gate;
        std::vector<event_ptr> run;
        auto flush = [&] {
          if (!run.empty())
            fan_out(self, std::move(run));
          run.clear();
        };
        for (std::size_t i = 0; i < turn.requests.size(); ++i) {
          auto& events = turn.requests[i].events;
          if (events.empty())
            continue;
          const auto& org = events.front()->org;
          if (i < turn.reserved.size())
            gate.add_fanning(org, -turn.reserved[i]);
          if (!run.empty() && run.front()->org != org)
            flush();
          run.insert(run.end(), std::make_move_iterator(events.begin()),
                     std::make_move_iterator(events.end()));
        }
        flush();
        return true;
      },
      [=](atom::stats) { return self->state.gate->pending(); },
      [=](atom::hooks, const std::string& org) {
        auto& st = self->state;
        auto sum = [&](const auto& shards) {
          std::int64_t total = 0;
          for (const auto& counts : shards)
            if (auto it = counts.find(org); it != counts.end())
              total += it->second;
          return total;
        };
        return std::make_tuple(sum(st.shard_org_hooks),
                               sum(st.shard_org_plugin_hooks),
                               st.node_plugin_hooks());
      },
      [=](atom::status) {
        component_status s{"ingest", self->state.all_subscribed(), {}};
        if (!s.ready)
          s.detail = "waiting for registry shards";
        return s;
      },
      [=](atom::flush) {
        self->state.flush_scheduled = false;
        if (self->state.finished_markers.empty())
          return;
        write_batch b;
        take_markers(self, b);
        write(self, std::move(b));
      },
      [=](atom::retry, std::string& id) { refan(self, id); },
      [=](atom::sweep) { sweep(self, {}); },
      [=](atom::expire) { sweep_deadlines(self, self->state.deadlines); },
  };
}

} // namespace

ingest_actor spawn_ingest(caf::actor_system& sys, store_ptr db,
                          store_writer_actor writer, store_reader_actor reader,
                          std::size_t shard_count, ingest_limits limits) {
  return sys.spawn(ingest_behavior, std::move(db), std::move(writer),
                   std::move(reader), shard_count, limits);
}

} // namespace hookd
