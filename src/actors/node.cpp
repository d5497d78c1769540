// The node: the root supervisor. Components are spawned in dependency
// order, each given the handles of those before it; when one dies, it and
// every component after it are restarted after a back-off (they hold its
// handle), as Erlang's rest_for_one strategy does. /healthz is answered from
// what the components say of themselves.
#include "hookd/node.hpp"

#include <fcntl.h>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "hookd/ask_all.hpp"
#include "hookd/components.hpp"
#include "hookd/defaults.hpp"
#include "hookd/log.hpp"
#include "hookd/metrics.hpp"

namespace hookd {

namespace {

constexpr const char* master_key_file = "master.key";
constexpr std::size_t master_key_bytes = 32;
constexpr auto status_timeout = std::chrono::seconds{2};
/// Deaths further apart than this start the back-off afresh.
constexpr auto crash_window = std::chrono::minutes{1};
constexpr auto first_backoff = std::chrono::milliseconds{100};

/// Writes a file readable by its owner only, failing if it exists.
bool write_private_file(const std::string& path, const std::string& content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0)
    return false;
  auto n = ::write(fd, content.data(), content.size());
  bool ok = n == static_cast<ssize_t>(content.size()) && ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

using clock = std::chrono::steady_clock;

struct component {
  component(std::string n) : name(std::move(n)) {}
  std::string name;
  caf::actor handle; ///< null while down
  std::uint32_t deaths = 0;
  clock::time_point last_death;
};

struct node_state {
  static inline const char* name = "hookd.node";
  node_setup setup;
  std::vector<component> components;
  store_writer_actor writer;
  store_reader_actor reader;
  delivery_actor delivery;
  ingest_actor ingest;
  deployments_actor deployments;
  std::vector<registry_actor> shards;
  access_actor access;
  bool stopping = false;
  bool drain_requested = false;
  /// Every shard answered its drain: nothing is in flight any more.
  bool shards_drained = false;
  caf::error stop_reason;
  std::vector<caf::typed_response_promise<bool>> draining;
  clock::time_point drain_until;
};

using self_ptr = node_actor::stateful_pointer<node_state>;

std::size_t access_index(self_ptr self) {
  return self->state.components.size() - 1;
}

/// Spawns component `i` from the handles of those before it.
caf::actor spawn_component(self_ptr self, std::size_t i) {
  auto& st = self->state;
  auto& sys = self->system();
  auto& cfg = st.setup.cfg;
  auto shard_count = defaults::registry_shards;
  const auto& name = st.components[i].name;
  if (name == "store") {
    st.writer = spawn_store_writer(sys, st.setup.db, st.setup.leader);
    return caf::actor_cast<caf::actor>(st.writer);
  }
  if (name == "store-readers") {
    st.reader = spawn_store_readers(
        sys, st.setup.db, std::max<std::size_t>(st.setup.reader_threads, 1));
    return caf::actor_cast<caf::actor>(st.reader);
  }
  if (name == "delivery") {
    delivery_options options;
    options.allow_private_targets = cfg.allow_private_targets;
    options.ca_file = cfg.ca_file;
    st.delivery = spawn_delivery(sys, std::move(options));
    return caf::actor_cast<caf::actor>(st.delivery);
  }
  if (name == "ingest") {
    ingest_limits limits{
        cfg.max_pending, cfg.max_pending_per_org,
        std::chrono::duration_cast<std::chrono::seconds>(cfg.event_retention),
        st.setup.load, st.setup.reads};
    // The front end may write events itself where the store writer adds
    // nothing to a write: no fsync to gather (HOOKD_SYNC=1) and no
    // followers to wait for (a replicated partition).
    limits.front_end_writes = !cfg.sync && !st.setup.leader;
    st.ingest = spawn_ingest(sys, st.setup.db, st.writer, st.reader,
                             shard_count, std::move(limits));
    return caf::actor_cast<caf::actor>(st.ingest);
  }
  if (name == "deployments") {
    st.deployments
        = spawn_deployments(sys, st.setup.db, st.writer, st.reader, st.ingest);
    return caf::actor_cast<caf::actor>(st.deployments);
  }
  if (name.rfind("registry-", 0) == 0) {
    registry_setup rs;
    rs.db = st.setup.db;
    rs.writer = st.writer;
    rs.reader = st.reader;
    rs.delivery = st.delivery;
    rs.ingest = st.ingest;
    rs.deployments = st.deployments;
    rs.sealer = st.setup.sealer;
    rs.rules.slack_url_prefix = cfg.slack_url_prefix;
    rs.rules.transit = st.setup.sealer;
    rs.rules.behaviours = st.setup.behaviours;
    rs.rules.rotation_overlap
        = std::chrono::duration_cast<std::chrono::seconds>(
            cfg.secret_rotation_overlap);
    rs.retry_schedule = cfg.retry_schedule;
    rs.delivery_timeout = cfg.delivery_timeout;
    rs.testing = cfg.testing;
    rs.draining = st.drain_requested;
    rs.max_hooks_per_org = cfg.max_hooks_per_org;
    rs.max_plugin_hooks_per_org = cfg.max_plugin_hooks_per_org;
    rs.shard = std::stoul(name.substr(9));
    rs.shard_count = shard_count;
    rs.answers = st.setup.reads->answers(rs.shard);
    auto& slot = st.shards[rs.shard];
    slot = spawn_registry(sys, std::move(rs));
    return caf::actor_cast<caf::actor>(slot);
  }
  st.access = spawn_access(sys, st.reader, st.writer, st.shards, st.ingest,
                           st.deployments, st.setup.admin_hash, st.setup.reads);
  return caf::actor_cast<caf::actor>(st.access);
}

/// Spawns components `from` to the last, in order.
void start_from(self_ptr self, std::size_t from) {
  auto& comps = self->state.components;
  for (auto i = from; i < comps.size(); ++i) {
    comps[i].handle = spawn_component(self, i);
    self->monitor(comps[i].handle);
  }
}

/// Stops components from the last down to `from`, without reviving them.
void stop_from(self_ptr self, std::size_t from, caf::error reason) {
  auto& comps = self->state.components;
  for (auto i = comps.size(); i-- > from;) {
    auto& c = comps[i];
    if (!c.handle)
      continue;
    self->demonitor(c.handle);
    self->send_exit(c.handle, reason);
    c.handle = nullptr;
  }
}

/// Shutting down: stops the last component still running and waits for
/// it to be gone before the next, so that what one still sends on its way
/// out (a webhook's last outcomes) reaches those before it (the writer).
void stop_next(self_ptr self) {
  auto& comps = self->state.components;
  for (auto i = comps.size(); i-- > 0;) {
    if (comps[i].handle) {
      self->send_exit(comps[i].handle, self->state.stop_reason);
      return;
    }
  }
  self->quit(self->state.stop_reason);
}

void on_down(self_ptr self, const caf::down_msg& dm) {
  auto& st = self->state;
  if (st.stopping) {
    for (auto& c : st.components)
      if (c.handle && c.handle.address() == dm.source)
        c.handle = nullptr;
    stop_next(self);
    return;
  }
  auto& comps = st.components;
  auto it = std::find_if(comps.begin(), comps.end(), [&](const component& c) {
    return c.handle && c.handle.address() == dm.source;
  });
  if (it == comps.end())
    return;
  auto i = static_cast<std::size_t>(it - comps.begin());
  auto& c = *it;
  c.handle = nullptr;
  // Those after it hold its handle: they go too, and come back with it.
  stop_from(self, i + 1, caf::exit_reason::user_shutdown);
  auto now = clock::now();
  if (now - c.last_death > crash_window)
    c.deaths = 0;
  c.last_death = now;
  ++c.deaths;
  auto delay
      = first_backoff * (1u << std::min<std::uint32_t>(c.deaths - 1, 12));
  if (delay > defaults::component_backoff_max)
    delay = std::chrono::duration_cast<std::chrono::milliseconds>(
        defaults::component_backoff_max);
  metrics::component_restarted(c.name);
  log::error("component stopped; reviving it",
             {{"component", c.name},
              {"reason", self->system().render(dm.reason)},
              {"delay_ms", delay.count()}});
  self->delayed_send(self, delay, atom::revive::value, i);
}

/// Answers /healthz: asks every component, names the first not ready.
caf::result<api_response> health(self_ptr self) {
  auto& comps = self->state.components;
  for (const auto& c : comps)
    if (!c.handle)
      return make_error(ec::unavailable,
                        "component " + c.name + " is restarting");
  auto rp = self->make_response_promise<api_response>();
  struct tally {
    std::size_t remaining;
    std::string not_ready;
  };
  auto t = std::make_shared<tally>(tally{comps.size(), {}});
  auto settle = [=]() mutable {
    if (--t->remaining > 0)
      return;
    if (!t->not_ready.empty())
      rp.deliver(make_error(ec::unavailable, t->not_ready));
    else
      rp.deliver(api_response{success::ok, R"({"status":"ok"})", {}});
  };
  for (const auto& c : comps) {
    auto name = c.name;
    self->request(caf::actor_cast<status_actor>(c.handle), status_timeout,
                  atom::status::value)
        .then(
            [=](component_status& s) mutable {
              if (!s.ready && t->not_ready.empty())
                t->not_ready
                    = "component " + s.name + " is not ready: " + s.detail;
              settle();
            },
            [=](caf::error&) mutable {
              if (t->not_ready.empty())
                t->not_ready = "component " + name + " does not answer";
              settle();
            });
  }
  return rp;
}

/// The scrape: the process-wide figures and what the node knows now.
std::string metrics_text(self_ptr self, std::int64_t pending) {
  metrics::node_figures f;
  f.pending = pending;
  if (auto& db = self->state.setup.db) {
    auto sizes = db->size();
    f.store_sst_bytes = static_cast<std::int64_t>(sizes.sst_bytes);
    f.store_memtable_bytes = static_cast<std::int64_t>(sizes.memtable_bytes);
    f.store_known = true;
  }
  return metrics::render(f);
}

void check_drained(self_ptr self) {
  auto& st = self->state;
  if (st.draining.empty())
    return;
  auto done = st.shards_drained;
  if (!done && clock::now() < st.drain_until)
    return;
  for (auto& rp : st.draining)
    rp.deliver(done);
  st.draining.clear();
}

/// Asks every registry shard to drain, once: each answers when its webhook
/// actors have nothing in flight and their outcomes are written.
void drain_shards(self_ptr self) {
  auto& st = self->state;
  if (st.drain_requested)
    return;
  st.drain_requested = true;
  std::vector<registry_actor> shards;
  for (auto& shard : st.shards)
    if (shard)
      shards.push_back(shard);
  // A shard that stops meanwhile is revived draining, with nothing in
  // flight.
  ask_all(
      self, shards, caf::infinite, true,
      [=](bool) {
        self->state.shards_drained = true;
        check_drained(self);
      },
      atom::drain::value);
}

node_actor::behavior_type node_behavior(self_ptr self, node_setup setup) {
  auto& st = self->state;
  st.setup = std::move(setup);
  if (!st.setup.reads)
    st.setup.reads = std::make_shared<partition_reads>();
  st.shards.resize(defaults::registry_shards);
  // A delivery client shared by the partitions of a node is the node's:
  // this partition uses it and does not supervise it.
  st.delivery = st.setup.delivery;
  st.components = {{"store"}, {"store-readers"}};
  if (!st.delivery)
    st.components.push_back({"delivery"});
  st.components.push_back({"ingest"});
  st.components.push_back({"deployments"});
  for (std::size_t i = 0; i < defaults::registry_shards; ++i)
    st.components.push_back({"registry-" + std::to_string(i)});
  st.components.push_back({"access"});
  start_from(self, 0);
  self->set_down_handler([=](caf::down_msg& dm) { on_down(self, dm); });
  self->set_exit_handler([=](caf::exit_msg& msg) {
    auto& st = self->state;
    if (st.stopping)
      return;
    st.stopping = true;
    st.stop_reason = msg.reason;
    stop_next(self);
  });
  return {
      [=](atom::entry) -> caf::result<access_actor> {
        if (!self->state.components[access_index(self)].handle)
          return make_error(ec::unavailable, "hookd is restarting a component");
        return self->state.access;
      },
      [=](atom::health) { return health(self); },
      [=](atom::stats, std::size_t n) -> caf::result<registry_actor> {
        auto& shards = self->state.shards;
        if (n >= shards.size() || !shards[n])
          return make_error(ec::unavailable, "no such registry shard running");
        return shards[n];
      },
      [=](atom::metrics) -> caf::result<std::string> {
        auto rp = self->make_response_promise<std::string>();
        self->request(self->state.ingest, status_timeout, atom::stats::value)
            .then(
                [=](std::int64_t pending) mutable {
                  rp.deliver(metrics_text(self, pending));
                },
                [=](caf::error&) mutable {
                  rp.deliver(metrics_text(self, 0));
                });
        return rp;
      },
      [=](atom::drain, caf::timespan deadline) -> caf::result<bool> {
        auto& st = self->state;
        auto until = clock::now()
                     + std::chrono::duration_cast<clock::duration>(deadline);
        st.drain_until
            = st.draining.empty() ? until : std::max(st.drain_until, until);
        auto rp = self->make_response_promise<bool>();
        st.draining.push_back(rp);
        drain_shards(self);
        self->delayed_send(self, deadline, atom::drain::value);
        check_drained(self);
        return rp;
      },
      [=](atom::drain) { check_drained(self); },
      [=](atom::pending) -> caf::result<std::int64_t> {
        auto rp = self->make_response_promise<std::int64_t>();
        self->request(self->state.ingest, status_timeout, atom::stats::value)
            .then([=](std::int64_t n) mutable { rp.deliver(n); },
                  [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [=](atom::revive, std::size_t i) {
        auto& comps = self->state.components;
        if (self->state.stopping || i >= comps.size() || comps[i].handle)
          return;
        start_from(self, i);
      },
  };
}

} // namespace

caf::expected<std::string> load_master_key(const config& cfg) {
  if (!cfg.master_key.empty())
    return *crypto::from_hex(cfg.master_key);
  auto path = cfg.data_dir + '/' + master_key_file;
  std::ifstream in{path};
  if (!in) {
    auto fresh = crypto::random_bytes(master_key_bytes);
    if (!write_private_file(path, crypto::to_hex(fresh) + '\n'))
      return make_error(ec::internal,
                        "cannot create the master key file '" + path + "'");
    return fresh;
  }
  std::string hex;
  in >> hex;
  auto bytes = crypto::from_hex(hex);
  if (!bytes || bytes->size() != master_key_bytes)
    return make_error(ec::internal, "the master key file '" + path
                                        + "' does not hold 64 hex digits");
  return std::move(*bytes);
}

caf::expected<std::shared_ptr<const crypto::sealer>>
make_sealer(const config& cfg) {
  auto key = load_master_key(cfg);
  if (!key)
    return std::move(key.error());
  return std::make_shared<const crypto::sealer>(std::move(*key));
}

caf::expected<node_setup> prepare_node(const config& cfg) {
  if (cfg.admin_token.empty())
    return make_error(ec::bad_request, "one partition on its own needs an "
                                       "admin token in its config");
  node_setup out;
  out.cfg = cfg;
  auto db = store::open(cfg.data_dir, cfg.sync);
  if (!db)
    return std::move(db.error());
  out.db = std::move(*db);
  auto sealer = make_sealer(cfg);
  if (!sealer)
    return std::move(sealer.error());
  out.sealer = std::move(*sealer);
  out.admin_hash = crypto::sha256_hex(cfg.admin_token);
  return out;
}

node_actor spawn_node(caf::actor_system& sys, node_setup setup) {
  return sys.spawn(node_behavior, std::move(setup));
}

} // namespace hookd
