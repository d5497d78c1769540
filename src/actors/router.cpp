// The router: a node's entry for API requests (cluster.hpp). It routes each
// request by its organization's partition: to the partition's own actors
// when this node owns it, else to the owner's router as one actor request
// with a deadline. It supervises the local partitions (each a node.hpp
// tree over its own store) and the delivery client they share.
#include "hookd/ask_all.hpp"
#include "hookd/cluster.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "hookd/components.hpp"
#include "hookd/defaults.hpp"
#include "hookd/fence.hpp"
#include "hookd/log.hpp"
#include "hookd/metrics.hpp"
#include "hookd/node.hpp"
#include "hookd/partition.hpp"
#include "hookd/replication.hpp"

namespace hookd {

namespace {

using json = nlohmann::json;
using clock = std::chrono::steady_clock;

constexpr auto status_timeout = std::chrono::seconds{2};
constexpr auto revive_delay = std::chrono::milliseconds{200};
constexpr auto reconnect_delay = std::chrono::milliseconds{250};
/// Requests for a partition being handed over wait this long at most; a
/// 503 then leaves them time to be retried within 5 s.
constexpr auto moving_wait = std::chrono::milliseconds{1000};

/// A partition this node runs.
struct local_partition {
  node_actor node;
  access_actor entry; ///< its access actor (null while it starts)
  /// Requests that arrived while it started, answered once it runs.
  std::vector<std::pair<api_call, caf::typed_response_promise<api_response>>>
      waiting;
  bool stop_sent = false;
  /// Every component said it is ready (its health check passed once).
  bool ready = false;
  clock::time_point started;
  /// Started by a request (it held no data), not at the node's start.
  bool on_demand = false;
  /// In a cluster: its leader (it outlives the tree's revivals).
  leader_actor leader;
  /// What the front end may answer from while it runs (read_board.hpp):
  /// made afresh with each start, so nothing kept outlives a stop.
  partition_reads_ptr reads;
  /// Handing it over: the tree stops, then its new owner takes it.
  bool moving = false;
  std::string moving_to;
  clock::time_point moving_since;
};

/// Requests one starting partition holds at most; past it, 503.
constexpr std::size_t max_waiting = 10000;

/// Another member's router, as this node reaches it.
struct peer {
  member_info info;
  router_actor handle; ///< null while not connected
  bool connecting = false;
  /// Connects that failed in a row: the next waits longer (up to 4 s).
  std::uint32_t failures = 0;
  /// Requests for it that arrived while it was being connected: sent once
  /// it is, failed (503) if it cannot be.
  struct queued_call {
    std::uint32_t partition;
    api_call call;
    caf::typed_response_promise<api_response> rp;
    clock::time_point until; ///< answered 503 past it
  };
  std::vector<queued_call> queued;
  /// Requests forwarded to it, unanswered: failed at once when it goes.
  std::map<std::uint64_t, caf::typed_response_promise<api_response>> waiting;
};

struct router_state {
  static inline const char* name = "hookd.router";
  host_setup host;
  std::uint32_t partitions = 1;
  delivery_actor delivery;
  std::vector<local_partition> parts;
  /// Single node: every partition is this node's, always.
  bool clustered = false;
  cluster_view view;
  /// Every partition had an owner once since placement: until then this
  /// node is not ready (/healthz 503), whatever it owns itself.
  bool settled = false;
  std::map<std::string, peer> peers;
  std::uint64_t next_forward = 0;
  /// What every local partition counts together: the node's bounds
  /// (HOOKD_MAX_PENDING, plugin webhooks) hold over all of them.
  std::shared_ptr<node_load> load = std::make_shared<node_load>();
  bool stopping = false;
  caf::error stop_reason;
  // -- Replication.
  std::shared_ptr<cluster_control> control;
  etcd_worker_actor etcd;
  /// By partition: the follower of a partition another member owns.
  std::vector<follower_actor> followers;
  std::vector<std::int64_t> follower_epochs;
  /// Followers told to stop and not gone yet: their stores are still open.
  std::vector<follower_actor> closing;
  /// Trees told to stop and not gone yet, held until their down message:
  /// an actor nothing holds is destroyed on the spot (unreachable), before
  /// it has stopped its components, which would then run on with its store.
  std::map<caf::actor_addr, node_actor> retiring;
  /// Requests for partitions without an owner, waiting for one.
  std::map<std::uint32_t, std::vector<peer::queued_call>> unowned_waiting;
  /// A handover is under way (one at a time, so that serving goes on).
  bool handing_over = false;
  /// Where a single node's running entries are published for the front
  /// end (direct_routes.hpp); null in a cluster.
  route_board_ptr board;
  std::uint64_t moves = 0;
  std::shared_ptr<std::atomic<std::uint64_t>> reseeds
      = std::make_shared<std::atomic<std::uint64_t>>(0);
};

using self_ptr = router_actor::stateful_pointer<router_state>;

caf::error unavailable(std::string why) {
  return make_error(ec::unavailable, std::move(why));
}

/// Publishes the running partitions' entries for the front end (a single
/// node only): a request for one goes there without this actor's hop.
void publish_routes(self_ptr self) {
  auto& st = self->state;
  if (!st.board || st.clustered)
    return;
  auto routes = std::make_shared<direct_routes>();
  if (!st.stopping) {
    routes->admin_hash = st.host.admin_hash;
    routes->entries.resize(st.partitions);
    routes->reads.resize(st.partitions);
    for (std::uint32_t p = 0; p < st.partitions; ++p)
      if (st.parts[p].entry && !st.parts[p].moving) {
        routes->entries[p] = st.parts[p].entry;
        routes->reads[p] = st.parts[p].reads;
      }
  }
  st.board->publish(std::move(routes));
}

bool owns(self_ptr self, std::uint32_t p) {
  auto& st = self->state;
  if (!st.clustered)
    return true;
  return !st.view.fenced && p < st.view.owners.size()
         && st.view.owners[p].node == st.view.self;
}

void fetch_entry(self_ptr self, std::uint32_t p);
void check_ready(self_ptr self, std::uint32_t p);

/// Starts partition `p` here: opens its store if needed, spawns its tree.
void start_partition(self_ptr self, std::uint32_t p) {
  auto& st = self->state;
  auto& part = st.parts[p];
  // A follower of it that is stopping still has its store open: the
  // partition starts at its down message.
  if (part.node || st.stopping || st.closing[p])
    return;
  if (!st.host.stores[p]) {
    auto db = open_partition(st.host, p);
    if (!db) {
      log::error("cannot open a partition's store",
                 {{"partition", static_cast<std::int64_t>(p)},
                  {"error", message_of(db.error())}});
      self->delayed_send(self, revive_delay * 5, atom::revive::value,
                         static_cast<std::size_t>(p));
      return;
    }
    st.host.stores[p] = std::move(*db);
  }
  if (st.clustered && !part.leader) {
    leader_setup ls;
    ls.partition = p;
    ls.self = st.view.self;
    ls.epoch = p < st.view.owners.size() ? st.view.owners[p].epoch : 0;
    ls.prev_epoch = data_epoch(st.host.cfg.data_dir, p);
    ls.db = st.host.stores[p];
    ls.start_seq = ls.db->sequence();
    ls.data_dir = st.host.cfg.data_dir;
    ls.etcd = st.etcd;
    ls.lag_limit = std::max<std::chrono::milliseconds>(
        std::chrono::milliseconds{500}, st.host.cfg.cluster.lease_ttl / 4);
    ls.wait_limit = std::max<std::chrono::milliseconds>(
        std::chrono::seconds{2}, st.host.cfg.cluster.lease_ttl);
    ls.view = st.view;
    ls.backlog = st.host.cfg.cluster.backlog;
    part.leader = spawn_leader(self->system(), std::move(ls));
    self->monitor(part.leader);
  }
  node_setup ns;
  ns.leader = part.leader;
  ns.cfg = st.host.cfg;
  ns.db = st.host.stores[p];
  ns.sealer = st.host.sealer;
  ns.admin_hash = st.host.admin_hash;
  ns.behaviours = st.host.behaviours;
  ns.delivery = st.delivery;
  // Many partitions: one reader thread each keeps the thread count sane.
  ns.reader_threads = st.partitions > 1 ? 1 : 2;
  ns.load = st.load;
  part.reads = std::make_shared<partition_reads>();
  ns.reads = part.reads;
  part.node = spawn_node(self->system(), std::move(ns));
  part.started = clock::now();
  self->monitor(part.node);
  fetch_entry(self, p);
}

caf::timespan forward_deadline(const config& cfg, operation op);

/// Routes requests again (their partition moved): each answers when its
/// new route does.
void reroute(
    self_ptr self,
    std::vector<std::pair<api_call, caf::typed_response_promise<api_response>>>
        calls) {
  for (auto& [call, rp] : calls) {
    // They have waited already (up to moving_wait): with a quarter of the
    // forward deadline more, the member that forwarded them still gets its
    // answer within its own deadline.
    auto deadline = forward_deadline(self->state.host.cfg, call.op) / 4;
    self->request(caf::actor_cast<router_actor>(self), deadline,
                  std::move(call))
        .then([rp](api_response& r) mutable { rp.deliver(std::move(r)); },
              [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  }
}

/// Stops partition `p` here (this node no longer owns it).
void stop_partition(self_ptr self, std::uint32_t p) {
  auto& part = self->state.parts[p];
  if (!part.node) {
    // Handed over: its tree stopped before; what waited goes on.
    if (!part.waiting.empty()) {
      auto waiting = std::move(part.waiting);
      part.waiting.clear();
      reroute(self, std::move(waiting));
    }
    return;
  }
  // Its down message says when it is gone (retiring).
  self->state.retiring.emplace(part.node.address(), part.node);
  if (part.entry)
    self->demonitor(part.entry.address());
  part.entry = nullptr;
  publish_routes(self);
  self->send_exit(part.node, caf::exit_reason::user_shutdown);
  auto waiting = std::move(part.waiting);
  auto leader = part.leader;
  part = local_partition{};
  part.leader = leader;
  // What waited for it goes where the partition is now.
  reroute(self, std::move(waiting));
}

void stop_leader(self_ptr self, std::uint32_t p) {
  auto& part = self->state.parts[p];
  if (!part.leader)
    return;
  self->demonitor(part.leader.address());
  self->send_exit(part.leader, caf::exit_reason::user_shutdown);
  part.leader = nullptr;
}

/// Stops the follower of `p`; its store is closed once its down message
/// arrives (closing).
void stop_follower(self_ptr self, std::uint32_t p) {
  auto& st = self->state;
  auto& f = st.followers[p];
  if (!f)
    return;
  self->send_exit(f, caf::exit_reason::user_shutdown);
  st.closing[p] = f;
  f = nullptr;
}

/// Asks partition `p`'s tree whether every component is ready, until it
/// is: /healthz leaves a partition out while it starts.
void check_ready(self_ptr self, std::uint32_t p) {
  auto node = self->state.parts[p].node;
  if (!node || self->state.parts[p].ready)
    return;
  self->request(node, status_timeout * 2, atom::health::value)
      .then(
          [=](api_response&) {
            auto& part = self->state.parts[p];
            if (part.node == node)
              part.ready = true;
          },
          [=](caf::error&) {
            self->delayed_send(self, std::chrono::milliseconds{20},
                               atom::revive::value,
                               static_cast<std::size_t>(p));
          });
}

/// Asks partition `p`'s tree for its access actor, until it has one.
void fetch_entry(self_ptr self, std::uint32_t p) {
  auto node = self->state.parts[p].node;
  if (!node)
    return;
  self->request(node, status_timeout, atom::entry::value)
      .then(
          [=](access_actor& entry) {
            auto& part = self->state.parts[p];
            if (part.node != node)
              return;
            part.entry = entry;
            self->monitor(entry);
            publish_routes(self);
            auto waiting = std::move(part.waiting);
            part.waiting.clear();
            auto deadline = std::chrono::duration_cast<caf::timespan>(
                self->state.host.cfg.request_timeout);
            for (auto& [call, rp] : waiting)
              self->request(entry, deadline, std::move(call))
                  .then([rp](api_response& r) mutable { rp.deliver(r); },
                        [rp](caf::error& err) mutable { rp.deliver(err); });
            check_ready(self, p);
          },
          [=](caf::error&) {
            self->delayed_send(self, revive_delay, atom::revive::value,
                               static_cast<std::size_t>(p));
          });
}

/// Whether this node keeps a copy of partition `p`, which another member
/// owns: it is placed here, or the owner still counts it in sync.
bool follows(self_ptr self, std::uint32_t p) {
  auto& v = self->state.view;
  if (v.fenced || p >= v.owners.size() || v.owners[p].node.empty()
      || v.owners[p].node == v.self)
    return false;
  auto has = [&](const std::vector<std::string>& names) {
    return std::find(names.begin(), names.end(), v.self) != names.end();
  };
  return (p < v.wanted.size() && has(v.wanted[p]))
         || (p < v.insync.size() && v.insync[p].owner == v.owners[p].node
             && has(v.insync[p].followers));
}

void start_follower(self_ptr self, std::uint32_t p) {
  auto& st = self->state;
  // The follower holds the partition's store from now on.
  st.host.stores[p].reset();
  follower_setup fs;
  fs.partition = p;
  fs.self = st.view.self;
  fs.epoch = st.view.owners[p].epoch;
  fs.data_dir = st.host.cfg.data_dir;
  fs.router = self;
  host_setup opener;
  opener.cfg = st.host.cfg;
  opener.resources = st.host.resources;
  fs.open = [opener, p] { return open_partition(opener, p); };
  fs.reseeds = st.reseeds;
  st.follower_epochs[p] = fs.epoch;
  st.followers[p] = spawn_follower(self->system(), std::move(fs));
  self->monitor(st.followers[p]);
}

/// Makes the local partitions match what this node owns now. A partition
/// that holds no data yet starts with its first request, so that a node
/// runs (threads, descriptors, memory) only the partitions in use.
void reconcile(self_ptr self) {
  auto& st = self->state;
  for (std::uint32_t p = 0; p < st.partitions; ++p) {
    if (!owns(self, p)) {
      stop_partition(self, p);
      stop_leader(self, p);
      st.parts[p].moving = false;
      // A copy of a partition another member owns: followed, if this node
      // is to hold one or the owner still counts on it.
      if (st.clustered && follows(self, p)) {
        auto epoch = st.view.owners[p].epoch;
        if (st.followers[p] && st.follower_epochs[p] != epoch)
          stop_follower(self, p);
        // A new one once the old one closed its store.
        if (!st.followers[p] && !st.closing[p])
          start_follower(self, p);
      } else {
        stop_follower(self, p);
      }
      continue;
    }
    if (st.followers[p]) {
      // Taking over from a follower: its store closes with it, then the
      // partition starts (at its down message).
      stop_follower(self, p);
      continue;
    }
    if (st.closing[p])
      continue;
    if (st.parts[p].moving)
      continue;
    // In a cluster every partition a node owns runs, empty or not: its
    // leader seeds its followers, so that another member can take it.
    if (st.clustered || st.host.stores[p]
        || partition_exists(st.host.cfg.data_dir, p))
      start_partition(self, p);
  }
}

void finish_handover(self_ptr self, std::uint32_t p);

void stop_for_handover(self_ptr self, std::uint32_t p);

/// Hands partition `p` over to `to`, a follower in sync placed as its
/// owner. First its webhook actors drain: they start no new attempt, and
/// those in flight finish and have their outcomes written, so that `to`
/// does not deliver again what was delivered here (requests are served
/// meanwhile; what they queue, `to` delivers). Then the tree stops (its
/// last writes reach the follower), the leader answers once `to` has
/// everything, and the ownership record goes; `to` claims it.
void begin_handover(self_ptr self, std::uint32_t p, const std::string& to) {
  auto& st = self->state;
  auto& part = st.parts[p];
  st.handing_over = true;
  part.moving_to = to;
  log::info("handing a partition over",
            {{"partition", static_cast<std::int64_t>(p)}, {"to", to}});
  if (!part.node) {
    stop_for_handover(self, p);
    return;
  }
  // An attempt takes at most the delivery timeout; one that outlasts the
  // drain is delivered again by `to` (at least once, as after a crash).
  auto limit = std::chrono::duration_cast<caf::timespan>(
      st.host.cfg.delivery_timeout + std::chrono::seconds{1});
  auto node = part.node;
  auto go_on = [=](bool drained) {
    auto& part = self->state.parts[p];
    if (!self->state.handing_over || part.moving || part.node != node
        || part.moving_to != to) {
      // The tree stopped for another reason meanwhile (a lost lease, a
      // crash): nothing moves now; the next round decides again.
      self->state.handing_over = false;
      return;
    }
    if (!drained)
      log::warn("a partition's deliveries did not finish before its "
                "handover; those in flight may be delivered again",
                {{"partition", static_cast<std::int64_t>(p)}, {"to", to}});
    stop_for_handover(self, p);
  };
  self->request(node, limit + std::chrono::seconds{1}, atom::drain::value,
                limit)
      .then([=](bool drained) { go_on(drained); },
            [=](caf::error&) { go_on(false); });
}

/// The drained tree of a partition being handed over stops; requests for
/// it wait (moving_wait) for its new owner.
void stop_for_handover(self_ptr self, std::uint32_t p) {
  auto& st = self->state;
  auto& part = st.parts[p];
  part.moving = true;
  part.moving_since = clock::now();
  self->delayed_send(self, moving_wait / 3, atom::cluster::value);
  if (part.node) {
    // The tree's down message goes on with the handover.
    if (part.entry)
      self->demonitor(part.entry.address());
    part.entry = nullptr;
    self->send_exit(part.node, caf::exit_reason::user_shutdown);
    return;
  }
  finish_handover(self, p);
}

void handover_failed(self_ptr self, std::uint32_t p, const std::string& why) {
  auto& st = self->state;
  log::warn("a handover did not complete; the partition stays here",
            {{"partition", static_cast<std::int64_t>(p)}, {"error", why}});
  st.parts[p].moving = false;
  st.handing_over = false;
  reconcile(self);
  self->delayed_send(self, std::chrono::seconds{2}, atom::cluster::value);
}

/// The tree of a partition being handed over stopped: wait for the
/// follower, then give the partition up.
void finish_handover(self_ptr self, std::uint32_t p) {
  auto& st = self->state;
  auto& part = st.parts[p];
  if (!part.leader) {
    handover_failed(self, p, "no leader");
    return;
  }
  auto to = part.moving_to;
  self->request(part.leader, std::chrono::seconds{5}, atom::handover::value, to)
      .then(
          [=](bool ok) {
            if (!ok) {
              handover_failed(self, p, to + " did not catch up in time");
              return;
            }
            self->request(self->state.etcd, std::chrono::seconds{5},
                          atom::release::value, p)
                .then(
                    [=](bool released) {
                      if (!released) {
                        handover_failed(self, p, "etcd refused the release");
                        return;
                      }
                      ++self->state.moves;
                      self->state.handing_over = false;
                      // The next move a little later: serving goes on.
                      self->delayed_send(self, std::chrono::milliseconds{200},
                                         atom::cluster::value);
                    },
                    [=](caf::error& err) {
                      handover_failed(self, p, message_of(err));
                    });
          },
          [=](caf::error& err) { handover_failed(self, p, message_of(err)); });
}

/// Moves one partition toward its placement, if one should move.
void consider_handover(self_ptr self) {
  auto& st = self->state;
  if (!st.clustered || st.handing_over || st.view.fenced || st.stopping
      || st.view.wanted.size() != st.partitions)
    return;
  for (std::uint32_t p = 0; p < st.partitions; ++p) {
    if (!owns(self, p) || !st.parts[p].leader || st.parts[p].moving
        || st.view.wanted[p].empty())
      continue;
    const auto& to = st.view.wanted[p].front();
    const auto& rec = st.view.insync[p];
    if (to == st.view.self || !st.view.has_member(to)
        || rec.owner != st.view.self
        || std::find(rec.followers.begin(), rec.followers.end(), to)
               == rec.followers.end())
      continue;
    begin_handover(self, p, to);
    return;
  }
}

/// A node that lost its lease holds its fence closed (fence.hpp) until
/// every partition it served under that lease has stopped: then the new
/// lease may open it.
void release_fence_when_stopped(self_ptr self) {
  auto& st = self->state;
  if (!fence::held() || !st.view.fenced || !st.retiring.empty())
    return;
  for (const auto& part : st.parts)
    if (part.node)
      return;
  log::info("stopped every partition served under the lost lease");
  fence::release();
}

/// Another member's router went away: its requests fail now, not at their
/// deadline, and it is reached again if it is still a member.
void peer_lost(peer& pr, const std::string& why) {
  for (auto& [id, rp] : pr.waiting)
    rp.deliver(unavailable("the node owning this organization's partition ("
                           + pr.info.name + ") " + why
                           + "; it is safe to retry"));
  pr.waiting.clear();
  for (auto& q : pr.queued)
    q.rp.deliver(unavailable("the node owning this organization's partition ("
                             + pr.info.name + ") " + why + "; retry"));
  pr.queued.clear();
  pr.handle = nullptr;
}

void send_forward(self_ptr self, const std::string& owner, std::uint32_t p,
                  api_call call, caf::typed_response_promise<api_response> rp);
void stop_next(self_ptr self);

bool single_initiator(self_ptr self) {
  return !self->state.host.cfg.cluster.cert.empty();
}

void connect(self_ptr self, const std::string& name) {
  auto& st = self->state;
  auto it = st.peers.find(name);
  if (it == st.peers.end() || it->second.handle || it->second.connecting
      || st.stopping)
    return;
  // Under TLS, one connection a pair of members: the one with the smaller
  // name makes it and says hello; the other takes the handle from the hello
  // (a second TLS connection between the same two nodes drops both in
  // CAF 0.17). Plain connections may cross.
  if (single_initiator(self) && name < st.view.self)
    return;
  auto& pr = it->second;
  pr.connecting = true;
  // With the cluster's certificates, members speak mutual TLS.
  auto mm = self->state.host.cfg.cluster.cert.empty()
                ? self->system().middleman().actor_handle()
                : self->system().openssl_manager().actor_handle();
  auto info = pr.info;
  self->request(mm, std::chrono::seconds{3}, caf::connect_atom::value,
                info.host, info.port)
      .then(
          [=](const caf::node_id&, caf::strong_actor_ptr& ptr,
              const std::set<std::string>&) {
            auto it = self->state.peers.find(name);
            if (it == self->state.peers.end())
              return;
            it->second.connecting = false;
            if (!ptr || it->second.info.port != info.port) {
              for (auto& q : it->second.queued)
                q.rp.deliver(unavailable("the node owning this organization's "
                                         "partition ("
                                         + name + ") moved; retry"));
              it->second.queued.clear();
              self->delayed_send(self, reconnect_delay, atom::cluster::value);
              return;
            }
            it->second.handle = caf::actor_cast<router_actor>(ptr);
            it->second.failures = 0;
            self->send(it->second.handle, atom::cluster::value,
                       self->state.view.self);
            auto queued = std::move(it->second.queued);
            it->second.queued.clear();
            for (auto& q : queued)
              send_forward(self, name, q.partition, std::move(q.call), q.rp);
            self->monitor(it->second.handle);
            log::info(
                "connected to a member",
                {{"member", name},
                 {"address", info.host + ':' + std::to_string(info.port)}});
          },
          [=](caf::error& err) {
            auto it = self->state.peers.find(name);
            if (it == self->state.peers.end())
              return;
            auto& pr = it->second;
            pr.connecting = false;
            for (auto& q : pr.queued)
              q.rp.deliver(unavailable("the node owning this organization's "
                                       "partition ("
                                       + name + ") cannot be reached; retry"));
            pr.queued.clear();
            // Logged at the first failures and then rarely, not at every
            // retry.
            if ((pr.failures & (pr.failures + 1)) == 0)
              log::warn(
                  "cannot reach a member",
                  {{"member", name},
                   {"failures", static_cast<std::int64_t>(pr.failures + 1)},
                   {"error", self->system().render(err)}});
            auto delay = reconnect_delay
                         * (1u << std::min<std::uint32_t>(pr.failures, 4));
            ++pr.failures;
            self->delayed_send(self, delay, atom::cluster::value);
          });
}

/// The membership's new routing table.
void update_view(self_ptr self, cluster_view view) {
  auto& st = self->state;
  bool was_fenced = st.view.fenced;
  st.view = std::move(view);
  if (!st.settled && st.view.placed && !st.view.owners.empty()
      && std::none_of(st.view.owners.begin(), st.view.owners.end(),
                      [](const partition_owner& o) { return o.node.empty(); }))
    st.settled = true;
  if (st.view.fenced && !was_fenced)
    log::error("fenced: this node's cluster lease is gone; it serves and "
               "delivers for no partition until it holds one again");
  // Peers: connect to new members, forget those that left.
  std::set<std::string> names;
  for (const auto& m : st.view.members) {
    if (m.name == st.view.self)
      continue;
    names.insert(m.name);
    auto& pr = st.peers[m.name];
    if (pr.info.host != m.host || pr.info.port != m.port) {
      pr.failures = 0;
      // Under TLS a member with a smaller name connects here, and its hello
      // may come before its new address: that handle is the new one.
      bool from_hello = single_initiator(self) && m.name < st.view.self;
      if (pr.handle && !from_hello) {
        self->demonitor(pr.handle.address());
        peer_lost(pr, "moved to another address");
      }
    }
    pr.info = m;
    connect(self, m.name);
  }
  for (auto it = st.peers.begin(); it != st.peers.end();) {
    if (names.count(it->first) == 0) {
      if (it->second.handle)
        self->demonitor(it->second.handle.address());
      peer_lost(it->second, "left the cluster");
      it = st.peers.erase(it);
    } else {
      ++it;
    }
  }
  reconcile(self);
  for (auto it = st.unowned_waiting.begin(); it != st.unowned_waiting.end();) {
    auto p = it->first;
    if (p < st.view.owners.size() && !st.view.owners[p].node.empty()) {
      std::vector<
          std::pair<api_call, caf::typed_response_promise<api_response>>>
          calls;
      for (auto& q : it->second)
        calls.emplace_back(std::move(q.call), q.rp);
      it = st.unowned_waiting.erase(it);
      reroute(self, std::move(calls));
    } else {
      ++it;
    }
  }
  for (auto& part : st.parts)
    if (part.leader)
      self->send(part.leader, atom::update::value, st.view);
  consider_handover(self);
  release_fence_when_stopped(self);
}

/// How long a request forwarded to another member may take: a message lost
/// with a connection that dropped and came back gets no answer and no down
/// message, so an owner that cannot answer must be a 503 within 5 s. Ping
/// and redeliver wait for a delivery attempt on top.
caf::timespan forward_deadline(const config& cfg, operation op) {
  auto base = std::min<std::chrono::milliseconds>(cfg.request_timeout,
                                                  defaults::forward_timeout);
  if (op == operation::ping_hook || op == operation::redeliver)
    base += cfg.delivery_timeout;
  return std::chrono::duration_cast<caf::timespan>(base);
}

/// Sends a request for partition `p` to its owner's router, connected.
void send_forward(self_ptr self, const std::string& owner, std::uint32_t p,
                  api_call call, caf::typed_response_promise<api_response> rp) {
  auto& st = self->state;
  auto it = st.peers.find(owner);
  if (it == st.peers.end() || !it->second.handle) {
    rp.deliver(unavailable("the node owning this organization's partition ("
                           + owner + ") cannot be reached; retry"));
    return;
  }
  auto id = st.next_forward++;
  it->second.waiting.emplace(id, rp);
  auto deadline = forward_deadline(st.host.cfg, call.op);
  self->request(it->second.handle, deadline, atom::forward::value, p,
                std::move(call))
      .then(
          [=](api_response& r) mutable {
            auto it = self->state.peers.find(owner);
            if (it != self->state.peers.end())
              it->second.waiting.erase(id);
            rp.deliver(std::move(r));
            if (self->state.stopping)
              stop_next(self);
          },
          [=](caf::error& err) mutable {
            auto it = self->state.peers.find(owner);
            if (it != self->state.peers.end())
              it->second.waiting.erase(id);
            if (err == caf::sec::request_timeout)
              err = unavailable("the node owning this organization's "
                                "partition ("
                                + owner + ") did not answer in time; retry");
            rp.deliver(std::move(err));
            if (self->state.stopping)
              stop_next(self);
          });
}

/// Answers 503 to the requests of `q` whose deadline has passed.
void expire(std::vector<peer::queued_call>& q, clock::time_point now,
            const std::string& why) {
  auto late = std::stable_partition(
      q.begin(), q.end(),
      [&](const peer::queued_call& c) { return c.until > now; });
  for (auto i = late; i != q.end(); ++i)
    i->rp.deliver(unavailable(why));
  q.erase(late, q.end());
}

/// Whether a live member may claim partition `p`, which has no owner: one
/// that holds all its acknowledged writes, or its placed home when it never
/// had an owner.
bool claimable(const cluster_view& v, std::uint32_t p) {
  if (p >= v.insync.size())
    return false;
  const auto& rec = v.insync[p];
  if (rec.owner.empty())
    return p < v.wanted.size() && !v.wanted[p].empty();
  auto live = [&](const std::string& name) { return v.has_member(name); };
  return live(rec.owner)
         || std::any_of(rec.followers.begin(), rec.followers.end(), live);
}

/// Serves a request for partition `p`: here, through its owner, or 503.
caf::result<api_response> dispatch(self_ptr self, std::uint32_t p,
                                   api_call call) {
  auto& st = self->state;
  if (owns(self, p)) {
    auto& part = st.parts[p];
    // While it moves, requests wait for its new owner (a moment).
    if (part.entry && !part.moving) {
      if (!st.clustered)
        return self->delegate(part.entry, std::move(call));
      // In a cluster an answer may wait for a follower (one being seeded
      // after a takeover): the client gets a 503 within the forward
      // deadline, as for a request another member serves. The write goes
      // on and is delivered; a retry is at worst a duplicate.
      auto rp = self->make_response_promise<api_response>();
      self->request(part.entry, forward_deadline(st.host.cfg, call.op),
                    std::move(call))
          .then([rp](api_response& r) mutable { rp.deliver(std::move(r)); },
                [rp](caf::error& err) mutable {
                  if (err == caf::sec::request_timeout)
                    err = unavailable("this organization's partition did not "
                                      "answer in time (a copy is being made); "
                                      "it is safe to retry");
                  rp.deliver(std::move(err));
                });
      return rp;
    }
    if (part.waiting.size() >= max_waiting)
      return unavailable("this organization's partition is starting; retry");
    auto rp = self->make_response_promise<api_response>();
    part.waiting.emplace_back(std::move(call), rp);
    if (!part.node && !part.moving) {
      start_partition(self, p);
      part.on_demand = true;
    }
    return rp;
  }
  if (!st.clustered || p >= st.view.owners.size())
    return unavailable("this organization's partition is not served");
  const auto& owner = st.view.owners[p].node;
  if (owner.empty() && !claimable(st.view, p))
    return unavailable("this organization's partition has no owner now (its "
                       "node is down); retry");
  if (owner.empty()) {
    // Between owners (handed over, or its owner's lease ran out and a
    // follower takes it): the request waits for the next one, up to the
    // forward deadline.
    auto& q = st.unowned_waiting[p];
    if (q.size() >= max_waiting)
      return unavailable("this organization's partition has no owner now; "
                         "retry");
    auto rp = self->make_response_promise<api_response>();
    auto wait = forward_deadline(st.host.cfg, call.op);
    q.push_back({p, std::move(call), rp, clock::now() + wait});
    self->delayed_send(self, wait, atom::cluster::value);
    return rp;
  }
  if (owner == st.view.self)
    return unavailable("this node lost its cluster lease; retry");
  auto it = st.peers.find(owner);
  if (it != st.peers.end() && !it->second.handle) {
    // Being connected (a member that just started, or a connection that
    // just dropped): the request waits for the connection, within its
    // deadline; a connect that fails answers it 503.
    connect(self, owner);
    auto& pr = it->second;
    // Connecting, or waiting for the member to connect here (its name is
    // the smaller): the request waits, up to the forward deadline.
    bool coming
        = pr.connecting || (single_initiator(self) && owner < st.view.self);
    if (coming && pr.queued.size() < max_waiting) {
      auto rp = self->make_response_promise<api_response>();
      auto wait = forward_deadline(st.host.cfg, call.op);
      pr.queued.push_back({p, std::move(call), rp, clock::now() + wait});
      self->delayed_send(self, wait, atom::cluster::value);
      return rp;
    }
  }
  if (it == st.peers.end() || !it->second.handle)
    return unavailable("the node owning this organization's partition (" + owner
                       + ") cannot be reached; retry");
  auto rp = self->make_response_promise<api_response>();
  send_forward(self, owner, p, std::move(call), rp);
  return rp;
}

/// Asks partition `p` (here or at its owner) and hands the answer on.
template <class OnAnswer, class OnError>
void probe(self_ptr self, std::uint32_t p, api_call call, OnAnswer on_answer,
           OnError on_error) {
  auto& st = self->state;
  auto deadline = forward_deadline(st.host.cfg, call.op);
  if (owns(self, p)) {
    auto& part = st.parts[p];
    if (!part.entry) {
      // Not running: it holds no token yet, or it is starting.
      if (!part.node) {
        start_partition(self, p);
        part.on_demand = true;
      }
      caf::error err = part.node || st.clustered
                           ? unavailable("this organization's partition is "
                                         "starting; retry")
                           : make_error(ec::unauthenticated, "invalid token");
      on_error(err);
      return;
    }
    self->request(part.entry, deadline, std::move(call))
        .then(on_answer, on_error);
    return;
  }
  const std::string owner
      = p < st.view.owners.size() ? st.view.owners[p].node : std::string{};
  auto it = st.peers.find(owner);
  if (!st.clustered || owner.empty() || it == st.peers.end()
      || !it->second.handle) {
    caf::error err = unavailable("the node owning this token's partition "
                                 "cannot be reached; retry");
    on_error(err);
    return;
  }
  self->request(it->second.handle, deadline, atom::forward::value, p,
                std::move(call))
      .then(on_answer, on_error);
}

/// The partition that knows an org token: the one its id names.
std::optional<std::uint32_t> token_partition(self_ptr self,
                                             const credential& who) {
  auto h = org_hash_of_token_id(who.token_id);
  if (!h)
    return std::nullopt;
  return static_cast<std::uint32_t>(*h % self->state.partitions);
}

/// GET /api/cluster: members and partitions, for the admin.
api_response cluster_info(self_ptr self, const lag_report& lag) {
  auto& st = self->state;
  json members = json::array();
  json parts = json::array();
  if (!st.clustered) {
    members.push_back({{"name", st.host.cfg.node_name},
                       {"http", st.host.cfg.bind + ':'
                                    + std::to_string(st.host.cfg.http_port)},
                       {"cluster", nullptr},
                       {"state", "up"}});
    for (std::uint32_t p = 0; p < st.partitions; ++p)
      parts.push_back({{"partition", p},
                       {"owner", st.host.cfg.node_name},
                       {"followers", json::array()},
                       {"placed", json::array({st.host.cfg.node_name})},
                       {"epoch", 0},
                       {"replication", nullptr}});
  } else {
    for (const auto& m : st.view.members) {
      std::string state = "up";
      bool going
          = std::find(st.view.leaving.begin(), st.view.leaving.end(), m.name)
            != st.view.leaving.end();
      if (m.name == st.view.self)
        state = st.view.fenced ? "fenced" : "up";
      else if (auto it = st.peers.find(m.name);
               it == st.peers.end() || !it->second.handle)
        state = "unreachable";
      if (going && state == "up")
        state = "leaving";
      members.push_back({{"name", m.name},
                         {"http", m.http},
                         {"cluster", m.host + ':' + std::to_string(m.port)},
                         {"state", state}});
    }
    std::map<std::uint32_t, json> replication;
    for (const auto& l : lag.items)
      replication[l.partition].push_back({{"follower", l.follower},
                                          {"inSync", l.in_sync},
                                          {"behind", l.behind}});
    for (std::uint32_t p = 0; p < st.view.owners.size(); ++p) {
      const auto& o = st.view.owners[p];
      json followers = json::array();
      if (p < st.view.insync.size() && st.view.insync[p].owner == o.node)
        followers = st.view.insync[p].followers;
      json wanted
          = p < st.view.wanted.size() ? json(st.view.wanted[p]) : json::array();
      auto r = replication.find(p);
      parts.push_back({{"partition", p},
                       {"owner", o.node.empty() ? json(nullptr) : json(o.node)},
                       {"followers", followers},
                       {"placed", wanted},
                       {"epoch", o.epoch},
                       {"replication",
                        r == replication.end() ? json(nullptr) : r->second}});
    }
  }
  json body{{"node", st.clustered ? st.view.self : st.host.cfg.node_name},
            {"clustered", st.clustered},
            {"partitionCount", st.partitions},
            {"members", members},
            {"partitions", parts}};
  return {success::ok, body.dump(), {}};
}

/// A follower's message for partition `p`: to its leader when this node
/// owns it; from this node's own follower, on to the owner.
template <class Request, class Reply, class Atom>
caf::result<Reply> replication_call(self_ptr self, Atom what, Request& req) {
  auto& st = self->state;
  auto p = req.partition;
  if (p >= st.partitions)
    return make_error(ec::bad_request, "no such partition");
  if (owns(self, p)) {
    // A partition being handed over still serves its followers: the new
    // owner catches up through them.
    if (st.parts[p].leader)
      return self->delegate(st.parts[p].leader, what, std::move(req));
    return unavailable("this node's copy of partition " + std::to_string(p)
                       + " is not serving now; retry");
  }
  if (req.follower != st.view.self || p >= st.view.owners.size())
    return unavailable("this node does not own partition " + std::to_string(p));
  const auto& owner = st.view.owners[p].node;
  auto it = st.peers.find(owner);
  if (owner.empty() || it == st.peers.end() || !it->second.handle)
    return unavailable("the owner of partition " + std::to_string(p)
                       + " cannot be reached now");
  return self->delegate(it->second.handle, what, std::move(req));
}

caf::result<pull_reply> replicate(self_ptr self, pull_request& req) {
  return replication_call<pull_request, pull_reply>(
      self, atom::replicate::value, req);
}

caf::result<seed_reply> seed(self_ptr self, seed_request& req) {
  return replication_call<seed_request, seed_reply>(self, atom::seed::value,
                                                    req);
}

/// Every local leader's followers and how far behind they are.
caf::result<lag_report> lags(self_ptr self) {
  auto& st = self->state;
  auto rp = self->make_response_promise<lag_report>();
  auto out = std::make_shared<lag_report>();
  std::vector<leader_actor> leaders;
  for (auto& part : st.parts)
    if (part.leader)
      leaders.push_back(part.leader);
  if (leaders.empty()) {
    rp.deliver(*out);
    return rp;
  }
  auto remaining = std::make_shared<std::size_t>(leaders.size());
  for (auto& l : leaders)
    self->request(l, status_timeout, atom::lag::value)
        .then(
            [=](lag_report& r) mutable {
              for (auto& i : r.items)
                out->items.push_back(std::move(i));
              if (--*remaining == 0)
                rp.deliver(*out);
            },
            [=](caf::error&) mutable {
              if (--*remaining == 0)
                rp.deliver(*out);
            });
  return rp;
}

/// GET /api/cluster with the replication lag every reachable owner reports.
caf::result<api_response> gather_cluster_info(self_ptr self) {
  auto& st = self->state;
  auto rp = self->make_response_promise<api_response>();
  auto merged = std::make_shared<lag_report>();
  auto remaining = std::make_shared<std::size_t>(1);
  auto settle = [=]() mutable {
    if (--*remaining == 0)
      rp.deliver(cluster_info(self, *merged));
  };
  auto take = [=](lag_report& r) mutable {
    for (auto& i : r.items)
      merged->items.push_back(std::move(i));
    settle();
  };
  for (auto& [name, pr] : st.peers)
    if (pr.handle) {
      ++*remaining;
      self->request(pr.handle, status_timeout, atom::lag::value)
          .then(take, [=](caf::error&) mutable { settle(); });
    }
  self->request(caf::actor_cast<router_actor>(self), status_timeout,
                atom::lag::value)
      .then(take, [=](caf::error&) mutable { settle(); });
  return rp;
}

/// Routes one API request.
caf::result<api_response> route(self_ptr self, api_call& call) {
  auto& st = self->state;
  bool admin
      = !call.who.digest.empty()
        && crypto::equal_constant_time(call.who.digest, st.host.admin_hash);
  if (call.op == operation::cluster_info
      || call.op == operation::cluster_leave) {
    if (call.who.digest.empty())
      return make_error(ec::unauthenticated,
                        "missing token: send 'Authorization: token <token>'");
    if (admin && call.op == operation::cluster_info)
      return gather_cluster_info(self);
    if (admin) {
      if (!st.clustered)
        return make_error(ec::conflict,
                          "this node is not a cluster member; there is "
                          "nothing to leave");
      self->send(st.etcd, atom::leave::value);
      json body{{"node", st.view.self}, {"leaving", true}};
      return api_response{success::accepted, body.dump(), {}};
    }
    // An org token is refused (403); anything else is no token (401).
    auto tp = token_partition(self, call.who);
    if (!tp)
      return make_error(ec::unauthenticated, "invalid token");
    api_call q;
    q.op = operation::whoami;
    q.who = call.who;
    auto rp = self->make_response_promise<api_response>();
    probe(
        self, *tp, std::move(q),
        [=](api_response&) mutable {
          rp.deliver(make_error(ec::forbidden, "only the admin token may read "
                                               "the cluster's state"));
        },
        [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
    return rp;
  }
  if (call.op == operation::whoami) {
    // The admin is known anywhere; an org token's id names its partition.
    if (admin) {
      json body{{"role", "admin"},
                {"name", "admin"},
                {"organizations", json::array()}};
      return api_response{success::ok, body.dump(), {}};
    }
    if (auto p = token_partition(self, call.who))
      return dispatch(self, *p, std::move(call));
    // A token made before ids named their organization: its partition is
    // unknown, and so it is to the router.
    if (call.who.digest.empty())
      return make_error(ec::unauthenticated,
                        "missing token: send 'Authorization: token <token>'");
    return make_error(ec::unauthenticated, "invalid token");
  }
  auto p = partition_of(call.where.org, st.partitions);
  // A token of another organization lives in another partition: ask that
  // one whether it is a token at all, so that the answer is 403 (a valid
  // token for the wrong organization) or 401 (no token), as on one node.
  if (!admin && token_of_another_org(call.who.token_id, call.where.org)) {
    auto tp = token_partition(self, call.who);
    api_call q;
    q.op = operation::whoami;
    q.who = call.who;
    auto rp = self->make_response_promise<api_response>();
    auto org = call.where.org;
    probe(
        self, *tp, std::move(q),
        [=](api_response&) mutable {
          rp.deliver(make_error(ec::forbidden,
                                "this token has no access to organization '"
                                    + org + "'"));
        },
        [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
    return rp;
  }
  return dispatch(self, p, std::move(call));
}

/// /healthz: every local partition ready, and in a cluster placement done
/// and this node not fenced.
caf::result<api_response> health(self_ptr self) {
  auto& st = self->state;
  std::uint32_t owned = 0;
  std::uint32_t unowned = 0;
  std::set<std::string> live;
  if (st.clustered) {
    for (const auto& o : st.view.owners) {
      if (o.node.empty())
        ++unowned;
      else if (o.node == st.view.self && !st.view.fenced)
        ++owned;
    }
    if (st.view.owners.empty())
      unowned = st.partitions;
  } else {
    owned = st.partitions;
  }
  json body{{"status", "ok"},
            {"node", st.clustered ? st.view.self : st.host.cfg.node_name}};
  if (st.clustered)
    body["cluster"] = {{"members", st.view.members.size()},
                       {"partitions", st.partitions},
                       {"owned", owned},
                       {"unowned", unowned}};
  if (st.clustered && !st.view.placed)
    return unavailable("waiting for " + std::to_string(st.host.cfg.cluster.size)
                       + " members to place the partitions; "
                       + std::to_string(st.view.members.size()) + " so far");
  if (st.clustered && st.view.fenced)
    return unavailable("this node lost its cluster lease (fenced)");
  // After placement, the members claim their partitions: ready once every
  // partition has had its owner. A member lost later leaves this node
  // ready (its organizations get 503; "unowned" says how many).
  if (st.clustered && !st.settled)
    return unavailable("waiting for the members to claim their partitions; "
                       + std::to_string(unowned) + " unowned");
  std::vector<node_actor> nodes;
  for (std::uint32_t p = 0; p < st.partitions; ++p) {
    const auto& part = st.parts[p];
    if (!owns(self, p) || !part.node)
      continue;
    // A partition that is starting (its first request started it) is left
    // out until it is ready, unless it takes too long.
    if (!part.ready) {
      if (!part.on_demand)
        return unavailable("partition " + std::to_string(p)
                           + " is loading its state");
      if (clock::now() - part.started > defaults::component_start_timeout)
        return unavailable("partition " + std::to_string(p)
                           + " did not get ready");
      continue;
    }
    nodes.push_back(part.node);
  }
  auto rp = self->make_response_promise<api_response>();
  if (nodes.empty()) {
    rp.deliver(api_response{success::ok, body.dump(), {}});
    return rp;
  }
  struct tally {
    std::size_t remaining;
    std::string not_ready;
  };
  auto t = std::make_shared<tally>(tally{nodes.size(), {}});
  auto text = body.dump();
  auto settle = [=]() mutable {
    if (--t->remaining > 0)
      return;
    if (!t->not_ready.empty())
      rp.deliver(unavailable(t->not_ready));
    else
      rp.deliver(api_response{success::ok, text, {}});
  };
  for (auto& n : nodes)
    self->request(n, status_timeout * 2, atom::health::value)
        .then([=](api_response&) mutable { settle(); },
              [=](caf::error& err) mutable {
                if (t->not_ready.empty())
                  t->not_ready = message_of(err);
                settle();
              });
  return rp;
}

/// The scrape: the process-wide figures, the pending deliveries over every
/// local partition and the size of their stores.
caf::result<std::string> scrape(self_ptr self) {
  auto& st = self->state;
  auto f = std::make_shared<metrics::node_figures>();
  f->store_known = true;
  f->clustered = st.clustered;
  if (st.clustered) {
    f->members = static_cast<std::int64_t>(st.view.members.size());
    f->fenced = st.view.fenced;
    for (const auto& o : st.view.owners) {
      if (o.node.empty())
        ++f->partitions_unowned;
      else if (o.node == st.view.self)
        ++f->partitions_owned;
    }
    for (const auto& [name, pr] : st.peers)
      if (!pr.handle)
        ++f->peers_unreachable;
    for (const auto& fa : st.followers)
      if (fa)
        ++f->partitions_followed;
    f->moves = static_cast<std::int64_t>(st.moves);
    f->reseeds = static_cast<std::int64_t>(st.reseeds->load());
  }
  std::vector<node_actor> nodes;
  for (std::uint32_t p = 0; p < st.partitions; ++p) {
    if (st.parts[p].node) {
      nodes.push_back(st.parts[p].node);
      ++f->partitions_running;
    }
    if (auto& db = st.host.stores[p]) {
      auto sizes = db->size();
      f->store_sst_bytes += static_cast<std::int64_t>(sizes.sst_bytes);
      f->store_memtable_bytes
          += static_cast<std::int64_t>(sizes.memtable_bytes);
    }
  }
  auto rp = self->make_response_promise<std::string>();
  if (nodes.empty()) {
    rp.deliver(metrics::render(*f));
    return rp;
  }
  auto remaining = std::make_shared<std::size_t>(nodes.size() + 1);
  auto take_lag = [=](lag_report& r) mutable {
    for (const auto& l : r.items) {
      if (l.in_sync)
        ++f->followers_in_sync;
      else
        ++f->followers_out_of_sync;
      f->replication_lag_max = std::max<std::int64_t>(
          f->replication_lag_max, static_cast<std::int64_t>(l.behind));
    }
    if (--*remaining == 0)
      rp.deliver(metrics::render(*f));
  };
  self->request(caf::actor_cast<router_actor>(self), status_timeout,
                atom::lag::value)
      .then(take_lag, [=](caf::error&) mutable {
        if (--*remaining == 0)
          rp.deliver(metrics::render(*f));
      });
  auto settle = [=]() mutable {
    if (--*remaining == 0)
      rp.deliver(metrics::render(*f));
  };
  for (auto& n : nodes)
    self->request(n, status_timeout, atom::pending::value)
        .then(
            [=](std::int64_t pending) mutable {
              f->pending += pending;
              settle();
            },
            [=](caf::error&) mutable { settle(); });
  return rp;
}

caf::result<bool> drain(self_ptr self, caf::timespan deadline) {
  std::vector<node_actor> nodes;
  for (auto& part : self->state.parts)
    if (part.node)
      nodes.push_back(part.node);
  auto rp = self->make_response_promise<bool>();
  ask_all(
      self, nodes, caf::duration{deadline + std::chrono::seconds{1}}, false,
      [rp](bool all) mutable { rp.deliver(all); }, atom::drain::value,
      deadline);
  return rp;
}

void spawn_delivery_client(self_ptr self) {
  auto& cfg = self->state.host.cfg;
  delivery_options options;
  options.allow_private_targets = cfg.allow_private_targets;
  options.ca_file = cfg.ca_file;
  self->state.delivery = spawn_delivery(self->system(), std::move(options));
  self->monitor(self->state.delivery);
}

/// Shutting down: the partitions first (their webhooks' last outcomes go
/// to their writers), then the delivery client.
void stop_next(self_ptr self) {
  auto& st = self->state;
  // The partitions stop together, each in its own order.
  bool running = false;
  for (auto& part : st.parts)
    if (part.node) {
      running = true;
      if (!part.stop_sent) {
        part.stop_sent = true;
        self->send_exit(part.node, st.stop_reason);
      }
    }
  if (running)
    return;
  for (const auto& [name, pr] : st.peers)
    if (!pr.waiting.empty())
      return;
  // The trees' last writes reached the followers: replication stops.
  for (std::uint32_t p = 0; p < st.parts.size(); ++p) {
    stop_leader(self, p);
    stop_follower(self, p);
  }
  if (st.etcd) {
    self->send_exit(st.etcd, st.stop_reason);
    st.etcd = nullptr;
  }
  if (st.delivery) {
    self->send_exit(st.delivery, st.stop_reason);
    return;
  }
  self->quit(st.stop_reason);
}

void on_down(self_ptr self, const caf::down_msg& dm) {
  // Whatever stopped, the published routes follow.
  struct republish {
    self_ptr self;
    ~republish() {
      publish_routes(self);
    }
  } republish_after{self};
  auto& st = self->state;
  if (st.stopping) {
    for (auto& part : st.parts)
      if (part.node && part.node.address() == dm.source) {
        auto leader = part.leader;
        part = local_partition{};
        part.leader = leader;
      }
    if (st.delivery && st.delivery.address() == dm.source)
      st.delivery = nullptr;
    stop_next(self);
    return;
  }
  if (st.retiring.erase(dm.source) > 0) {
    release_fence_when_stopped(self);
    return;
  }
  for (std::uint32_t p = 0; p < st.parts.size(); ++p) {
    auto& part = st.parts[p];
    if (part.entry && part.entry.address() == dm.source) {
      // Its node revives it; ask for the new one.
      part.entry = nullptr;
      fetch_entry(self, p);
      return;
    }
    if (part.node && part.node.address() == dm.source && part.moving) {
      part.node = nullptr;
      part.entry = nullptr;
      part.ready = false;
      finish_handover(self, p);
      return;
    }
    if (part.leader && part.leader.address() == dm.source) {
      // Its tree's writer waits on it: the two start again together.
      log::error("a partition's leader stopped; restarting the partition",
                 {{"partition", static_cast<std::int64_t>(p)},
                  {"reason", self->system().render(dm.reason)}});
      part.leader = nullptr;
      stop_partition(self, p);
      part.moving = false;
      self->delayed_send(self, revive_delay, atom::revive::value,
                         static_cast<std::size_t>(p));
      return;
    }
    if (st.closing[p] && st.closing[p].address() == dm.source) {
      st.closing[p] = nullptr;
      reconcile(self);
      return;
    }
    if (st.followers[p] && st.followers[p].address() == dm.source) {
      log::error("a partition's follower stopped; restarting it",
                 {{"partition", static_cast<std::int64_t>(p)},
                  {"reason", self->system().render(dm.reason)}});
      st.followers[p] = nullptr;
      self->delayed_send(self, revive_delay, atom::revive::value,
                         std::numeric_limits<std::size_t>::max());
      return;
    }
    if (part.node && part.node.address() == dm.source) {
      log::error("a partition stopped; restarting it",
                 {{"partition", static_cast<std::int64_t>(p)},
                  {"reason", self->system().render(dm.reason)}});
      // What waited for it waits for its revival; its leader (and the
      // followers it serves) goes on.
      auto waiting = std::move(part.waiting);
      auto leader = part.leader;
      part = local_partition{};
      part.waiting = std::move(waiting);
      part.leader = leader;
      self->delayed_send(self, revive_delay, atom::revive::value,
                         static_cast<std::size_t>(p));
      return;
    }
  }
  if (st.delivery && st.delivery.address() == dm.source) {
    // Every partition holds its handle: they all start again with a new one.
    log::error("the delivery client stopped; restarting it and the "
               "partitions",
               {{"reason", self->system().render(dm.reason)}});
    metrics::component_restarted("delivery");
    spawn_delivery_client(self);
    for (std::uint32_t p = 0; p < st.partitions; ++p)
      stop_partition(self, p);
    self->delayed_send(self, revive_delay, atom::revive::value,
                       std::numeric_limits<std::size_t>::max());
    return;
  }
  for (auto& [name, pr] : st.peers) {
    if (pr.handle && pr.handle.address() == dm.source) {
      log::warn("lost the connection to a member", {{"member", name}});
      peer_lost(pr, "cannot be reached");
      // Soon, and later each time it drops again.
      auto delay = std::chrono::milliseconds{50}
                   * (1u << std::min<std::uint32_t>(pr.failures, 6));
      ++pr.failures;
      self->delayed_send(self, delay, atom::cluster::value);
      return;
    }
  }
}

router_actor::behavior_type
router_behavior(self_ptr self, host_setup host,
                std::shared_ptr<cluster_control> control,
                route_board_ptr board) {
  auto& st = self->state;
  st.board = std::move(board);
  st.partitions = host.cfg.partitions;
  st.clustered = host.cfg.clustered();
  st.host = std::move(host);
  st.parts.resize(st.partitions);
  st.followers.resize(st.partitions);
  st.closing.resize(st.partitions);
  st.follower_epochs.resize(st.partitions, 0);
  st.control = std::move(control);
  if (st.clustered)
    st.etcd = spawn_etcd_worker(self->system(), st.control);
  spawn_delivery_client(self);
  if (!st.clustered)
    reconcile(self);
  self->set_down_handler([=](caf::down_msg& dm) { on_down(self, dm); });
  self->set_exit_handler([=](caf::exit_msg& msg) {
    auto& st = self->state;
    if (st.stopping)
      return;
    st.stopping = true;
    st.stop_reason = msg.reason;
    publish_routes(self);
    // Requests not sent yet fail now; those forwarded get their answers
    // (within their deadlines) before the router goes.
    for (auto& [name, pr] : st.peers) {
      for (auto& q : pr.queued)
        q.rp.deliver(unavailable("this node is shutting down; retry"));
      pr.queued.clear();
    }
    stop_next(self);
  });
  return {
      [=](api_call& call) { return route(self, call); },
      [=](atom::forward, std::uint32_t p,
          api_call& call) -> caf::result<api_response> {
        auto& st = self->state;
        if (p >= st.partitions)
          return make_error(ec::bad_request, "no such partition");
        // Sent here by a member whose table is a moment behind (the
        // partition just moved): on to its owner, or wait for one.
        if (!owns(self, p)
            && (st.view.fenced || p >= st.view.owners.size()
                || st.view.owners[p].node == st.view.self))
          return unavailable("this node does not own partition "
                             + std::to_string(p) + " now; retry");
        return dispatch(self, p, std::move(call));
      },
      [=](atom::update, cluster_view& view) {
        update_view(self, std::move(view));
      },
      [=](atom::status) {
        return component_status{"router", true, {}};
      },
      [=](atom::entry) -> caf::result<access_actor> {
        return caf::actor_cast<access_actor>(self);
      },
      [=](atom::health) { return health(self); },
      [=](atom::metrics) { return scrape(self); },
      [=](atom::stats, std::size_t) -> caf::result<registry_actor> {
        return make_error(ec::not_found, "ask a partition's node");
      },
      [=](atom::pending) -> caf::result<std::int64_t> {
        return make_error(ec::not_found, "ask a partition's node");
      },
      [=](atom::drain, caf::timespan deadline) {
        return drain(self, deadline);
      },
      [=](atom::drain) {},
      [=](atom::cluster) {
        auto now = clock::now();
        for (auto& [name, pr] : self->state.peers) {
          // Requests that waited for a connection past their deadline.
          expire(pr.queued, now,
                 "the node owning this organization's partition (" + name
                     + ") cannot be reached; retry");
          connect(self, name);
        }
        for (auto it = self->state.unowned_waiting.begin();
             it != self->state.unowned_waiting.end();) {
          expire(it->second, now,
                 "this organization's partition has no owner now (its node "
                 "is down); retry");
          it = it->second.empty() ? self->state.unowned_waiting.erase(it)
                                  : std::next(it);
        }
        // A handover that takes long: what waits for it is answered.
        for (auto& part : self->state.parts) {
          if (!part.moving)
            continue;
          if (now - part.moving_since >= moving_wait) {
            for (auto& [call, rp] : part.waiting)
              rp.deliver(unavailable("this organization's partition is "
                                     "moving to another node; retry"));
            part.waiting.clear();
          }
          self->delayed_send(self, moving_wait / 3, atom::cluster::value);
        }
        consider_handover(self);
      },
      [=](atom::cluster, const std::string& name) {
        // A member with a smaller name connected and says hello: its
        // router is the sender.
        auto& st = self->state;
        auto sender = self->current_sender();
        if (!sender || name.empty() || name == st.view.self)
          return;
        // Its hello may come before the routing table that names it (this
        // node just joined): the handle waits for that table, which keeps
        // it (update_view), as the member does not say hello twice.
        auto it = st.peers.try_emplace(name).first;
        if (it->second.handle)
          return;
        auto& pr = it->second;
        pr.handle = caf::actor_cast<router_actor>(sender);
        pr.failures = 0;
        self->monitor(pr.handle);
        log::info("connected to a member", {{"member", name}});
        auto queued = std::move(pr.queued);
        pr.queued.clear();
        for (auto& q : queued)
          send_forward(self, name, q.partition, std::move(q.call), q.rp);
      },
      [=](atom::replicate, pull_request& req) -> caf::result<pull_reply> {
        return replicate(self, req);
      },
      [=](atom::seed, seed_request& req) -> caf::result<seed_reply> {
        return seed(self, req);
      },
      [=](atom::lag) { return lags(self); },
      [=](atom::leave) {
        if (self->state.etcd)
          self->send(self->state.etcd, atom::leave::value);
      },
      [=](atom::revive, std::size_t p) {
        auto& st = self->state;
        if (p == std::numeric_limits<std::size_t>::max()) {
          reconcile(self);
          return;
        }
        auto q = static_cast<std::uint32_t>(p);
        if (q >= st.partitions || !owns(self, q) || st.parts[q].moving)
          return;
        if (!st.parts[q].node)
          start_partition(self, q);
        else if (!st.parts[q].entry)
          fetch_entry(self, q);
        else
          check_ready(self, q);
      },
  };
}

} // namespace

router_actor spawn_router(caf::actor_system& sys, host_setup host,
                          std::shared_ptr<cluster_control> control,
                          route_board_ptr board) {
  return sys.spawn(router_behavior, std::move(host), std::move(control),
                   std::move(board));
}

} // namespace hookd
