#include <chrono>
#include <set>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "hookd/actors.hpp"
#include "hookd/defaults.hpp"
#include "webhook_actor.hpp"

namespace hookd {

namespace {

using clock = std::chrono::steady_clock;

/// What a registry keeps in memory per webhook: enough to match events and
/// find its actor, never the whole configuration.
struct hook_entry {
  std::string id;
  std::uint64_t filters = 0;
  std::uint8_t groups = 0;
  bool active = false;
  webhook_actor actor; ///< null while the webhook has no running actor
  std::uint32_t crashes = 0;
  clock::time_point last_crash;
};

struct registry_state {
  static inline const char* name = "hookd.registry";
  store_ptr db;
  config cfg;
  std::optional<crypto::sealer> sealer;
  webhook_rules rules;
  delivery_actor delivery;
  ingest_actor ingest;
  delivery_settings settings;
  /// Keyed by "<scope key>/<hook name>"; the store key is "c/" + that.
  std::unordered_map<std::string, hook_entry> hooks;
  /// The hook names of each scope key, for fan-out.
  std::unordered_map<std::string, std::set<std::string>> scopes;
  std::unordered_map<caf::actor_addr, std::string> keys_by_actor;
  std::size_t revivals = 0;
};

using self_ptr = registry_actor::stateful_pointer<registry_state>;

/// Crashes further apart than this start the back-off afresh.
constexpr auto crash_window = std::chrono::minutes{1};
constexpr auto first_backoff = std::chrono::milliseconds{100};

std::string index_key(const scope& where, const std::string& name) {
  return where.key() + '/' + name;
}

std::string config_key(const std::string& index) {
  return "c/" + index;
}

void index_hook(self_ptr self, const std::string& key, const webhook& hook) {
  self->state.scopes[hook.where.key()].insert(hook.name);
  auto& e = self->state.hooks[key];
  e.id = hook.id;
  e.filters = hook.filter_mask();
  e.groups = hook.group_mask();
  e.active = hook.active;
}

bool load_hook(self_ptr self, const std::string& key, webhook& hook,
               const responder_ptr& rp) {
  std::string text;
  if (!self->state.db->get(config_key(key), text)) {
    rp->fail(ec::not_found, "webhook not found");
    return false;
  }
  if (!from_storage_json(text, *self->state.sealer, hook)) {
    rp->fail(ec::internal, "the stored webhook cannot be read (was the "
                           "master key changed?)");
    return false;
  }
  return true;
}

/// The webhook's actor, spawned from the store if it is not running.
webhook_actor ensure_actor(self_ptr self, const std::string& key,
                           hook_entry& entry) {
  if (entry.actor)
    return entry.actor;
  std::string text;
  webhook hook;
  if (!self->state.db->get(config_key(key), text)
      || !from_storage_json(text, *self->state.sealer, hook))
    return {};
  entry.actor = spawn_webhook(self->system(), std::move(hook), self->state.db,
                              self->state.delivery, self->state.ingest,
                              self->state.settings);
  self->monitor(entry.actor);
  self->state.keys_by_actor.emplace(entry.actor.address(), key);
  return entry.actor;
}

void list_hooks(self_ptr self, const api_call& call, const responder_ptr& rp) {
  std::string body;
  bool broken = false;
  self->state.db->scan(config_key(call.where.key() + '/'), {}, false,
                       [&](std::string_view, std::string_view value) {
                         webhook hook;
                         if (!from_storage_json(value, *self->state.sealer,
                                                hook)) {
                           broken = true;
                           return false;
                         }
                         append_response_json(body, hook);
                         return true;
                       });
  if (broken)
    return rp->fail(ec::internal, "a stored webhook cannot be read (was the "
                                  "master key changed?)");
  body += body.empty() ? "[]" : "]";
  rp->respond(success::ok, std::move(body));
}

void create_hook(self_ptr self, const api_call& call,
                 const responder_ptr& rp) {
  webhook hook;
  failure err;
  if (!parse_create(call.body, call.where, self->state.rules, hook, err))
    return rp->fail(std::move(err));
  auto& hooks = self->state.hooks;
  if (hook.name.empty()) {
    do
      hook.name = crypto::random_hex(4);
    while (hooks.count(index_key(call.where, hook.name)) > 0);
  }
  auto key = index_key(call.where, hook.name);
  if (hooks.count(key) > 0)
    return rp->fail(ec::conflict,
                    "webhook with name '" + hook.name + "' already exists");
  hook.id = crypto::uuid4();
  hook.created_at = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  self->state.db->put(config_key(key), storage_json(hook, *self->state.sealer));
  index_hook(self, key, hook);
  rp->respond(success::created, response_json(hook));
}

void update_hook(self_ptr self, const api_call& call, const std::string& key,
                 hook_entry& entry, const responder_ptr& rp) {
  webhook hook;
  if (!load_hook(self, key, hook, rp))
    return;
  failure err;
  if (!apply_update(call.body, self->state.rules, hook, err))
    return rp->fail(std::move(err));
  self->state.db->put(config_key(key), storage_json(hook, *self->state.sealer));
  index_hook(self, key, hook);
  if (entry.actor)
    self->send(entry.actor, hook);
  rp->respond(success::ok, response_json(hook));
}

void delete_hook(self_ptr self, const api_call& call, const std::string& key,
                 hook_entry& entry, const responder_ptr& rp) {
  store::batch b;
  b.deletes.push_back(config_key(key));
  b.delete_prefixes.push_back(history_prefix(entry.id));
  b.delete_prefixes.push_back(history_index_prefix(entry.id));
  b.delete_prefixes.push_back(queue_prefix(entry.id));
  b.delete_prefixes.push_back("dk/" + entry.id + '/');
  self->state.db->write(b);
  if (entry.actor) {
    // A running actor deletes them again once it dropped what it still had
    // to write, so nothing it writes late outlives the hook.
    self->demonitor(entry.actor.address());
    self->state.keys_by_actor.erase(entry.actor.address());
    self->send(entry.actor, atom::deleted::value);
  }
  self->state.hooks.erase(key);
  auto scope_it = self->state.scopes.find(call.where.key());
  if (scope_it != self->state.scopes.end()) {
    scope_it->second.erase(call.hook);
    if (scope_it->second.empty())
      self->state.scopes.erase(scope_it);
  }
  rp->respond(success::no_content, {});
}

void serve(self_ptr self, api_call& call, const responder_ptr& rp) {
  if (call.op == operation::list_hooks)
    return list_hooks(self, call, rp);
  if (call.op == operation::create_hook)
    return create_hook(self, call, rp);
  auto key = index_key(call.where, call.hook);
  auto it = self->state.hooks.find(key);
  if (it == self->state.hooks.end())
    return rp->fail(ec::not_found, "webhook '" + call.hook
                                     + "' not found in " + call.where.path());
  auto& entry = it->second;
  switch (call.op) {
    case operation::read_hook: {
      webhook hook;
      if (load_hook(self, key, hook, rp))
        rp->respond(success::ok, response_json(hook));
      return;
    }
    case operation::update_hook: return update_hook(self, call, key, entry, rp);
    case operation::delete_hook:
      return delete_hook(self, call, key, entry, rp);
    case operation::crash_hook:
      if (!self->state.cfg.testing)
        return rp->fail(ec::not_found, "no such route");
      if (auto actor = ensure_actor(self, key, entry)) {
        self->send(actor, atom::crash::value);
        return rp->respond(success::accepted, R"({"crashing":true})");
      }
      return rp->fail(ec::internal, "the webhook cannot be loaded");
    default: break;
  }
  auto actor = ensure_actor(self, key, entry);
  if (!actor)
    return rp->fail(ec::internal, "the webhook cannot be loaded");
  self->send(actor, std::move(call), rp);
}

void on_down(self_ptr self, const caf::down_msg& dm) {
  auto it = self->state.keys_by_actor.find(dm.source);
  if (it == self->state.keys_by_actor.end())
    return;
  auto key = std::move(it->second);
  self->state.keys_by_actor.erase(it);
  auto entry_it = self->state.hooks.find(key);
  if (entry_it == self->state.hooks.end())
    return;
  auto& entry = entry_it->second;
  entry.actor = nullptr;
  if (dm.reason == caf::exit_reason::normal
      || dm.reason == caf::exit_reason::user_shutdown)
    return; // stopped when idle: spawned again on demand
  // A crash: revive from the store, at once the first time, then backing
  // off so a webhook that crashes on every message cannot spin.
  auto now = clock::now();
  if (now - entry.last_crash > crash_window)
    entry.crashes = 0;
  entry.last_crash = now;
  ++entry.crashes;
  ++self->state.revivals;
  if (entry.crashes == 1) {
    ensure_actor(self, key, entry);
    return;
  }
  auto delay = first_backoff * (1 << std::min<std::uint32_t>(entry.crashes, 16));
  if (delay > defaults::revive_backoff_max)
    delay = std::chrono::duration_cast<std::chrono::milliseconds>(
      defaults::revive_backoff_max);
  self->delayed_send(self, delay, atom::revive::value, key);
}

/// Builds the index of the hooks whose scope this shard owns.
void load_index(self_ptr self, std::size_t shard, std::size_t shard_count) {
  self->state.db->scan("c/", {}, false,
                       [&](std::string_view key, std::string_view value) {
                         auto index = std::string{key.substr(2)};
                         webhook hook;
                         if (!from_storage_json(value, *self->state.sealer,
                                                hook))
                           return true; // reported when read through the API
                         if (shard_of(hook.where, shard_count) == shard)
                           index_hook(self, index, hook);
                         return true;
                       });
}

/// Webhooks with unfinished deliveries start now and resume them.
void resume_owing(self_ptr self) {
  std::set<std::string> owing;
  self->state.db->scan("q/", {}, false, [&](std::string_view key,
                                            std::string_view) {
    auto rest = key.substr(2);
    owing.emplace(rest.substr(0, rest.find('/')));
    return true;
  });
  if (owing.empty())
    return;
  for (auto& [key, entry] : self->state.hooks)
    if (owing.count(entry.id) > 0)
      ensure_actor(self, key, entry);
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
    if (auto actor = ensure_actor(self, key, entry))
      targets.emplace_back(actor, std::move(taken));
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
    if (t->failed)
      rp.deliver(caf::make_error(caf::sec::request_timeout));
    else
      rp.deliver(t->took);
  };
  for (auto& [actor, taken] : targets)
    self->request(actor, defaults::fanout_timeout, std::move(taken))
      .then(
        [=](std::size_t took) mutable {
          t->took += took;
          settle();
        },
        [=](caf::error&) mutable {
          t->failed = true;
          settle();
        });
  return rp;
}

registry_actor::behavior_type
registry_behavior(self_ptr self, store_ptr db, config cfg,
                  crypto::sealer sealer, delivery_actor delivery,
                  pending_counter pending, std::size_t shard,
                  std::size_t shard_count) {
  self->state.settings.pending = std::move(pending);
  self->state.db = std::move(db);
  self->state.delivery = std::move(delivery);
  self->state.settings.retry_schedule = cfg.retry_schedule;
  self->state.settings.timeout = cfg.delivery_timeout;
  self->state.settings.history_limit = defaults::history_limit;
  self->state.settings.max_in_flight = defaults::max_in_flight;
  self->state.settings.testing = cfg.testing;
  self->state.rules.slack_url_prefix = cfg.slack_url_prefix;
  self->state.cfg = std::move(cfg);
  self->state.sealer.emplace(std::move(sealer));
  load_index(self, shard, shard_count);
  self->set_down_handler([=](caf::down_msg& dm) { on_down(self, dm); });
  self->set_exit_handler([=](caf::exit_msg& msg) {
    for (auto& [key, entry] : self->state.hooks)
      if (entry.actor)
        self->send_exit(entry.actor, msg.reason);
    self->quit(msg.reason);
  });
  return {
    [=](api_call& call, responder_ptr& rp) {
      try {
        serve(self, call, rp);
      } catch (const store_error&) {
        rp->fail(ec::unavailable, "the store failed; retry later");
      } catch (const std::exception& e) {
        // A registry serves many scopes: one bad request must not take it
        // down with them.
        rp->fail(ec::internal, std::string{"internal error: "} + e.what());
      }
    },
    [=](atom::fanout, event_batch& batch, scope& where) {
      return fan_out(self, batch, where);
    },
    [=](atom::drain) {
      self->state.settings.draining = true;
      for (auto& [key, entry] : self->state.hooks)
        if (entry.actor)
          self->send(entry.actor, atom::drain::value);
    },
    [=](atom::connect, ingest_actor& ingest) {
      self->state.ingest = std::move(ingest);
      resume_owing(self);
    },
    [=](atom::revive, std::string& key) {
      if (auto it = self->state.hooks.find(key); it != self->state.hooks.end())
        ensure_actor(self, key, it->second);
    },
    [=](atom::stats) {
      return std::make_tuple(self->state.hooks.size(),
                             self->state.keys_by_actor.size(),
                             self->state.revivals);
    },
    [=](atom::crash, std::string& scope_key,
        std::string& name) -> caf::result<webhook_actor> {
      auto key = scope_key + '/' + name;
      auto it = self->state.hooks.find(key);
      if (!self->state.cfg.testing || it == self->state.hooks.end())
        return caf::sec::unexpected_message;
      return ensure_actor(self, key, it->second);
    },
  };
}

} // namespace

std::size_t shard_of(const scope& where, std::size_t shard_count) {
  // FNV-1a: stable across builds and nodes, unlike std::hash.
  std::uint64_t h = 14695981039346656037ull;
  for (char c : where.key()) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return static_cast<std::size_t>(h % shard_count);
}

registry_actor spawn_registry(caf::actor_system& sys, store_ptr db,
                              const config& cfg, crypto::sealer sealer,
                              delivery_actor delivery, pending_counter pending,
                              std::size_t shard, std::size_t shard_count) {
  return sys.spawn(registry_behavior, std::move(db), cfg, std::move(sealer),
                   std::move(delivery), std::move(pending), shard,
                   shard_count);
}

} // namespace hookd
