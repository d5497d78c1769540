// A registry shard: the single writer of the configurations of its scopes'
// webhooks (c/ in keys.hpp). It keeps a compact index in memory for fan-out,
// spawns webhook actors on demand, supervises them, and counts their
// unfinished deliveries for ingest's overload bound.
#include <chrono>
#include <deque>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "hookd/ask_all.hpp"
#include "hookd/components.hpp"
#include "hookd/deadlines.hpp"
#include "hookd/defaults.hpp"
#include "hookd/keys.hpp"
#include "hookd/log.hpp"
#include "hookd/metrics.hpp"
#include "reads.hpp"

namespace hookd {

namespace {

using clock = std::chrono::steady_clock;

/// What a registry keeps in memory per webhook: enough to match events and
/// find its actor, never the whole configuration.
/// Laid out to take 64 bytes: there is one per webhook of the node.
struct hook_entry {
  std::string id;
  std::uint64_t filters = 0;
  webhook_actor actor; ///< null while the webhook has no running actor
  clock::time_point last_crash;
  /// Unfinished deliveries its actor reported (bounded by max_pending).
  std::int32_t pending = 0;
  /// Crashes within crash_window of each other, counted up to 255.
  std::uint8_t crashes = 0;
  std::uint8_t groups = 0;
  bool active = false;
  /// It uses plugin behaviours (uses_plugins).
  bool plugins = false;
};

static_assert(sizeof(void*) != 8 || sizeof(hook_entry) <= 64,
              "a registry's entry per webhook grew past 64 bytes");

/// The webhook names of one scope, in order: a sorted vector, a string a
/// name where a tree would add a node of 32 bytes more to each. A change
/// moves the names after it; a scope holds at most an organization's
/// bound on webhooks (max_hooks_per_org).
class scope_names {
public:
  using const_iterator = std::vector<std::string>::const_iterator;

  /// Whether `name` is new here.
  bool insert(const std::string& name) {
    auto at = std::lower_bound(names_.begin(), names_.end(), name);
    if (at != names_.end() && *at == name)
      return false;
    names_.insert(at, name);
    return true;
  }
  /// Whether `name` was here.
  bool erase(const std::string& name) {
    auto at = std::lower_bound(names_.begin(), names_.end(), name);
    if (at == names_.end() || *at != name)
      return false;
    names_.erase(at);
    if (names_.capacity() > 2 * names_.size() + 8)
      names_.shrink_to_fit();
    return true;
  }
  bool empty() const {
    return names_.empty();
  }
  std::size_t size() const {
    return names_.size();
  }
  const_iterator begin() const {
    return names_.begin();
  }
  const_iterator end() const {
    return names_.end();
  }

private:
  std::vector<std::string> names_;
};

/// Stops a webhook actor as an exit message from its registry would, but
/// naming the actor itself as the sender. CAF has an actor that takes an
/// exit message look for a link to the sender among the sender's
/// attachables, which for a registry used to hold a watch by each of its
/// webhook actors: stopping them all walked that list once each,
/// quadratic (ten minutes of CPU at SIGTERM for 100,000 webhooks).
void stop_webhook(const webhook_actor& actor, const caf::error& reason) {
  actor->enqueue(nullptr, caf::make_message_id(),
                 caf::make_message(caf::exit_msg{actor.address(), reason}),
                 nullptr);
}

struct registry_state {
  static inline const char* name = "hookd.registry";
  /// Fan-outs waiting for an answer, by deadline.
  hookd::deadlines deadlines;
  registry_setup setup;
  /// Keyed by "<scope key>/<hook name>".
  std::unordered_map<std::string, hook_entry> hooks;
  /// The hook names of each scope key, for fan-out.
  std::unordered_map<std::string, scope_names> scopes;
  /// The stack and environment scopes with webhooks, by organization and
  /// then by scope key: an organization's scopes are listed without a walk
  /// over every scope of the shard.
  std::unordered_map<std::string, std::map<std::string, scope>> org_scopes;
  std::unordered_map<caf::actor_addr, std::string> keys_by_actor;
  std::size_t revivals = 0;
  std::int64_t pending = 0;
  std::int64_t reported = 0;
  /// Unfinished deliveries by organization, and those changed since the
  /// last report to ingest.
  std::unordered_map<std::string, std::int64_t> org_pending;
  std::unordered_set<std::string> orgs_changed;
  /// Scopes whose number of active webhooks changed since the last report.
  std::unordered_set<std::string> scopes_changed;
  /// Webhooks by organization, and those changed since the last report.
  std::unordered_map<std::string, std::int64_t> org_hooks;
  std::unordered_set<std::string> org_hooks_changed;
  /// The same for webhooks using plugin behaviours, and their total.
  std::unordered_map<std::string, std::int64_t> org_plugin_hooks;
  std::unordered_set<std::string> org_plugin_hooks_changed;
  std::int64_t plugin_hooks = 0;
  bool report_scheduled = false;
  bool draining = false;
  bool stopping = false;
  caf::error stop_reason;
  /// Webhooks that owe deliveries, still to be started after a restart.
  std::vector<std::string> to_resume;
  /// Webhook actors started for that, still reading their queues back.
  std::unordered_set<caf::actor_addr> resuming;

