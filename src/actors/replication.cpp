// Partition replication (replication.hpp): the leader beside an owned
// partition, the follower of a partition another member owns, and the
// thread that makes their etcd writes.
#include "hookd/replication.hpp"

#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "hookd/layout.hpp"
#include "hookd/log.hpp"

namespace hookd {

namespace fs = std::filesystem;

namespace {

using clock = std::chrono::steady_clock;

/// Bytes of log a pull answers at most, and of a seed chunk.
constexpr std::size_t pull_bytes = 1024 * 1024;
constexpr std::size_t chunk_bytes = 1024 * 1024;
/// A pull with nothing new waits this long for a commit.
constexpr auto park_limit = std::chrono::milliseconds{1000};
constexpr auto tick_every = std::chrono::milliseconds{100};
/// Checkpoints a leader keeps at once, and how long an unused one stays.
constexpr std::size_t max_seeds = 2;
constexpr auto seed_idle_limit = std::chrono::seconds{60};
/// A handover whose new owner has not caught up by then is called off: the
/// requests waiting for the partition meanwhile are answered in time.
constexpr auto handover_limit = std::chrono::seconds{3};

std::int64_t ms(clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// -- the etcd worker ---------------------------------------------------------

struct etcd_worker_state {
  static inline const char* name = "hookd.etcd-worker";
};

etcd_worker_actor::behavior_type
etcd_worker(etcd_worker_actor::stateful_pointer<etcd_worker_state>,
            std::shared_ptr<cluster_control> control) {
  return {
      [=](atom::insync, std::uint32_t p, std::int64_t epoch,
          const replica_set& copies) {
        return control && control->record_insync(p, epoch, copies);
      },
      [=](atom::release, std::uint32_t p) {
        return control && control->release(p);
      },
      [=](atom::leave) {
        if (control)
          control->start_leaving();
      },
  };
}

// -- the leader --------------------------------------------------------------

struct follower_progress {
  /// Everything before `acked` + 1 is applied there.
  std::uint64_t acked = 0;
  bool current = false; ///< its copy is of this epoch
  clock::time_point seen;
  /// A pull that found nothing new, answered at the next commit.
  std::optional<caf::typed_response_promise<pull_reply>> parked;
  std::uint64_t parked_from = 0;
  clock::time_point parked_at;
};

struct waiter {
  std::uint64_t seq;
  clock::time_point since;
  caf::typed_response_promise<std::uint64_t> rp;
};

struct seed_files {
  std::string dir;
  std::vector<std::string> names;
  std::vector<std::uint64_t> sizes;
  clock::time_point used;
};

struct pending_handover {
  std::string to;
  clock::time_point until;
  caf::typed_response_promise<bool> rp;
};

struct leader_state {
  static inline const char* name = "hookd.leader";
  leader_setup setup;
  std::map<std::string, follower_progress> followers;
  /// The record in etcd: written with the claim (the owner alone), then
  /// only by this leader.
  replica_set recorded;
  bool recording = false;
  /// The record being written: its followers count for acknowledgements
  /// from the moment it is sent (once in etcd they may claim).
  replica_set pending;
  /// Followers of a write whose outcome is unknown (etcd did not answer):
  /// they may be in the record, so they count until a write succeeds.
  std::vector<std::string> maybe;
  std::deque<waiter> waiters;
  std::map<std::uint64_t, seed_files> seeds;
  std::uint64_t next_seed = 1;
  std::optional<pending_handover> handover;
  /// Writes have waited past wait_limit (logged once).
  bool stalled = false;
};

using leader_ptr = leader_actor::stateful_pointer<leader_state>;

const std::vector<std::string>& wanted_of(const leader_state& st) {
  static const std::vector<std::string> none;
  auto p = st.setup.partition;
  return p < st.setup.view.wanted.size() ? st.setup.view.wanted[p] : none;
}

/// Followers this partition should have: the wanted copies but this one.
std::vector<std::string> wanted_followers(const leader_state& st) {
  std::vector<std::string> out;
  for (const auto& w : wanted_of(st))
    if (w != st.setup.self)
      out.push_back(w);
  return out;
}

bool in(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

/// The highest sequence every recorded follower has, or nothing when
/// writes need not wait (no follower is recorded and none is wanted).
std::optional<std::uint64_t> replicated_up_to(const leader_state& st,
                                              std::uint64_t head) {
  auto required = st.recorded.followers;
  for (const auto& f : st.maybe)
    if (!in(required, f))
      required.push_back(f);
  if (st.recording)
    for (const auto& f : st.pending.followers)
      if (!in(required, f))
        required.push_back(f);
  if (required.empty())
    return wanted_followers(st).empty() ? std::optional<std::uint64_t>{head}
                                        : std::nullopt;
  std::uint64_t low = head;
  for (const auto& f : required) {
    auto it = st.followers.find(f);
    if (it == st.followers.end() || !it->second.current)
      return 0;
    low = std::min(low, it->second.acked);
  }
  return low;
}

void release_waiters(leader_ptr self) {
  auto& st = self->state;
  if (st.waiters.empty())
    return;
  auto upto = replicated_up_to(st, st.setup.db->sequence());
  if (!upto)
    return;
  while (!st.waiters.empty() && st.waiters.front().seq <= *upto) {
    st.waiters.front().rp.deliver(st.waiters.front().seq);
    st.waiters.pop_front();
  }
}

void check_handover(leader_ptr self) {
  auto& st = self->state;
  if (!st.handover)
    return;
  auto& h = *st.handover;
  auto it = st.followers.find(h.to);
  if (in(st.recorded.followers, h.to) && it != st.followers.end()
      && it->second.current && it->second.acked >= st.setup.db->sequence()) {
    h.rp.deliver(true);
    st.handover.reset();
  } else if (clock::now() > h.until) {
    h.rp.deliver(false);
    st.handover.reset();
  }
}

/// What the record in etcd should say now: the followers still in sync,
/// plus wanted ones that caught up; once a wanted one is in sync, those no
/// longer wanted leave it.
std::vector<std::string> desired_followers(leader_ptr self) {
  auto& st = self->state;
  auto now = clock::now();
  auto head = st.setup.db->sequence();
  auto wanted = wanted_followers(st);
  // The oldest write still waiting: a follower behind it for too long is
  // lagging.
  std::optional<std::uint64_t> stalled;
  if (!st.waiters.empty()
      && now - st.waiters.front().since > st.setup.lag_limit)
    stalled = st.waiters.front().seq;
  std::vector<std::string> out;
  std::vector<std::string> lagging;
  for (const auto& f : st.recorded.followers) {
    auto it = st.followers.find(f);
    if (!st.setup.view.has_member(f))
      continue;
    bool behind = it == st.followers.end() || !it->second.current
                  || (stalled && it->second.acked < *stalled)
                  || (it->second.acked < head
                      && now - it->second.seen > st.setup.lag_limit * 2);
    (behind ? lagging : out).push_back(f);
  }
  // A slow follower is dropped only when another one stays in sync: with
  // none, writes would wait for a follower anyway, and the partition would
  // have no copy to fail over to. Only a member that is gone (its lease
  // ran out) leaves the record regardless.
  if (out.empty())
    out = lagging;
  for (const auto& f : wanted) {
    if (in(out, f))
      continue;
    auto it = st.followers.find(f);
    if (it != st.followers.end() && it->second.current
        && it->second.acked >= head && now - it->second.seen < park_limit * 2)
      out.push_back(f);
  }
  bool wanted_in = std::any_of(out.begin(), out.end(),
                               [&](const auto& f) { return in(wanted, f); });
  // A handover's target stays while it is under way.
  if (wanted_in)
    out.erase(std::remove_if(out.begin(), out.end(),
                             [&](const std::string& f) {
                               return !in(wanted, f)
                                      && !(st.handover && st.handover->to == f);
                             }),
              out.end());
  std::sort(out.begin(), out.end());
  return out;
}

void reconsider(leader_ptr self) {
  auto& st = self->state;
  if (st.recording)
    return;
  auto want = desired_followers(self);
  auto have = st.recorded.followers;
  std::sort(have.begin(), have.end());
  if (want == have && st.recorded.owner == st.setup.self)
    return;
  replica_set next{st.setup.self, want, 0};
  st.recording = true;
  st.pending = next;
  self->request(st.setup.etcd, std::chrono::seconds{5}, atom::insync::value,
                st.setup.partition, st.setup.epoch, next)
      .then([=](bool ok) { self->send(self, atom::insync::value, ok, next); },
            [=](caf::error&) {
              self->send(self, atom::insync::value, false, next);
            });
}

/// Answers a pull with what the log holds from its sequence on.
void answer_pull(leader_ptr self, std::uint64_t from,
                 caf::typed_response_promise<pull_reply> rp) {
  auto& st = self->state;
  pull_reply out;
  out.epoch = st.setup.epoch;
  out.head = st.setup.db->sequence();
  auto changes = st.setup.db->changes_since(from, pull_bytes);
  if (!changes) {
    if (code_of(changes.error()) == ec::not_found) {
      out.reseed = true;
      rp.deliver(std::move(out));
    } else {
      rp.deliver(std::move(changes.error()));
    }
    return;
  }
  out.changes.reserve(changes->size());
  for (auto& c : *changes)
    out.changes.push_back({c.sequence, c.count, std::move(c.data)});
  rp.deliver(std::move(out));
}

void wake_parked(leader_ptr self) {
  auto& st = self->state;
  auto head = st.setup.db->sequence();
  auto now = clock::now();
  for (auto& [name, f] : st.followers) {
    if (!f.parked)
      continue;
    if (f.parked_from <= head || now - f.parked_at > park_limit) {
      auto rp = *f.parked;
      f.parked.reset();
      answer_pull(self, f.parked_from, rp);
    }
  }
}

caf::result<pull_reply> on_pull(leader_ptr self, pull_request& req) {
  auto& st = self->state;
  if (req.epoch != st.setup.epoch)
    return make_error(ec::unavailable, "the partition's epoch is "
                                           + std::to_string(st.setup.epoch)
                                           + ", not "
                                           + std::to_string(req.epoch));
  auto& f = st.followers[req.follower];
  f.seen = clock::now();
  if (f.parked) {
    // A new pull supersedes the old one (its answer would be lost anyway).
    f.parked->deliver(pull_reply{st.setup.epoch, false, {}, 0});
    f.parked.reset();
  }
  // A copy of this epoch goes on; so does one of the epoch this owner's
  // copy came from, if it is no further than where this epoch began (it
  // is then a prefix of this epoch's history). Anything else is seeded.
  bool continues
      = req.data_epoch == st.setup.epoch
        || (req.data_epoch != 0 && req.data_epoch == st.setup.prev_epoch
            && req.from - 1 <= st.setup.start_seq);
  if (!continues || req.from == 0) {
    f.current = false;
    f.acked = 0;
    reconsider(self);
    return pull_reply{st.setup.epoch, true, {}, st.setup.db->sequence()};
  }
  f.current = true;
  f.acked = std::max(f.acked, req.from - 1);
  if (f.acked > st.setup.db->sequence()) {
    // Ahead of this store: a copy of another history.
    f.current = false;
    return pull_reply{st.setup.epoch, true, {}, st.setup.db->sequence()};
  }
  if (st.setup.db->sequence() - f.acked > st.setup.backlog) {
    // Too far behind: a checkpoint is cheaper than the log, which may not
    // reach back that far anyway.
    f.current = false;
    reconsider(self);
    return pull_reply{st.setup.epoch, true, {}, st.setup.db->sequence()};
  }
  release_waiters(self);
  check_handover(self);
  reconsider(self);
  auto rp = self->make_response_promise<pull_reply>();
  if (req.from > st.setup.db->sequence()) {
    f.parked = rp;
    f.parked_from = req.from;
    f.parked_at = clock::now();
    return rp;
  }
  answer_pull(self, req.from, rp);
  return rp;
}

caf::result<seed_reply> on_seed(leader_ptr self, seed_request& req) {
  auto& st = self->state;
  if (req.epoch != st.setup.epoch)
    return make_error(ec::unavailable, "the partition's epoch changed; retry");
  if (req.seed == 0) {
    if (st.seeds.size() >= max_seeds)
      return make_error(ec::unavailable,
                        "this owner is seeding other copies; retry");
    auto id = st.next_seed++;
    auto dir = st.setup.data_dir + "/seeds/"
               + std::to_string(st.setup.partition) + '-' + std::to_string(id)
               + '-' + std::to_string(st.setup.epoch);
    std::error_code ec_ignored;
    fs::remove_all(dir, ec_ignored);
    fs::create_directories(fs::path(dir).parent_path(), ec_ignored);
    if (auto err = st.setup.db->checkpoint(dir))
      return err;
    seed_files files;
    files.dir = dir;
    files.used = clock::now();
    for (const auto& e : fs::directory_iterator(dir + "/db"))
      if (e.is_regular_file()) {
        files.names.push_back(e.path().filename().string());
        files.sizes.push_back(e.file_size());
      }
    seed_reply out;
    out.seed = id;
    out.names = files.names;
    out.sizes = files.sizes;
    st.seeds.emplace(id, std::move(files));
    log::info("seeding a follower",
              {{"partition", static_cast<std::int64_t>(st.setup.partition)},
               {"follower", req.follower},
               {"files", static_cast<std::int64_t>(out.names.size())}});
    return out;
  }
  auto it = st.seeds.find(req.seed);
  if (it == st.seeds.end())
    return make_error(ec::not_found, "no such seed; start again");
  auto& files = it->second;
  files.used = clock::now();
  seed_reply out;
  out.seed = req.seed;
  if (req.file >= files.names.size()) {
    std::error_code ignored;
    fs::remove_all(files.dir, ignored);
    st.seeds.erase(it);
    return out;
  }
  std::ifstream in(files.dir + "/db/" + files.names[req.file],
                   std::ios::binary);
  if (!in)
    return make_error(ec::internal, "cannot read a checkpoint file");
  in.seekg(static_cast<std::streamoff>(req.offset));
  out.data.resize(chunk_bytes);
  in.read(out.data.data(), static_cast<std::streamsize>(chunk_bytes));
  out.data.resize(static_cast<std::size_t>(in.gcount()));
  return out;
}

void on_tick(leader_ptr self) {
  auto& st = self->state;
  auto now = clock::now();
  // Writes wait for a follower in sync as long as it takes (one is being
  // seeded, or a lost one's lease is running out): they are committed
  // here, and the actors that made them go on once they are replicated.
  // A client that stops waiting gets a 503 and may retry.
  if (!st.waiters.empty()
      && now - st.waiters.front().since > st.setup.wait_limit) {
    if (!st.stalled) {
      st.stalled = true;
      log::warn("writes wait for a follower in sync",
                {{"partition", static_cast<std::int64_t>(st.setup.partition)},
                 {"waiting", static_cast<std::int64_t>(st.waiters.size())}});
    }
  } else if (st.stalled && st.waiters.empty()) {
    st.stalled = false;
    log::info("writes are replicated again",
              {{"partition", static_cast<std::int64_t>(st.setup.partition)}});
  }
  wake_parked(self);
  check_handover(self);
  reconsider(self);
  for (auto it = st.seeds.begin(); it != st.seeds.end();) {
    if (now - it->second.used > seed_idle_limit) {
      std::error_code ignored;
      fs::remove_all(it->second.dir, ignored);
      it = st.seeds.erase(it);
    } else {
      ++it;
    }
  }
  self->delayed_send(self, tick_every, atom::tick::value);
}

leader_actor::behavior_type leader_behavior(leader_ptr self,
                                            leader_setup setup) {
  auto& st = self->state;
  st.setup = std::move(setup);
  auto p = st.setup.partition;
  // The claim wrote the record: this owner alone.
  st.recorded = replica_set{st.setup.self, {}, 0};
  // The store's history is this epoch's from now on.
  write_data_epoch(st.setup.data_dir, p, st.setup.epoch);
  self->set_exit_handler([=](caf::exit_msg& msg) {
    auto& st = self->state;
    for (auto& w : st.waiters)
      w.rp.deliver(make_error(ec::unavailable,
                              "this node gave up the organization's partition "
                              "before a follower took the write; retry"));
    st.waiters.clear();
    for (auto& [id, files] : st.seeds) {
      std::error_code ignored;
      fs::remove_all(files.dir, ignored);
    }
    st.seeds.clear();
    self->quit(msg.reason);
  });
  self->send(self, atom::tick::value);
  return {
      [=](atom::replicate, pull_request& req) { return on_pull(self, req); },
      [=](atom::seed, seed_request& req) { return on_seed(self, req); },
      [=](atom::wait, std::uint64_t seq) -> caf::result<std::uint64_t> {
        auto& st = self->state;
        wake_parked(self);
        auto upto = replicated_up_to(st, st.setup.db->sequence());
        if (upto && *upto >= seq && st.waiters.empty())
          return seq;
        auto rp = self->make_response_promise<std::uint64_t>();
        st.waiters.push_back({seq, clock::now(), rp});
        return rp;
      },
      [=](atom::update, cluster_view& view) {
        auto& st = self->state;
        auto p = st.setup.partition;
        if (p < view.owners.size() && view.owners[p].node == st.setup.self
            && view.owners[p].epoch != st.setup.epoch) {
          // Taken back under a new lease: a new epoch; followers of the
          // old one are seeded again.
          st.setup.prev_epoch = st.setup.epoch;
          st.setup.start_seq = st.setup.db->sequence();
          st.setup.epoch = view.owners[p].epoch;
          write_data_epoch(st.setup.data_dir, p, st.setup.epoch);
          for (auto& [name, f] : st.followers)
            f.current = false;
          // Taking it back wrote the record anew: this owner alone.
          st.recorded = replica_set{st.setup.self, {}, 0};
        }
        st.setup.view = std::move(view);
        release_waiters(self);
        reconsider(self);
      },
      [=](atom::lag) {
        auto& st = self->state;
        lag_report out;
        auto head = st.setup.db->sequence();
        std::set<std::string> names(st.recorded.followers.begin(),
                                    st.recorded.followers.end());
        for (const auto& w : wanted_followers(st))
          names.insert(w);
        for (const auto& name : names) {
          follower_lag l;
          l.partition = st.setup.partition;
          l.follower = name;
          l.in_sync = in(st.recorded.followers, name);
          auto it = st.followers.find(name);
          l.behind = it == st.followers.end() || !it->second.current
                         ? head
                         : head - std::min(head, it->second.acked);
          out.items.push_back(std::move(l));
        }
        return out;
      },
      [=](atom::handover, std::string& to) -> caf::result<bool> {
        auto& st = self->state;
        if (st.handover)
          st.handover->rp.deliver(false);
        auto rp = self->make_response_promise<bool>();
        st.handover = pending_handover{to, clock::now() + handover_limit, rp};
        check_handover(self);
        return rp;
      },
      [=](atom::tick) { on_tick(self); },
      [=](atom::insync, bool ok, replica_set& next) {
        auto& st = self->state;
        st.recording = false;
        if (!ok)
          for (const auto& f : next.followers)
            if (!in(st.maybe, f))
              st.maybe.push_back(f);
        if (ok) {
          st.maybe.clear();
          if (st.recorded.followers != next.followers)
            log::info("followers in sync",
                      {{"partition", static_cast<std::int64_t>(p)},
                       {"followers", [&] {
                          std::string s;
                          for (const auto& f : next.followers)
                            s += (s.empty() ? "" : ",") + f;
                          return s;
                        }()}});
          st.recorded = std::move(next);
          release_waiters(self);
          check_handover(self);
        }
      },
  };
}

// -- the follower ------------------------------------------------------------

struct follower_state {
  static inline const char* name = "hookd.follower";
  follower_setup setup;
  store_ptr db;
  std::int64_t data_epoch = 0;
  // Seeding.
  std::uint64_t seed = 0;
  std::vector<std::string> names;
  std::vector<std::uint64_t> sizes;
  std::uint32_t file = 0;
  std::uint64_t offset = 0;
  std::unique_ptr<std::ofstream> out;
  clock::time_point seed_started;
  /// Failures in a row: the next try waits longer.
  std::uint32_t failures = 0;
};

using follower_ptr = follower_actor::stateful_pointer<follower_state>;

std::string epoch_file(const std::string& data_dir, std::uint32_t p) {
  return partition_dir(data_dir, p) + "/replica-epoch";
}

std::string seeding_dir(const std::string& data_dir, std::uint32_t p) {
  return partition_dir(data_dir, p) + ".seeding";
}

void pull(follower_ptr self);
void seed_begin(follower_ptr self);

/// Tries again later (a tick re-enters at the step the state says), waiting
/// longer after each failure in a row.
void retry_later(follower_ptr self) {
  auto& st = self->state;
  auto delay = std::chrono::milliseconds{100}
               * (1u << std::min<std::uint32_t>(st.failures, 4));
  ++st.failures;
  self->delayed_send(self, delay, atom::tick::value);
}

void seed_failed(follower_ptr self, const caf::error& err) {
  auto& st = self->state;
  if (st.failures == 0 || (st.failures & (st.failures + 1)) == 0)
    log::warn("cannot seed a partition's copy; retrying",
              {{"partition", static_cast<std::int64_t>(st.setup.partition)},
               {"error", message_of(err)}});
  st.out.reset();
  st.seed = 0;
  retry_later(self);
}

/// The copy is complete: it takes the place of the old one and tailing
/// begins.
void seed_done(follower_ptr self) {
  auto& st = self->state;
  auto p = st.setup.partition;
  st.out.reset();
  auto dir = partition_dir(st.setup.data_dir, p);
  std::error_code err;
  fs::remove_all(dir, err);
  fs::rename(seeding_dir(st.setup.data_dir, p), dir, err);
  if (err) {
    seed_failed(self, make_error(ec::internal, "cannot move the copy in place: "
                                                   + err.message()));
    return;
  }
  write_data_epoch(st.setup.data_dir, p, st.setup.epoch);
  auto db = st.setup.open();
  if (!db) {
    seed_failed(self, db.error());
    return;
  }
  st.db = std::move(*db);
  st.data_epoch = st.setup.epoch;
  st.seed = 0;
  if (st.setup.reseeds)
    ++*st.setup.reseeds;
  log::info("seeded a partition's copy",
            {{"partition", static_cast<std::int64_t>(p)},
             {"epoch", st.setup.epoch},
             {"sequence", static_cast<std::int64_t>(st.db->sequence())},
             {"ms", ms(clock::now() - st.seed_started)}});
  st.failures = 0;
  pull(self);
}

void seed_next(follower_ptr self) {
  auto& st = self->state;
  seed_request req{
      st.setup.partition, st.setup.self, st.setup.epoch, st.seed, st.file,
      st.offset};
  self->request(st.setup.router, std::chrono::seconds{10}, atom::seed::value,
                req)
      .then(
          [=](seed_reply& r) {
            auto& st = self->state;
            if (st.file >= st.names.size()) {
              seed_done(self);
              return;
            }
            if (!st.out) {
              auto path = seeding_dir(st.setup.data_dir, st.setup.partition)
                          + "/db/" + st.names[st.file];
              st.out = std::make_unique<std::ofstream>(
                  path, std::ios::binary | std::ios::trunc);
            }
            st.out->write(r.data.data(),
                          static_cast<std::streamsize>(r.data.size()));
            if (!*st.out) {
              seed_failed(self, make_error(ec::internal,
                                           "cannot write the copy's files"));
              return;
            }
            st.offset += r.data.size();
            if (r.data.empty() || st.offset >= st.sizes[st.file]) {
              st.out->flush();
              st.out.reset();
              ++st.file;
              st.offset = 0;
            }
            seed_next(self);
          },
          [=](caf::error& err) { seed_failed(self, err); });
}

/// Starts a copy from a checkpoint of the owner's store.
void seed_begin(follower_ptr self) {
  auto& st = self->state;
  auto p = st.setup.partition;
  // The old copy goes: it is of another history.
  st.db.reset();
  st.data_epoch = 0;
  st.seed_started = clock::now();
  std::error_code ignored;
  fs::remove(epoch_file(st.setup.data_dir, p), ignored);
  fs::remove_all(seeding_dir(st.setup.data_dir, p), ignored);
  fs::create_directories(seeding_dir(st.setup.data_dir, p) + "/db", ignored);
  seed_request req{p, st.setup.self, st.setup.epoch, 0, 0, 0};
  st.seed = 0;
  self->request(st.setup.router, std::chrono::seconds{10}, atom::seed::value,
                req)
      .then(
          [=](seed_reply& r) {
            auto& st = self->state;
            st.seed = r.seed;
            st.names = std::move(r.names);
            st.sizes = std::move(r.sizes);
            st.file = 0;
            st.offset = 0;
            seed_next(self);
          },
          [=](caf::error& err) { seed_failed(self, err); });
}

void pull(follower_ptr self) {
  auto& st = self->state;
  if (!st.db && st.data_epoch != 0
      && partition_exists(st.setup.data_dir, st.setup.partition)) {
    // A copy of a known epoch: the owner says whether it goes on from
    // where it is, once its store opens (the partition's tree may still
    // be closing it).
    auto db = st.setup.open();
    if (!db) {
      retry_later(self);
      return;
    }
    st.db = std::move(*db);
  }
  if (!st.db) {
    seed_begin(self);
    return;
  }
  pull_request req{st.setup.partition, st.setup.self, st.setup.epoch,
                   st.data_epoch, st.db->sequence() + 1};
  self->request(st.setup.router, park_limit + std::chrono::seconds{4},
                atom::replicate::value, req)
      .then(
          [=](pull_reply& r) {
            auto& st = self->state;
            if (r.epoch != st.setup.epoch) {
              retry_later(self);
              return;
            }
            if (r.reseed) {
              log::info("a partition's copy cannot follow the log; seeding "
                        "it again",
                        {{"partition",
                          static_cast<std::int64_t>(st.setup.partition)}});
              seed_begin(self);
              return;
            }
            if (st.data_epoch != st.setup.epoch) {
              // The owner took the copy as the start of its epoch's
              // history: from now on it is of this epoch.
              write_data_epoch(st.setup.data_dir, st.setup.partition,
                               st.setup.epoch);
              st.data_epoch = st.setup.epoch;
            }
            for (auto& c : r.changes) {
              store::change ch{c.sequence, c.count, std::move(c.data)};
              if (auto err = st.db->apply(ch)) {
                log::warn("a partition's copy refused a change; seeding it "
                          "again",
                          {{"partition",
                            static_cast<std::int64_t>(st.setup.partition)},
                           {"error", message_of(err)}});
                seed_begin(self);
                return;
              }
            }
            st.failures = 0;
            pull(self);
          },
          [=](caf::error&) { retry_later(self); });
}

follower_actor::behavior_type follower_behavior(follower_ptr self,
                                                follower_setup setup) {
  auto& st = self->state;
  st.setup = std::move(setup);
  st.data_epoch = data_epoch(st.setup.data_dir, st.setup.partition);
  self->send(self, atom::tick::value);
  return {
      [=](atom::tick) { pull(self); },
  };
}

} // namespace

void write_data_epoch(const std::string& data_dir, std::uint32_t p,
                      std::int64_t epoch) {
  auto path = epoch_file(data_dir, p);
  {
    std::ofstream f(path + ".new");
    f << epoch << '\n';
  }
  std::error_code ignored;
  fs::rename(path + ".new", path, ignored);
}

std::int64_t data_epoch(const std::string& data_dir, std::uint32_t p) {
  std::ifstream f(epoch_file(data_dir, p));
  std::int64_t e = 0;
  if (f >> e)
    return e;
  return 0;
}

etcd_worker_actor spawn_etcd_worker(caf::actor_system& sys,
                                    std::shared_ptr<cluster_control> control) {
  return sys.spawn<caf::detached>(etcd_worker, std::move(control));
}

leader_actor spawn_leader(caf::actor_system& sys, leader_setup setup) {
  return sys.spawn(leader_behavior, std::move(setup));
}

follower_actor spawn_follower(caf::actor_system& sys, follower_setup setup) {
  return sys.spawn(follower_behavior, std::move(setup));
}

} // namespace hookd
