// A node's membership in etcd (membership.hpp): lease, fence, placement,
// partition claims and the routing table, on one thread of its own; a watch
// wakes it when anything under the prefix changes.
#include "hookd/membership.hpp"

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <caf/send.hpp>
#include <nlohmann/json.hpp>

#include "hookd/etcd.hpp"
#include "hookd/fence.hpp"
#include "hookd/log.hpp"
#include "hookd/partition.hpp"

namespace hookd {

namespace {

using json = nlohmann::json;
using clock = std::chrono::steady_clock;

constexpr auto etcd_timeout = std::chrono::seconds{2};

/// `<prefix><kind>/<pppp>`: a partition's record of one kind.
std::string partition_key(const std::string& prefix, const char* kind,
                          std::uint32_t p) {
  auto digits = std::to_string(p);
  return prefix + kind + '/'
         + std::string(4 - std::min<std::size_t>(4, digits.size()), '0')
         + digits;
}

std::string owner_key(const std::string& prefix, std::uint32_t p) {
  return partition_key(prefix, "owners", p);
}

std::string insync_key(const std::string& prefix, std::uint32_t p) {
  return partition_key(prefix, "insync", p);
}

std::string member_json(const member_info& m, std::uint32_t partitions,
                        bool leaving) {
  json j{{"name", m.name}, {"http", m.http},           {"host", m.host},
         {"port", m.port}, {"partitions", partitions}, {"wire", wire_version}};
  if (leaving)
    j["leaving"] = true;
  return j.dump();
}

std::string insync_json(const replica_set& r) {
  return json{{"owner", r.owner}, {"followers", r.followers}}.dump();
}

replica_set parse_insync(const std::string& text) {
  replica_set r;
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object())
    return r;
  r.owner = j.value("owner", "");
  if (auto it = j.find("followers"); it != j.end() && it->is_array())
    for (const auto& f : *it)
      if (f.is_string())
        r.followers.push_back(f.get<std::string>());
  return r;
}

} // namespace

struct membership::impl : cluster_control {
  config cfg;
  member_info self;
  std::string prefix;
  std::uint32_t partitions = 0;
  std::chrono::milliseconds ttl{0};
  etcd::client etcd;
  std::int64_t lease = 0;
  router_actor router;

  std::mutex mtx;
  std::condition_variable wake;
  bool kicked = false;
  bool stopping = false;
  std::thread thread;
  std::unique_ptr<etcd::watch> watcher;
  bool watch_broken = true;
  bool member_dirty = false;
  std::string pending_http; ///< guarded by mtx
  bool leaving = false;     ///< guarded by mtx
  bool left = false;

  std::vector<std::string> placement; ///< empty until placed
  cluster_view last;
  bool sent_once = false;

  impl(const config& c, member_info m)
      : cfg(c), self(std::move(m)), prefix(c.cluster.prefix),
        partitions(c.partitions), ttl(c.cluster.lease_ttl),
        etcd(c.cluster.etcd, etcd_timeout) {}

  std::chrono::seconds ttl_seconds() const {
    return std::max(std::chrono::seconds{1},
                    std::chrono::duration_cast<std::chrono::seconds>(ttl));
  }

  /// How long a renewal sent at `sent` keeps this node safe: etcd counts
  /// the TTL from when it got the renewal, later than `sent`; a fifth of
  /// the TTL is left for the fence to close before anyone else may claim.
  clock::time_point safe_until(clock::time_point sent) const {
    return sent + ttl * 4 / 5;
  }

  caf::error register_member() {
    bool going = false;
    {
      std::lock_guard<std::mutex> guard{mtx};
      going = leaving;
    }
    return etcd.put(prefix + "members/" + self.name,
                    member_json(self, partitions, going), lease);
  }

  // -- cluster_control, called from the router's etcd thread.