  registry_state() = default;
  registry_state(const registry_state&) = delete;
  registry_state& operator=(const registry_state&) = delete;

  /// However a registry ends (stopped, or crashed and about to be revived,
  /// which spawns its webhook actors anew), its webhook actors end with it.
  /// They do not watch it: CAF keeps a watch by an actor that has stopped,
  /// and that actor's memory, until the watched actor ends, so a registry
  /// would have held one for every webhook actor it ever started (each
  /// that stopped when idle and was started again on demand).
  ~registry_state() {
    for (auto& [key, entry] : hooks)
      if (entry.actor)
        stop_webhook(entry.actor, caf::exit_reason::user_shutdown);
  }
};

using self_ptr = registry_actor::stateful_pointer<registry_state>;

/// Crashes further apart than this start the back-off afresh.
constexpr auto crash_window = std::chrono::minutes{1};
constexpr auto first_backoff = std::chrono::milliseconds{100};
/// Webhook actors of a shard reading their queues back at once, after a
/// restart: the next starts when one is done, so the readers' answers to
/// requests never queue behind a whole node's recovery.
constexpr std::size_t resume_window = 64;

/// Webhook `key`'s configuration changes: its kept answer goes (for the
/// front end too, read_board.hpp), and reads under way do not bring it
/// back.
void forget_rendered(self_ptr self, const std::string& key) {
  self->state.setup.answers->forget(key);
}

std::string index_key(const scope& where, const std::string& name) {
  return where.key() + '/' + name;
}

void schedule_report(self_ptr self);

/// A webhook of `org` started or stopped using plugin behaviours.
void count_plugins(self_ptr self, const std::string& org, std::int64_t delta) {
  auto& st = self->state;
  st.org_plugin_hooks[org] += delta;
  st.org_plugin_hooks_changed.insert(org);
  st.plugin_hooks += delta;
}

void index_hook(self_ptr self, const std::string& key,
                const webhook_summary& hook) {
  auto scope_key = hook.where.key();
  if (self->state.scopes[scope_key].insert(hook.name)) {
    ++self->state.org_hooks[hook.where.org];
    self->state.org_hooks_changed.insert(hook.where.org);
    if (hook.where.kind != scope_kind::org)
      self->state.org_scopes[hook.where.org].emplace(scope_key, hook.where);
  }
  self->state.scopes_changed.insert(std::move(scope_key));
  schedule_report(self);
  auto [it, fresh] = self->state.hooks.try_emplace(key);
  auto& e = it->second;
  auto had_plugins = !fresh && e.plugins;
  if (hook.plugins != had_plugins)
    count_plugins(self, hook.where.org, hook.plugins ? 1 : -1);
  e.id = hook.id;
  e.filters = hook.filters;
  e.groups = hook.groups;
  e.active = hook.active;
  e.plugins = hook.plugins;
}

void index_hook(self_ptr self, const std::string& key, const webhook& hook) {
  index_hook(self, key, summary_of(hook));
}

/// Active webhooks of a scope: the most deliveries one event to it adds.
std::int64_t active_hooks(self_ptr self, const std::string& scope_key) {
  auto& st = self->state;
  auto it = st.scopes.find(scope_key);
  if (it == st.scopes.end())
    return 0;
  std::int64_t n = 0;
  for (const auto& name : it->second)
    if (auto e = st.hooks.find(scope_key + '/' + name);
        e != st.hooks.end() && e->second.active)
      ++n;
  return n;
}

/// Tells ingest this shard's count of unfinished deliveries, in all and
/// for each organization whose count changed, and the number of active
/// webhooks of each scope whose number changed.
void report_pending(self_ptr self) {
  auto& st = self->state;
  st.report_scheduled = false;
  if ((st.reported == st.pending && st.orgs_changed.empty()
       && st.scopes_changed.empty() && st.org_hooks_changed.empty()
       && st.org_plugin_hooks_changed.empty())
      || st.stopping)
    return;
  st.reported = st.pending;
  // The new totals of the keys that changed; a total of 0 is reported
  // once, then forgotten.
  auto drain = [](auto& totals, auto& changed_keys, auto& out) {
    for (const auto& key : changed_keys) {
      auto it = totals.find(key);
      auto total = it == totals.end() ? 0 : it->second;
      out.emplace_back(key, total);
      if (it != totals.end() && total == 0)
        totals.erase(it);
    }
    changed_keys.clear();
  };
  shard_report changed;
  drain(st.org_pending, st.orgs_changed, changed.org_pending);
  drain(st.org_hooks, st.org_hooks_changed, changed.org_hooks);
  drain(st.org_plugin_hooks, st.org_plugin_hooks_changed,
        changed.org_plugin_hooks);
  changed.plugin_hooks = st.plugin_hooks;
  for (const auto& scope_key : st.scopes_changed)
    changed.scope_hooks.emplace_back(scope_key, active_hooks(self, scope_key));
  st.scopes_changed.clear();
  self->send(st.setup.ingest, atom::pending::value, st.setup.shard, st.pending,
             std::move(changed));
}

/// The organization of a hook's key ("<kind>/<org>/…/<name>").
std::string org_of_key(const std::string& key) {
  auto start = key.find('/') + 1;
  return key.substr(start, key.find('/', start) - start);
}

void add_pending(self_ptr self, const std::string& key, hook_entry& entry,
                 std::int64_t delta) {
  auto& st = self->state;
  entry.pending = static_cast<std::int32_t>(entry.pending + delta);
  st.pending += delta;
  if (delta != 0) {
    auto org = org_of_key(key);
    st.org_pending[org] += delta;
    st.orgs_changed.insert(std::move(org));
  }
  schedule_report(self);
}

void schedule_report(self_ptr self) {
  auto& st = self->state;
  if (!st.report_scheduled) {
    st.report_scheduled = true;
    self->delayed_send(self, defaults::pending_report_delay,
                       atom::flush::value);
  }
}

/// The webhook's actor, spawned from the store if it is not running.
caf::expected<webhook_actor> ensure_actor(self_ptr self, const std::string& key,
                                          hook_entry& entry) {
  if (entry.actor)
    return entry.actor;
  // Stopping: nothing new starts, or it would outlive its registry.
  if (self->state.stopping)
    return make_error(ec::unavailable, "hookd is shutting down");
  auto& setup = self->state.setup;
  webhook_setup ws;
  ws.db = setup.db;
  ws.writer = setup.writer;
  ws.reader = setup.reader;
  ws.delivery = setup.delivery;
  ws.deployments = setup.deployments;
  ws.registry = caf::actor_cast<registry_actor>(self);
  ws.sealer = setup.sealer;
  ws.behaviours
      = setup.rules.behaviours ? setup.rules.behaviours : default_behaviours();
  ws.retry_schedule = setup.retry_schedule;
  ws.timeout = setup.delivery_timeout;
  ws.history_limit = defaults::history_limit;
  ws.max_in_flight = defaults::max_in_flight;
  ws.testing = setup.testing;
  ws.draining = self->state.draining;
  entry.actor = spawn_webhook(self->system(), key, std::move(ws));
  self->monitor(entry.actor);
  self->state.keys_by_actor.emplace(entry.actor.address(), key);
  return entry.actor;
}

/// Calls `go` when the organization may have one more webhook (when `hook`)
/// and one more using plugin behaviours (when `plugins`); answers `rp`
/// with a 409 naming the bound otherwise.
///
/// The counts over every shard are as ingest has them: this shard's are
/// current (it reports each change at once); changes under way in other
/// shards at this very moment may pass a bound by a few. Awaited, so that
/// this shard's own changes are counted one by one.
template <class Go>
void check_room(self_ptr self, const std::string& org, bool hook, bool plugins,
                caf::typed_response_promise<api_response> rp, Go go) {
  auto& st = self->state;
  auto most = hook ? st.setup.max_hooks_per_org : 0;
  auto most_plugins = plugins ? st.setup.max_plugin_hooks_per_org : 0;
  if (most <= 0 && !plugins) {
    go();
    return;
  }
  self->request(st.setup.ingest, defaults::fanout_timeout, atom::hooks::value,
                org)
      .await(
          [=](std::int64_t total, std::int64_t org_plugins,
              std::int64_t node_plugins) mutable {
            if (most > 0 && total >= most)
              return rp.deliver(make_error(
                         ec::conflict,
                         "organization '" + org + "' has "
                             + std::to_string(total)
                             + " webhooks, the most it may have; delete one "
                               "first")),
                     void();
            if (most_plugins > 0 && org_plugins >= most_plugins)
              return rp.deliver(make_error(
                         ec::conflict,
                         "organization '" + org + "' has "
                             + std::to_string(org_plugins)
                             + " webhooks using plugin behaviours (a "
                               "pipeline or a destination other than "
                               "'http'), the most max_plugin_hooks_per_org "
                               "allows; delete one or remove its pipeline "
                               "and destination first")),
                     void();
            if (plugins && node_plugins >= defaults::max_plugin_hooks)
              return rp.deliver(make_error(
                         ec::conflict,
                         "this node has " + std::to_string(node_plugins)
                             + " webhooks using plugin behaviours, the most "
                               "it runs ("
                             + std::to_string(defaults::max_plugin_hooks)
                             + ", max_plugin_hooks)")),
                     void();
            go();
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

/// Writes a configuration change and waits for it: the registry is the
/// single writer of its hooks, and what it answers must be on disk.
template <class OnDone>
void commit(self_ptr self, write_batch b,
            caf::typed_response_promise<api_response> rp, OnDone on_done) {
  self->request(self->state.setup.writer, caf::infinite, atom::write::value,
                std::move(b))
      .await([=](std::uint64_t) mutable { rp.deliver(on_done()); },
             [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

caf::result<api_response> list_hooks(self_ptr self, const api_call& call) {
  std::size_t limit = 0;
  if (auto err = page_limit(call.limit, defaults::hooks_page_max,
                            defaults::hooks_page_max, limit))
    return err;
  // A page goes on after the hook its token names (hooks sort by name).
  if (!call.continuation.empty() && !valid_hook_name(call.continuation))
    return make_error(ec::bad_request, "invalid 'continuationToken'");
  auto rp = self->make_response_promise<api_response>();
  scan_request req;
  req.prefix = keys::hook_config(call.where.key() + '/');
  if (!call.continuation.empty())
    req.start = req.prefix + call.continuation + '\0';
  // One more than the page: whether there is a next one.
  req.limit = limit + 1;
  auto base_path = call.base_path;
  scan_range(
      self, *self->state.setup.db, self->state.setup.reader, std::move(req),
      order::interleaved, [=](caf::expected<scan_result> found) mutable {
        if (!found)
          return rp.deliver(found.error()), void();
        header_list headers;
        if (found->items.size() > limit) {
          found->items.resize(limit);
          auto& last = found->items.back().first;
          headers.push_back(next_page_link(base_path, limit,
                                           last.substr(last.rfind('/') + 1)));
        }
        std::string body;
        for (const auto& [key, value] : found->items) {
          auto hook = from_storage_json(value, *self->state.setup.sealer);
          if (!hook)
            return rp.deliver(hook.error()), void();
          append_response_json(body, *hook);
        }
        body += body.empty() ? "[]" : "]";
        rp.deliver(
            api_response{success::ok, std::move(body), std::move(headers)});
      });
  return rp;
}

caf::result<api_response> read_hook(self_ptr self, const std::string& key) {
  auto& answers = self->state.setup.answers;
  if (auto kept = answers->find(key))
    return api_response{success::ok, std::move(*kept), {}};
  auto rp = self->make_response_promise<api_response>();
  auto changes = answers->changes();
  read_key(self, *self->state.setup.db, self->state.setup.reader,
           keys::hook_config(key), order::interleaved,
           [=](caf::expected<std::optional<std::string>> text) mutable {
             if (!text)
               return rp.deliver(text.error()), void();
             if (!*text)
               return rp.deliver(
                          make_error(ec::not_found, "webhook not found")),
                      void();
             auto hook = from_storage_json(**text, *self->state.setup.sealer);
             if (!hook)
               return rp.deliver(hook.error()), void();
             auto body = response_json(*hook);
             self->state.setup.answers->remember(key, body, changes);
             rp.deliver(api_response{success::ok, std::move(body), {}});
           });
  return rp;
}

caf::result<api_response> create_hook(self_ptr self, const api_call& call) {
  auto& st = self->state;
  auto parsed = parse_create(call.body, call.where, st.setup.rules);
  if (!parsed)
    return std::move(parsed.error());
  auto hook = std::move(*parsed);
  if (hook.name.empty()) {
    do
      hook.name = crypto::random_hex(4);
    while (st.hooks.count(index_key(call.where, hook.name)) > 0);
  }
  auto key = index_key(call.where, hook.name);
  if (st.hooks.count(key) > 0)
    return make_error(ec::conflict,
                      "webhook with name '" + hook.name + "' already exists");
  hook.id = crypto::uuid4();
  hook.created_at = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  write_batch b;
  b.puts.emplace_back(keys::hook_config(key),
                      storage_json(hook, *st.setup.sealer));
  auto rp = self->make_response_promise<api_response>();
  auto write_it = [=]() mutable {
    commit(self, std::move(b), rp, [=] {
      index_hook(self, key, hook);
      // Ingest counts the new webhook before the client hears of it.
      report_pending(self);
      return api_response{success::created, response_json(hook), {}};
    });
  };
  check_room(self, call.where.org, true, uses_plugins(hook), rp, write_it);
  return rp;
}

caf::result<api_response> update_hook(self_ptr self, const api_call& call,
                                      const std::string& key) {
  auto rp = self->make_response_promise<api_response>();
  read_request req;
  req.keys.push_back(keys::hook_config(key));
  // Awaited: no other change of this shard's hooks may slip in between the
  // read and the write (the worker thread is free meanwhile).
  self->request(self->state.setup.reader, caf::infinite, atom::get::value,
                std::move(req))
      .await(
          [=](read_results& r) mutable {
            auto& st = self->state;
            if (r.items.empty() || !r.items.front().found)
              return rp.deliver(make_error(ec::not_found, "webhook not found")),
                     void();
            auto hook
                = from_storage_json(r.items.front().value, *st.setup.sealer);
            if (!hook)
              return rp.deliver(hook.error()), void();
            auto updated = apply_update(call.body, st.setup.rules, *hook);
            if (!updated)
              return rp.deliver(updated.error()), void();
            auto text = storage_json(*updated, *st.setup.sealer);
            write_batch b;
            b.puts.emplace_back(keys::hook_config(key), text);
            forget_rendered(self, key);
            auto next = std::move(*updated);
            auto write_it = [=]() mutable {
              commit(self, std::move(b), rp, [=] {
                // A safety net: the shard awaits this write, handling no
                // read meanwhile, and the forget at its start already
                // stops reads begun before it from keeping an answer.
                forget_rendered(self, key);
                index_hook(self, key, next);
                report_pending(self);
                auto it = self->state.hooks.find(key);
                if (it != self->state.hooks.end() && it->second.actor)
                  self->send(it->second.actor, atom::update::value, text);
                return api_response{success::ok, response_json(next), {}};
              });
            };
            // Only a change that starts using plugin behaviours needs room.
            check_room(self, call.where.org, false,
                       uses_plugins(next) && !uses_plugins(*hook), rp,
                       write_it);
          },
          [=](caf::error& err) mutable { rp.deliver(err); });
  return rp;
}

/// A scope lost its last webhook: it leaves its organization's listing.
void forget_scope(self_ptr self, const scope& where) {
  auto& by_org = self->state.org_scopes;
  auto it = by_org.find(where.org);
  if (it == by_org.end())
    return;
  it->second.erase(where.key());
  if (it->second.empty())
    by_org.erase(it);
}

/// The stacks and environments of `org` with webhooks in this shard, by
/// scope key after `after`, at most `limit` of them.
scope_page org_scopes(self_ptr self, const std::string& org,
                      const std::string& after, std::uint32_t limit) {
  scope_page page;
  auto& st = self->state;
  auto it = st.org_scopes.find(org);
  if (it == st.org_scopes.end())
    return page;
  auto& mine = it->second;
  for (auto i = mine.upper_bound(after); i != mine.end(); ++i) {
    if (page.items.size() >= limit) {
      page.more = true;
      break;
    }
    auto names = st.scopes.find(i->first);
    auto count = names == st.scopes.end() ? 0 : names->second.size();
    page.items.push_back({i->second, static_cast<std::uint32_t>(count)});
  }
  return page;
}

caf::result<api_response> delete_hook(self_ptr self, const api_call& call,
                                      const std::string& key) {
  // The webhook actor owns the history and queue: once the configuration
  // is gone it drops them and stops. One is spawned for that if none runs
  // (its configuration is read now, while it exists).
  auto actor = ensure_actor(self, key, self->state.hooks[key]);
  write_batch b;
  b.deletes.push_back(keys::hook_config(key));
  forget_rendered(self, key);
  auto rp = self->make_response_promise<api_response>();
  auto scope_key = call.where.key();
  auto name = call.hook;
  commit(self, std::move(b), rp, [=] {
    // A safety net, as for an update: the forget at the write's start is
    // what keeps the old answer from being served after this one.
    forget_rendered(self, key);
    auto& st = self->state;
    auto it = st.hooks.find(key);
    if (it != st.hooks.end()) {
      if (actor) {
        self->demonitor(actor->address());
        st.keys_by_actor.erase(actor->address());
        add_pending(self, it->first, it->second, -it->second.pending);
        self->send(*actor, atom::deleted::value);
      }
      if (it->second.plugins)
        count_plugins(self, call.where.org, -1);
      st.hooks.erase(it);
    }
    auto scope_it = st.scopes.find(scope_key);
    if (scope_it != st.scopes.end()) {
      if (scope_it->second.erase(name)) {
        --st.org_hooks[call.where.org];
        st.org_hooks_changed.insert(call.where.org);
      }
      if (scope_it->second.empty()) {
        st.scopes.erase(scope_it);
        forget_scope(self, call.where);
      }
    }
    st.scopes_changed.insert(scope_key);
    report_pending(self);
    return api_response{success::no_content, {}, {}};
  });
  return rp;
}

caf::result<api_response> serve(self_ptr self, api_call& call) {
  if (call.op == operation::list_hooks)
    return list_hooks(self, call);
  if (call.op == operation::create_hook)
    return create_hook(self, call);
  auto key = index_key(call.where, call.hook);
  auto it = self->state.hooks.find(key);
  if (it == self->state.hooks.end())
    return make_error(ec::not_found, "webhook '" + call.hook + "' not found in "
                                         + call.where.path());
  switch (call.op) {
  case operation::read_hook:
    return read_hook(self, key);
  case operation::update_hook:
    return update_hook(self, call, key);
  case operation::delete_hook:
    return delete_hook(self, call, key);
  case operation::crash_hook: {
    if (!self->state.setup.testing)
      return make_error(ec::not_found, "no such route");
    auto actor = ensure_actor(self, key, it->second);
    if (!actor)
      return std::move(actor.error());
    self->send(*actor, atom::crash::value);
    return api_response{success::accepted, R"({"crashing":true})", {}};
  }
  default:
    break;
  }
  auto actor = ensure_actor(self, key, it->second);
  if (!actor)
    return std::move(actor.error());
  return self->delegate(*actor, std::move(call));
}

void resume_some(self_ptr self);

void on_down(self_ptr self, const caf::down_msg& dm) {
  auto& st = self->state;
  auto it = st.keys_by_actor.find(dm.source);
  if (it == st.keys_by_actor.end())
    return;
  auto key = std::move(it->second);
  st.keys_by_actor.erase(it);
  if (st.resuming.erase(dm.source) > 0)
    resume_some(self);
  if (st.stopping) {
    if (st.keys_by_actor.empty())
      self->quit(st.stop_reason);
    return;
  }
  auto entry_it = st.hooks.find(key);
  if (entry_it == st.hooks.end())
    return;
  auto& entry = entry_it->second;
  entry.actor = nullptr;
  // Whatever way it ended, its count goes; a revived actor reports again.
  add_pending(self, key, entry, -entry.pending);
  if (dm.reason == caf::exit_reason::normal
      || dm.reason == caf::exit_reason::user_shutdown)
    return; // stopped when idle: spawned again on demand
  // A crash: revive from the store, at once the first time, then backing
  // off so a webhook that crashes on every message cannot spin.
  auto now = clock::now();
  if (now - entry.last_crash > crash_window)
    entry.crashes = 0;
  entry.last_crash = now;
  if (entry.crashes < 255)
    ++entry.crashes;
  ++st.revivals;
  metrics::webhook_actor_revived();
  log::warn("webhook actor crashed; reviving it",
            {{"hook", key},
             {"reason", self->system().render(dm.reason)},
             {"crashes", static_cast<int>(entry.crashes)}});
  if (entry.crashes == 1) {
    ensure_actor(self, key, entry);
    return;
  }
  auto delay
      = first_backoff * (1 << std::min<std::uint32_t>(entry.crashes, 16));
  if (delay > defaults::revive_backoff_max)
    delay = std::chrono::duration_cast<std::chrono::milliseconds>(
        defaults::revive_backoff_max);
  self->delayed_send(self, delay, atom::revive::value, key);
}

/// Starts webhooks that owe deliveries, a window at a time (see
/// resume_window).
void resume_some(self_ptr self) {
  auto& st = self->state;
  while (st.resuming.size() < resume_window && !st.to_resume.empty()
         && !st.stopping) {
    auto key = std::move(st.to_resume.back());
    st.to_resume.pop_back();
    auto it = st.hooks.find(key);
    if (it == st.hooks.end() || it->second.actor)
      continue;
    if (auto actor = ensure_actor(self, key, it->second))
      st.resuming.insert(actor->address());
  }
}

/// Start-up, second step: the webhooks of this shard with queued
/// deliveries (the queue's keys, only) or with state of pipeline stages
/// (whose timers must go off although no event comes), which start and
/// resume them, a window at a time. Then the shard subscribes to ingest.
void load_owing(self_ptr self) {
  // Each shard reads every queue and stage key: looked up by id without
  // copying it, and forgotten once found, so a webhook is resumed once. The
  // views point into the index, which nothing changes while the load holds
  // every other message back.
  auto mine = std::make_shared<
      std::unordered_map<std::string_view, const std::string*>>();
  for (auto& [key, entry] : self->state.hooks)
    mine->emplace(entry.id, &key);
  auto owing = [=](std::string_view prefix) {
    return [=](const std::string& key, const std::string&) {
      auto rest = std::string_view{key}.substr(prefix.size());
      auto it = mine->find(rest.substr(0, rest.find('/')));
      if (it == mine->end())
        return;
      self->state.to_resume.push_back(*it->second);
      mine->erase(it);
    };
  };
  auto done = [=](const caf::error& err) {
    auto& st = self->state;
    if (err)
      return self->quit(err); // the node revives it, backing off
    resume_some(self);
    self->send(st.setup.ingest, atom::subscribe::value, st.setup.shard,
               caf::actor_cast<fanout_actor>(self));
  };
  scan_request req;
  req.prefix = keys::queues_prefix();
  req.keys_only = true;
  load_range(self, self->state.setup.reader, std::move(req),
             owing(keys::queues_prefix()), [=](const caf::error& err) {
               if (err)
                 return done(err);
               scan_request stages;
               stages.prefix = keys::all_stages_prefix();
               stages.keys_only = true;
               load_range(self, self->state.setup.reader, std::move(stages),
                          owing(keys::all_stages_prefix()), done);
             });
}

/// Start-up, first step: the index of the hooks whose scope this shard
/// owns, read on the store readers a page at a time (the readers pass on
/// this shard's hooks only), without opening any secret. Nothing else is
/// handled before it is complete.
void load_index(self_ptr self) {
  auto& setup = self->state.setup;
  scan_request req;
  req.prefix = keys::hook_configs_prefix();
  req.shards = static_cast<std::uint32_t>(setup.shard_count);
  req.shard = static_cast<std::uint32_t>(setup.shard);
  load_range(
      self, setup.reader, std::move(req),
      [=](const std::string& key, const std::string& value) {
        // "c/<scope key>/<name>"; a damaged record is reported when read
        // through the API.
        if (auto hook = summary_from_storage(value))
          index_hook(
              self,
              key.substr(std::string_view{keys::hook_configs_prefix()}.size()),
              *hook);
      },
      [=](const caf::error& err) {
        if (err)
          return self->quit(err); // the node revives it, backing off
        load_owing(self);
      });
}

/// Hands events to every subscribed webhook of a scope, each webhook the
/// events it takes in one message, and answers with how many deliveries were
/// recorded once each webhook has them on disk.
caf::result<std::size_t> fan_out(self_ptr self, const event_batch& batch,
                                 const scope& where) {
  auto sit = self->state.scopes.find(where.key());
  if (sit == self->state.scopes.end())
    return std::size_t{0};
  std::vector<std::pair<webhook_actor, event_batch>> targets;
  for (const auto& name : sit->second) {
    auto key = where.key() + '/' + name;
    auto& entry = self->state.hooks[key];
    if (!entry.active)
      continue;
    event_batch taken;
    for (const auto& ev : batch.events)
      if (subscribed(entry.filters, entry.groups, ev->index))
        taken.events.push_back(ev);
    if (taken.events.empty())
      continue;
    auto actor = ensure_actor(self, key, entry);
    if (!actor)
      // Ingest keeps the event's marker and tries again.
      return std::move(actor.error());
    targets.emplace_back(*actor, std::move(taken));
  }
  if (targets.empty())
    return std::size_t{0};
  auto rp = self->make_response_promise<std::size_t>();
  struct tally {
    std::size_t remaining;
    std::size_t took = 0;
    bool failed = false;
  };
  auto t = std::make_shared<tally>(tally{targets.size()});
  auto settle = [=]() mutable {
    if (--t->remaining > 0)
      return;
    // Ingest learns the new count before the answer, so the events it
    // stops counting as fanning out are counted as pending already.
    report_pending(self);
    if (t->failed)
      rp.deliver(make_error(ec::unavailable, "a webhook did not record"));
    else
      rp.deliver(t->took);
  };
  for (auto& [actor, taken] : targets)
    request_within<std::size_t>(
        self, self->state.deadlines, defaults::fanout_timeout, actor,
        [=](std::size_t took) mutable {
          t->took += took;
          settle();
        },
        [=]() mutable {
          t->failed = true;
          settle();
        },
        std::move(taken));
  return rp;
}

registry_actor::behavior_type registry_behavior(self_ptr self,
                                                registry_setup setup) {
  self->state.setup = std::move(setup);
  self->state.draining = self->state.setup.draining;
  load_index(self);
  self->set_down_handler([=](caf::down_msg& dm) { on_down(self, dm); });
  self->set_exit_handler([=](caf::exit_msg& msg) {
    // Stops once every webhook actor has: their last writes reach the
    // store writer before the node stops it.
    auto& st = self->state;
    st.stopping = true;
    st.stop_reason = msg.reason;
    for (auto& [key, entry] : st.hooks)
      if (entry.actor)
        stop_webhook(entry.actor, msg.reason);
    if (st.keys_by_actor.empty())
      self->quit(msg.reason);
  });
  return {
      [=](api_call& call) -> caf::result<api_response> {
        return serve(self, call);
      },
      [=](atom::fanout, event_batch& batch, scope& where) {
        return fan_out(self, batch, where);
      },
      [=](atom::pending, std::int64_t delta) {
        auto& st = self->state;
        auto it = st.keys_by_actor.find(
            caf::actor_cast<caf::actor_addr>(self->current_sender()));
        if (it == st.keys_by_actor.end())
          return;
        if (auto e = st.hooks.find(it->second); e != st.hooks.end())
          add_pending(self, e->first, e->second, delta);
      },
      [=](atom::flush) { report_pending(self); },
      [=](atom::expire) { sweep_deadlines(self, self->state.deadlines); },
      [=](atom::resume, std::int64_t owed) {
        // A webhook actor read its queue back: it owes `owed` deliveries.
        auto& st = self->state;
        auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
        auto it = st.keys_by_actor.find(sender);
        if (it == st.keys_by_actor.end())
          return;
        if (auto e = st.hooks.find(it->second); e != st.hooks.end())
          add_pending(self, e->first, e->second, owed);
        if (st.resuming.erase(sender) > 0)
          resume_some(self);
      },
      [=](atom::drain) -> caf::result<bool> {
        self->state.draining = true;
        auto rp = self->make_response_promise<bool>();
        std::vector<webhook_actor> actors;
        for (auto& [key, entry] : self->state.hooks)
          if (entry.actor)
            actors.push_back(entry.actor);
        // An actor that stops meanwhile has nothing in flight any more.
        ask_all(
            self, actors, caf::infinite, true,
            [rp](bool all) mutable { rp.deliver(all); }, atom::drain::value);
        return rp;
      },
      [=](atom::revive, std::string& key) {
        if (auto it = self->state.hooks.find(key);
            it != self->state.hooks.end())
          ensure_actor(self, key, it->second);
      },
      [=](atom::scopes, std::string& org, std::string& after,
          std::uint32_t limit) { return org_scopes(self, org, after, limit); },
      [=](atom::stats) {
        return std::make_tuple(self->state.hooks.size(),
                               self->state.keys_by_actor.size(),
                               self->state.revivals);
      },
      [=](atom::status) {
        return component_status{
            "registry-" + std::to_string(self->state.setup.shard), true, {}};
      },
      [=](atom::crash, std::string& scope_key,
          std::string& name) -> caf::result<webhook_actor> {
        auto key = scope_key + '/' + name;
        auto it = self->state.hooks.find(key);
        if (!self->state.setup.testing || it == self->state.hooks.end())
          return make_error(ec::not_found, "no such webhook");
        auto actor = ensure_actor(self, key, it->second);
        if (!actor)
          return std::move(actor.error());
        return *actor;
      },
  };
}

} // namespace

std::size_t shard_of_key(std::string_view scope_key, std::size_t shard_count) {
  // FNV-1a: stable across builds and nodes, unlike std::hash.
  std::uint64_t h = 14695981039346656037ull;
  for (char c : scope_key) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return static_cast<std::size_t>(h % shard_count);
}

std::size_t shard_of(const scope& where, std::size_t shard_count) {
  return shard_of_key(where.key(), shard_count);
}

registry_actor spawn_registry(caf::actor_system& sys, registry_setup setup) {
  return sys.spawn(registry_behavior, std::move(setup));
}

} // namespace hookd
