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
#include <unordered_set>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "hookd/components.hpp"
#include "hookd/deadlines.hpp"
#include "hookd/defaults.hpp"
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
  /// The last acceptance stamp given (see accept_stamp).
  std::uint64_t last_stamp = 0;
  store_ptr db;
  store_writer_actor writer;
  store_reader_actor reader;
  /// Registry shards by number, as they subscribe.
  std::vector<fanout_actor> shards;
  /// Unfinished deliveries per shard, as each last reported.
  std::vector<std::int64_t> shard_pending;
  std::int64_t max_pending = 0;
  std::int64_t max_pending_per_org = 0;
  std::chrono::seconds retention{0};
  /// Each shard's unfinished deliveries by organization (as last reported).
  std::vector<std::unordered_map<std::string, std::int64_t>> shard_org_pending;
  /// Each shard's active webhooks by scope key (as last reported): what an
  /// event to that scope adds at most.
  std::vector<std::unordered_map<std::string, std::int64_t>> shard_scope_hooks;
  /// Each shard's webhooks by organization (as last reported).
  std::vector<std::unordered_map<std::string, std::int64_t>> shard_org_hooks;
  /// The same for webhooks using plugin behaviours, and each shard's total.
  std::vector<std::unordered_map<std::string, std::int64_t>>
      shard_org_plugin_hooks;
  std::vector<std::int64_t> shard_plugin_hooks;
  /// Deliveries of events accepted whose fan-out has not finished, as
  /// estimated: not yet counted by any shard, but owed all the same, so
  /// they count against the bound. In all and by organization.
  std::int64_t fanning = 0;
  std::unordered_map<std::string, std::int64_t> org_fanning;
  /// Ids being written: a repeat arriving meanwhile is not written twice.
  /// The organization of each id being written, and of ids written while
  /// reads of client-chosen ids were under way (those reads may have
  /// missed them): a repeat, or another organization's use, is seen here.
  std::unordered_map<std::string, std::string> committing;
  std::unordered_map<std::string, std::string> recent;
  std::size_t lookups_in_flight = 0;

  /// The organization whose event holds `id` per memory, or nullptr.
  const std::string* known_org(const std::string& id) const {
    if (auto it = committing.find(id); it != committing.end())
      return &it->second;
    if (auto it = recent.find(id); it != recent.end())
      return &it->second;
    return nullptr;
  }
  /// Markers of finished fan-outs, deleted together with the next write or
  /// by a short timer: one write for many events instead of one each.
  std::vector<std::string> finished_markers;
  bool flush_scheduled = false;
  /// Markers left by the last run were fanned out again.
  bool recovered = false;

  std::int64_t org_pending(const std::string& org) const {
    std::int64_t total = 0;
    for (const auto& counts : shard_org_pending)
      if (auto it = counts.find(org); it != counts.end())
        total += it->second;
    if (auto it = org_fanning.find(org); it != org_fanning.end())
      total += it->second;
    return total;
  }

  /// The most deliveries an event adds: the active webhooks of its scopes.
  std::int64_t deliveries_of(const event& ev) const {
    std::int64_t total = 0;
    for (const auto& where : ev.target_scopes()) {
      const auto& counts = shard_scope_hooks[shard_of(where, shards.size())];
      if (auto it = counts.find(where.key()); it != counts.end())
        total += it->second;
    }
    return total;
  }

  /// Counts (or, with a negative sign, stops counting) deliveries that
  /// events of `org` will add once fanned out.
  void add_fanning(const std::string& org, std::int64_t n) {
    fanning += n;
    auto& count = org_fanning[org];
    count += n;
    if (count == 0)
      org_fanning.erase(org);
    sync();
  }

  std::int64_t pending() const {
    return std::accumulate(shard_pending.begin(), shard_pending.end(),
                           std::int64_t{0});
  }

  /// The node's partitions share its bounds (node_load): each keeps its
  /// share of the node's counts current.
  std::shared_ptr<node_load> load;
  std::int64_t published_backlog = 0;
  std::int64_t published_plugins = 0;

  std::int64_t plugin_hooks() const {
    return std::accumulate(shard_plugin_hooks.begin(), shard_plugin_hooks.end(),
                           std::int64_t{0});
  }

  void sync() {
    if (!load)
      return;
    auto backlog_now = pending() + fanning;
    load->backlog.fetch_add(backlog_now - published_backlog);
    published_backlog = backlog_now;
    auto plugins_now = plugin_hooks();
    load->plugin_hooks.fetch_add(plugins_now - published_plugins);
    published_plugins = plugins_now;
  }

  /// Deliveries pending or being fanned out, over the whole node.
  std::int64_t backlog() {
    sync();
    return load ? load->backlog.load() : pending() + fanning;
  }

  /// Webhooks using plugin behaviours, over the whole node.
  std::int64_t node_plugin_hooks() {
    sync();
    return load ? load->plugin_hooks.load() : plugin_hooks();
  }

  ingest_state() = default;
  ingest_state(const ingest_state&) = delete;
  ingest_state& operator=(const ingest_state&) = delete;
  ~ingest_state() {
    if (load) {
      load->backlog.fetch_sub(published_backlog);
      load->plugin_hooks.fetch_sub(published_plugins);
    }
  }

  bool all_subscribed() const {
    return std::all_of(shards.begin(), shards.end(),
                       [](const auto& s) { return static_cast<bool>(s); });
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

/// A stamp that orders acceptances: nanoseconds since the epoch, and
/// always past the last one given, as 20 digits so that stamps sort as
/// text. Kept in an event's fan-out marker, so that fan-outs a crash left
/// unfinished are done again in the order the events were accepted (a
/// stage such as debounce keeps the last event of a stack: replayed in
/// another order, it would keep another).
std::string accept_stamp(ingest_state& st) {
  auto now = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  st.last_stamp = std::max(now, st.last_stamp + 1);
  auto text = std::to_string(st.last_stamp);
  return std::string(20 - std::min<std::size_t>(20, text.size()), '0') + text;
}

/// An accepted event is written with its fan-out marker (holding its
/// acceptance stamp) and its place in the order of expiry, together.
void put_event(write_batch& b, const event& ev, const std::string& stamp) {
  b.puts.emplace_back(keys::event(ev.id), event_storage_json(ev));
  b.puts.emplace_back(keys::fanout_marker(ev.id), stamp);
  b.puts.emplace_back(keys::event_time(ev.created_at, ev.id), "");
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
    count += self->state.deliveries_of(*ev);
  self->state.add_fanning(org, count);
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
    self->state.add_fanning(org, -count);
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

/// Earlier events under the ids a client chose, read before accepting.
using earlier_events = std::unordered_map<std::string, std::string>;

/// Admits events of `org` that add at most `added` deliveries, or says why
/// not: every bound on pending work holds after them, not only before.
caf::error admit(ingest_state& st, const std::string& org, std::int64_t added) {
  auto limit_of_org = st.max_pending_per_org;
  if (added > std::min(st.max_pending, limit_of_org))
    return make_error(
        ec::payload_too_large,
        "these events would add up to " + std::to_string(added)
            + " deliveries, more than may be pending at once ("
            + std::to_string(std::min(st.max_pending, limit_of_org))
            + "); send fewer events at a time");
  auto backlog = st.backlog();
  if (backlog + added > st.max_pending)
    return make_error(ec::too_many_requests,
                      "hookd has " + std::to_string(backlog)
                          + " deliveries pending (limit "
                          + std::to_string(st.max_pending) + "); retry later");
  // One organization whose receivers are down cannot take the whole
  // node's room.
  if (auto own = st.org_pending(org); own + added > limit_of_org)
    return make_error(ec::too_many_requests,
                      "organization '" + org + "' has " + std::to_string(own)
                          + " deliveries pending (limit "
                          + std::to_string(limit_of_org)
                          + " an organization); retry later");
  return {};
}

/// Writes the new events of a parsed request, then fans them out and
/// answers 202. `reserved`: the deliveries admitted for it, counted as
/// fanning out until its own fan-out counts them.
void accept(self_ptr self, parsed_events parsed, const earlier_events& earlier,
            std::int64_t reserved,
            caf::typed_response_promise<api_response> rp) {
  auto& st = self->state;
  auto org = parsed.events.front().org;
  st.add_fanning(org, -reserved);
  auto& events = parsed.events;
  auto batch = parsed.batch;
  write_batch b;
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
    if (ev.maybe_seen) {
      std::string owner;
      if (auto org = st.known_org(ev.id)) {
        owner = *org;
      } else if (auto it = earlier.find(ev.id); it != earlier.end()) {
        event before;
        owner = event_from_storage(it->second, before) ? before.org : ev.org;
      }
      if (!owner.empty()) {
        if (owner != ev.org) {
          rp.deliver(make_error(
              ec::conflict,
              (batch ? "event " + std::to_string(i) + ": " : "") + "id '"
                  + ev.id + "' is taken by another organization's event"));
          return;
        }
        continue;
      }
    }
    put_event(b, ev, accept_stamp(st));
    fresh.push_back(std::make_shared<const event>(std::move(ev)));
  }
  api_response accepted{success::accepted,
                        batch ? nlohmann::json{{"ids", ids}}.dump()
                              : nlohmann::json{{"id", ids[0]}}.dump(),
                        {}};
  if (fresh.empty()) {
    rp.deliver(std::move(accepted));
    return;
  }
  take_markers(self, b);
  std::int64_t count = 0;
  for (const auto& ev : fresh)
    count += st.deliveries_of(*ev);
  st.add_fanning(org, count);
  for (const auto& ev : fresh)
    st.committing.emplace(ev->id, ev->org);
  auto forget = [=](bool written) {
    auto& st = self->state;
    for (const auto& ev : fresh) {
      st.committing.erase(ev->id);
      if (written && st.lookups_in_flight > 0)
        st.recent.emplace(ev->id, ev->org);
    }
  };
  self->request(st.writer, caf::infinite, atom::write::value, std::move(b))
      .then(
          [=](std::uint64_t) mutable {
            forget(true);
            // Fan out before answering: a client that acts on the 202 (say,
            // changes a webhook) is then ordered after the event in every
            // registry shard. fan_out() counts the events from here on.
            self->state.add_fanning(org, -count);
            metrics::events_ingested(fresh.size());
            fan_out(self, fresh);
            rp.deliver(std::move(accepted));
          },
          [=](caf::error& err) mutable {
            forget(false);
            self->state.add_fanning(org, -count);
            rp.deliver(make_error(
                ec::unavailable, "the store failed (" + message_of(err)
                                     + "); nothing was accepted; retry later"));
          });
}

caf::result<api_response> ingest(self_ptr self, const api_call& call) {
  auto& st = self->state;
  auto backlog = st.backlog();
  if (backlog >= st.max_pending)
    return make_error(ec::too_many_requests,
                      "hookd has " + std::to_string(backlog)
                          + " deliveries pending (limit "
                          + std::to_string(st.max_pending) + "); retry later");
  // One organization whose receivers are down cannot take the whole
  // node's room.
  if (auto own = st.org_pending(call.where.org); own >= st.max_pending_per_org)
    return make_error(ec::too_many_requests,
                      "organization '" + call.where.org + "' has "
                          + std::to_string(own) + " deliveries pending (limit "
                          + std::to_string(st.max_pending_per_org)
                          + " an organization); retry later");
  auto parsed
      = parse_events(call.body, call.where.org, defaults::max_event_batch);
  if (!parsed)
    return std::move(parsed.error());
  // What the whole request adds must fit, counted until its fan-out
  // counts it: a batch cannot walk past the bounds.
  std::int64_t added = 0;
  for (const auto& ev : parsed->events)
    added += st.deliveries_of(ev);
  if (auto err = admit(st, call.where.org, added))
    return err;
  st.add_fanning(call.where.org, added);
  auto rp = self->make_response_promise<api_response>();
  // Ids the client chose may name events stored before: read them (on the
  // store readers) before deciding what is new.
  read_request lookups;
  for (const auto& ev : parsed->events)
    if (ev.maybe_seen && !st.known_org(ev.id))
      lookups.keys.push_back(keys::event(ev.id));
  if (lookups.keys.empty()) {
    accept(self, std::move(*parsed), {}, added, rp);
    return rp;
  }
  auto keys_read = lookups.keys;
  ++st.lookups_in_flight;
  auto done = [=] {
    auto& st = self->state;
    if (--st.lookups_in_flight == 0)
      st.recent.clear();
  };
  self->request(st.reader, caf::infinite, atom::get::value, std::move(lookups))
      .then(
          [=](read_results& found) mutable {
            done();
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
            done();
            self->state.add_fanning(org, -added);
            rp.deliver(make_error(
                ec::unavailable, "the store failed (" + message_of(err)
                                     + "); nothing was accepted; retry later"));
          });
  return rp;
}

/// An event raised inside hookd counts against the bounds like one a
/// client sends: a refusal fails the attempt that raised it, which its
/// webhook tries again later.
caf::result<std::string> raise(self_ptr self, event& ev) {
  if (auto err = admit(self->state, ev.org, self->state.deliveries_of(ev)))
    return err;
  write_batch b;
  put_event(b, ev, accept_stamp(self->state));
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
                          || self->state.committing.count(id) > 0)
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
  st.max_pending = limits.max_pending;
  st.load = limits.load;
  // Unset (0): an organization is bounded by the node's limit only.
  st.max_pending_per_org = limits.max_pending_per_org > 0
                               ? limits.max_pending_per_org
                               : limits.max_pending;
  st.retention = limits.event_retention.count() > 0 ? limits.event_retention
                                                    : defaults::event_retention;
  st.shards.resize(shard_count);
  st.shard_pending.resize(shard_count);
  st.shard_org_pending.resize(shard_count);
  st.shard_scope_hooks.resize(shard_count);
  st.shard_org_hooks.resize(shard_count);
  st.shard_org_plugin_hooks.resize(shard_count);
  st.shard_plugin_hooks.resize(shard_count);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    for (std::size_t n = 0; n < st.shards.size(); ++n)
      if (st.shards[n] && st.shards[n].address() == dm.source) {
        st.shards[n] = nullptr;
        st.shard_pending[n] = 0;
        st.sync();
        st.shard_org_pending[n].clear();
        st.shard_scope_hooks[n].clear();
        st.shard_org_hooks[n].clear();
        st.shard_org_plugin_hooks[n].clear();
        st.shard_plugin_hooks[n] = 0;
        st.sync();
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
        st.shard_pending[n] = 0;
        st.sync();
        st.shard_org_pending[n].clear();
        st.shard_scope_hooks[n].clear();
        st.shard_org_hooks[n].clear();
        st.shard_org_plugin_hooks[n].clear();
        st.shard_plugin_hooks[n] = 0;
        st.sync();
        if (!st.recovered && st.all_subscribed())
          recover(self);
      },
      [=](atom::pending, std::size_t n, std::int64_t total,
          shard_report& report) {
        auto& st = self->state;
        // Only the shard's current registry counts; one still stopping
        // does not.
        auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
        if (n >= st.shard_pending.size() || !st.shards[n]
            || st.shards[n].address() != sender)
          return;
        st.shard_pending[n] = total;
        st.sync();
        auto update = [](auto& counts, auto& changes) {
          for (auto& [name, count] : changes)
            if (count == 0)
              counts.erase(name);
            else
              counts[name] = count;
        };
        update(st.shard_org_pending[n], report.org_pending);
        update(st.shard_scope_hooks[n], report.scope_hooks);
        update(st.shard_org_hooks[n], report.org_hooks);
        update(st.shard_org_plugin_hooks[n], report.org_plugin_hooks);
        st.shard_plugin_hooks[n] = report.plugin_hooks;
        st.sync();
      },
      [=](atom::stats) { return self->state.pending(); },
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