  bool record_insync(std::uint32_t p, std::int64_t epoch,
                     const replica_set& copies) override {
    auto done
        = etcd.put_if_revision(owner_key(prefix, p), epoch,
                               insync_key(prefix, p), insync_json(copies));
    if (done && *done)
      kick();
    return done && *done;
  }

  bool release(std::uint32_t p) override {
    auto done = etcd.erase_if_value(owner_key(prefix, p), self.name);
    if (done && *done) {
      log::info("handed a partition over",
                {{"partition", static_cast<std::int64_t>(p)}});
      kick();
    }
    return done && *done;
  }

  void start_leaving() override {
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (leaving)
        return;
      leaving = true;
      member_dirty_locked = true;
    }
    log::info("leaving the cluster: handing the partitions over");
    kick();
  }
  bool member_dirty_locked = false; ///< guarded by mtx

  /// A new lease, this member's record under it, and the fence open.
  caf::error fresh_lease() {
    auto sent = clock::now();
    auto granted = etcd.grant(ttl_seconds());
    if (!granted)
      return std::move(granted.error());
    lease = *granted;
    if (auto err = register_member())
      return err;
    fence::open_until(safe_until(sent));
    return caf::none;
  }

  /// Renews the lease, moving the fence; a lease that is gone closes it.
  void renew() {
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (!pending_http.empty()) {
        self.http = std::move(pending_http);
        pending_http.clear();
        member_dirty = true;
      }
      if (member_dirty_locked) {
        member_dirty_locked = false;
        member_dirty = true;
      }
    }
    if (lease == 0) {
      if (auto err = fresh_lease())
        log::warn("cannot take a cluster lease", {{"error", message_of(err)}});
      else
        log::info("holding a cluster lease");
      return;
    }
    auto sent = clock::now();
    auto left = etcd.keepalive(lease);
    if (left) {
      fence::open_until(safe_until(sent));
      if (member_dirty) {
        member_dirty = false;
        if (register_member())
          member_dirty = true;
      }
      return;
    }
    if (code_of(left.error()) == ec::not_found) {
      fence::close();
      // Closed until the router has stopped what it served under the old
      // lease (it sees a fenced view first).
      fence::hold();
      log::error("the cluster lease expired: fenced; taking a new one",
                 {{"error", message_of(left.error())}});
      lease = 0;
      renew();
      return;
    }
    // etcd unreachable: keep serving until the fence closes by itself.
    log::warn("cannot renew the cluster lease",
              {{"error", message_of(left.error())}});
  }

  /// Places the partitions once HOOKD_CLUSTER_SIZE members are there.
  void place() {
    if (!placement.empty())
      return;
    auto stored = etcd.get(prefix + "placement");
    if (!stored)
      return;
    if (!*stored) {
      auto members = etcd.range(prefix + "members/");
      if (!members || members->size() < cfg.cluster.size)
        return;
      std::vector<std::string> names;
      for (const auto& m : *members)
        names.push_back(m.key.substr(prefix.size() + 8));
      json j{{"owners", place_partitions(names, partitions)}};
      auto made = etcd.create_if_absent(prefix + "placement", j.dump());
      if (!made)
        return;
      if (made->created)
        log::info("placed the partitions",
                  {{"members", static_cast<std::int64_t>(names.size())}});
      stored = etcd.get(prefix + "placement");
      if (!stored || !*stored)
        return;
    }
    auto j = json::parse((*stored)->value, nullptr, false);
    if (!j.is_object() || !j["owners"].is_array()
        || j["owners"].size() != partitions)
      return;
    std::vector<std::string> owners;
    for (const auto& o : j["owners"])
      owners.push_back(o.is_string() ? o.get<std::string>() : std::string{});
    placement = std::move(owners);
  }

  /// Claims the partitions that nobody owns and that this node should
  /// serve, and takes back those still recorded under this node's name
  /// from an earlier lease. A partition that had an owner may only go to a
  /// member that holds all its acknowledged writes: its last owner or one
  /// of the followers it recorded in sync. Among those the one placed there
  /// goes first; a partition never owned goes to its placed home.
  void claim(const std::vector<etcd::kv>& owners_now,
             const cluster_view& view) {
    if (placement.empty() || lease == 0 || !fence::is_open()
        || view.wanted.size() != partitions)
      return;
    std::map<std::string, const etcd::kv*> by_key;
    for (const auto& kv : owners_now)
      by_key[kv.key] = &kv;
    std::set<std::string> live, staying;
    for (const auto& m : view.members)
      live.insert(m.name);
    staying = live;
    for (const auto& l : view.leaving)
      staying.erase(l);
    for (std::uint32_t p = 0; p < partitions; ++p) {
      auto key = owner_key(prefix, p);
      auto it = by_key.find(key);
      replica_set fresh{self.name, {}};
      std::vector<std::pair<std::string, std::string>> record{
          {insync_key(prefix, p), insync_json(fresh)}};
      if (it != by_key.end()) {
        if (it->second->value == self.name && it->second->lease != lease) {
          auto r = etcd.put_if_value(key, self.name, self.name, lease, record);
          if (r && r->created)
            log::info("took back a partition",
                      {{"partition", static_cast<std::int64_t>(p)},
                       {"epoch", r->current.mod_revision}});
        }
        continue;
      }
      const auto& rec = view.insync[p];
      const auto& wanted = view.wanted[p];
      std::string chosen;
      if (rec.owner.empty()) {
        chosen = wanted.empty() ? std::string{} : wanted.front();
      } else {
        std::vector<std::string> eligible{rec.owner};
        eligible.insert(eligible.end(), rec.followers.begin(),
                        rec.followers.end());
        auto pick = [&](auto&& ok) -> std::string {
          for (const auto& e : eligible)
            if (live.count(e) && ok(e))
              return e;
          return {};
        };
        if (!wanted.empty()
            && std::find(eligible.begin(), eligible.end(), wanted.front())
                   != eligible.end()
            && live.count(wanted.front()))
          chosen = wanted.front();
        if (chosen.empty())
          chosen = pick([&](const std::string& e) { return staying.count(e); });
        if (chosen.empty())
          chosen = pick([](const std::string&) { return true; });
      }
      if (chosen != self.name)
        continue;
      // Against the record read: one that changed since (a follower
      // dropped, another owner) makes the claim fail, and the next look
      // decides again.
      auto r = etcd.create_if_absent_with(key, self.name, lease, record,
                                          insync_key(prefix, p), rec.revision);
      if (r && r->created)
        log::info(rec.owner.empty() ? "claimed a partition"
                                    : "took over a partition",
                  {{"partition", static_cast<std::int64_t>(p)},
                   {"epoch", r->current.mod_revision},
                   {"from", rec.owner}});
    }
  }

  /// Reads the prefix and hands the router the table when it changed.
  void publish() {
    std::int64_t revision = 0;
    auto all = etcd.range(prefix, &revision);
    if (!all)
      return;
    std::vector<etcd::kv> owner_kvs;
    cluster_view view;
    view.self = self.name;
    view.owners.resize(partitions);
    view.insync.resize(partitions);
    auto owners_prefix = prefix + "owners/";
    auto members_prefix = prefix + "members/";
    auto insync_prefix = prefix + "insync/";
    for (const auto& kv : *all) {
      if (kv.key.rfind(insync_prefix, 0) == 0) {
        auto p
            = std::strtoul(kv.key.c_str() + insync_prefix.size(), nullptr, 10);
        if (p < partitions) {
          view.insync[p] = parse_insync(kv.value);
          view.insync[p].revision = kv.mod_revision;
        }
        continue;
      }
      if (kv.key.rfind(owners_prefix, 0) == 0) {
        auto p
            = std::strtoul(kv.key.c_str() + owners_prefix.size(), nullptr, 10);
        if (p < partitions)
          view.owners[p] = {kv.value, kv.mod_revision};
        owner_kvs.push_back(kv);
      } else if (kv.key.rfind(members_prefix, 0) == 0) {
        auto j = json::parse(kv.value, nullptr, false);
        if (!j.is_object())
          continue;
        member_info m;
        m.name = j.value("name", "");
        m.http = j.value("http", "");
        m.host = j.value("host", "");
        m.port = j.value("port", std::uint16_t{0});
        if (j.value("leaving", false))
          view.leaving.push_back(m.name);
        view.members.push_back(std::move(m));
      }
    }
    view.placed = !placement.empty();
    if (view.placed) {
      std::vector<std::string> staying;
      for (const auto& m : view.members)
        if (std::find(view.leaving.begin(), view.leaving.end(), m.name)
            == view.leaving.end())
          staying.push_back(m.name);
      if (staying.empty())
        for (const auto& m : view.members)
          staying.push_back(m.name);
      view.wanted
          = place_replicas(std::move(staying), partitions,
                           std::max<std::uint32_t>(1, cfg.cluster.replicas));
    }
    claim(owner_kvs, view);
    check_left(view);
    view.fenced = !fence::is_open();
    if (watch_broken) {
      watch_broken = false;
      watcher = std::make_unique<etcd::watch>(
          cfg.cluster.etcd, prefix, revision + 1,
          [this](std::vector<etcd::event>) { kick(); },
          [this](caf::error) {
            std::lock_guard<std::mutex> guard{mtx};
            watch_broken = true;
            kicked = true;
            wake.notify_one();
          });
    }
    auto same_copies = [](const replica_set& a, const replica_set& b) {
      return a.owner == b.owner && a.followers == b.followers
             && a.revision == b.revision;
    };
    auto same
        = sent_once && view.fenced == last.fenced && view.placed == last.placed
          && view.wanted == last.wanted && view.leaving == last.leaving
          && std::equal(view.insync.begin(), view.insync.end(),
                        last.insync.begin(), last.insync.end(), same_copies)
          && view.members.size() == last.members.size()
          && std::equal(view.members.begin(), view.members.end(),
                        last.members.begin(),
                        [](const member_info& a, const member_info& b) {
                          return a.name == b.name && a.host == b.host
                                 && a.port == b.port && a.http == b.http;
                        })
          && std::equal(view.owners.begin(), view.owners.end(),
                        last.owners.begin(), last.owners.end(),
                        [](const partition_owner& a, const partition_owner& b) {
                          return a.node == b.node && a.epoch == b.epoch;
                        });
    if (same)
      return;
    last = view;
    sent_once = true;
    caf::anon_send(router, atom::update::value, std::move(view));
  }

  /// A member leaving for good stops once it holds nothing another member
  /// still counts on: it owns no partition and no owner records it as an
  /// in-sync follower.
  void check_left(const cluster_view& view) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (!leaving || left)
        return;
    }
    if (std::find(view.leaving.begin(), view.leaving.end(), self.name)
        == view.leaving.end())
      return;
    for (std::uint32_t p = 0; p < view.owners.size(); ++p) {
      if (view.owners[p].node == self.name || view.owners[p].node.empty())
        return;
      const auto& f = view.insync[p].followers;
      if (std::find(f.begin(), f.end(), self.name) != f.end())
        return;
    }
    left = true;
    log::info("left the cluster: every partition is served by other members; "
              "stopping");
    if (on_left)
      on_left();
  }
  std::function<void()> on_left;
  std::shared_ptr<membership_control> control;

  void kick() {
    std::lock_guard<std::mutex> guard{mtx};
    kicked = true;
    wake.notify_one();
  }

  void run() {
    // Renewals come three times a TTL; the table is read at least as often.
    auto tick = std::max<std::chrono::milliseconds>(
        std::chrono::milliseconds{100}, ttl / 5);
    auto next_renewal = clock::now();
    while (true) {
      {
        std::unique_lock<std::mutex> guard{mtx};
        if (stopping)
          return;
      }
      bool http_pending = false;
      {
        std::lock_guard<std::mutex> guard{mtx};
        http_pending = !pending_http.empty();
      }
      if (clock::now() >= next_renewal || http_pending) {
        renew();
        next_renewal = clock::now() + tick;
      }
      place();
      publish();
      std::unique_lock<std::mutex> guard{mtx};
      wake.wait_until(guard, next_renewal, [&] { return kicked || stopping; });
      kicked = false;
    }
  }
};

