// The store writer: every write to RocksDB goes through this one actor, on
// a thread of its own (a detached actor), so a slow disk or an fsync never
// holds one of CAF's shared workers. Writes that arrive while a commit is
// under way are committed together in the next one: one WAL record and, with
// HOOKD_SYNC=1, one fsync for the whole group (group commit).
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "hookd/components.hpp"
#include "hookd/fence.hpp"

namespace hookd {

namespace {

struct writer_state {
  static inline const char* name = "hookd.store-writer";
  store_ptr db;
  leader_actor leader;
  std::vector<write_batch> group;
  std::vector<caf::typed_response_promise<std::uint64_t>> waiting;
  bool flush_queued = false;
};

using self_ptr = store_writer_actor::stateful_pointer<writer_state>;

/// Commits the group gathered so far and answers everyone in it.
void commit(self_ptr self) {
  auto& st = self->state;
  st.flush_queued = false;
  if (st.group.empty())
    return;
  // A cluster member without a live lease writes nothing: another member
  // may own these partitions by now.
  auto err = fence::is_open()
                 ? st.db->commit(st.group)
                 : make_error(ec::unavailable,
                              "this node lost its cluster lease (fenced); "
                              "nothing was written");
  auto seq = err ? 0 : st.db->sequence();
  st.group.clear();
  if (!err && st.leader) {
    // Acknowledged once on a follower too: the leader answers when the
    // followers in sync have applied this group. The writer goes on with
    // the next groups meanwhile.
    auto waiting = std::move(st.waiting);
    st.waiting.clear();
    // The leader answers every wait itself: once replicated, or with an
    // error when it stops.
    self->request(st.leader, caf::infinite, atom::wait::value, seq)
        .then(
            [waiting](std::uint64_t s) mutable {
              for (auto& rp : waiting)
                rp.deliver(s);
            },
            [waiting](caf::error& e) mutable {
              for (auto& rp : waiting)
                rp.deliver(e);
            });
    return;
  }
  for (auto& rp : st.waiting) {
    if (err)
      rp.deliver(err);
    else
      rp.deliver(seq);
  }
  st.waiting.clear();
}

store_writer_actor::behavior_type writer_behavior(self_ptr self, store_ptr db,
                                                  leader_actor leader) {
  self->state.db = std::move(db);
  self->state.leader = std::move(leader);
  self->set_exit_handler([=](caf::exit_msg& msg) {
    // What has arrived is written before the writer goes.
    commit(self);
    self->quit(msg.reason);
  });
  return {
      [=](atom::write, write_batch& b) {
        auto& st = self->state;
        auto rp = self->make_response_promise<std::uint64_t>();
        // An empty batch is a barrier: it is answered once everything sent
        // before it is on disk.
        if (b.empty() && st.group.empty()) {
          rp.deliver(st.db->sequence());
          return rp;
        }
        st.group.push_back(std::move(b));
        st.waiting.push_back(rp);
        // The flush message queues behind every write already in the
        // mailbox: they all join this group.
        if (!st.flush_queued) {
          st.flush_queued = true;
          self->send(self, atom::flush::value);
        }
        return rp;
      },
      [=](atom::flush) { commit(self); },
      [=](atom::status) {
        component_status s{"store", self->state.db->healthy(), {}};
        if (!s.ready)
          s.detail = "the store does not answer reads";
        return s;
      },
  };
}

} // namespace

store_writer_actor spawn_store_writer(caf::actor_system& sys, store_ptr db,
                                      leader_actor leader) {
  return sys.spawn<caf::detached>(writer_behavior, std::move(db),
                                  std::move(leader));
}

} // namespace hookd