membership::membership(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

membership::~membership() {
  leave();
}

caf::expected<std::unique_ptr<membership>> membership::join(const config& cfg,
                                                            member_info self) {
  auto p = std::make_unique<impl>(cfg, std::move(self));
  auto& etcd = p->etcd;
  json meta{{"partitions", cfg.partitions}, {"wire", wire_version}};
  auto made = etcd.create_if_absent(p->prefix + "meta", meta.dump());
  if (!made)
    return make_error(ec::unavailable,
                      "cannot reach etcd at HOOKD_CLUSTER_ETCD: "
                          + message_of(made.error()));
  auto theirs = json::parse(made->current.value, nullptr, false);
  if (!theirs.is_object())
    return make_error(ec::internal, "etcd key '" + p->prefix
                                        + "meta' is not a hookd cluster's");
  auto their_partitions = theirs.value("partitions", 0u);
  auto their_wire = theirs.value("wire", 0u);
  if (their_partitions != cfg.partitions || their_wire != wire_version)
    return make_error(
        ec::bad_request,
        "this node does not fit its cluster: the cluster under '" + p->prefix
            + "' has " + std::to_string(their_partitions)
            + " partitions and wire version " + std::to_string(their_wire)
            + ", this node has HOOKD_PARTITIONS="
            + std::to_string(cfg.partitions) + " and wire version "
            + std::to_string(wire_version));
  fence::arm();
  if (auto err = p->fresh_lease())
    return make_error(ec::unavailable,
                      "cannot register with etcd: " + message_of(err));
  return std::unique_ptr<membership>{new membership(std::move(p))};
}

bool membership_control::record_insync(std::uint32_t p, std::int64_t epoch,
                                       const replica_set& copies) {
  std::lock_guard<std::mutex> guard{mtx_};
  return target_ && target_->record_insync(p, epoch, copies);
}

bool membership_control::release(std::uint32_t p) {
  std::lock_guard<std::mutex> guard{mtx_};
  return target_ && target_->release(p);
}

void membership_control::start_leaving() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (target_)
    target_->start_leaving();
}

void membership_control::bind(cluster_control* target) {
  std::lock_guard<std::mutex> guard{mtx_};
  target_ = target;
}

void membership::start(router_actor router,
                       std::shared_ptr<membership_control> control,
                       std::function<void()> on_left) {
  impl_->router = std::move(router);
  impl_->on_left = std::move(on_left);
  impl_->control = std::move(control);
  if (impl_->control)
    impl_->control->bind(impl_.get());
  impl_->thread = std::thread{[this] { impl_->run(); }};
}

void membership::set_http(std::string address) {
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    impl_->pending_http = std::move(address);
  }
  impl_->kick();
}

void membership::leave() {
  if (!impl_)
    return;
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    impl_->stopping = true;
    impl_->wake.notify_one();
  }
  if (impl_->thread.joinable())
    impl_->thread.join();
  if (impl_->control)
    impl_->control->bind(nullptr);
  if (impl_->watcher)
    impl_->watcher->stop();
  impl_->watcher.reset();
  fence::close();
  if (impl_->lease != 0) {
    impl_->etcd.revoke(impl_->lease);
    impl_->lease = 0;
  }
  impl_.reset();
}

} // namespace hookd
