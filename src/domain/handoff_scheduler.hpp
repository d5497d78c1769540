#pragma once

// hookd's CAF scheduling policy: CAF's work sharing (one queue for all
// workers, idle workers asleep on a condition variable, so an idle node
// answers at once), with one change. An actor that a worker's current actor
// wakes by sending it a message is kept for that worker to run next, instead
// of going to the shared queue and waking another worker for it.
//
// A request crosses several actors in a row (the HTTP bridge, a partition's
// access and ingest actors, a registry shard, a webhook actor); under CAF's
// own work sharing every one of those steps woke a sleeping worker and put
// the one that sent it back to sleep: thread switches, which cost most of a
// request's time on a virtual machine's two cores (BENCHMARKS.md). Here a
// chain of steps runs on the worker it started on. Other workers still get
// everything that arrives from outside the workers (I/O threads, detached
// actors such as the store writer, timers) and what a worker wakes past the
// few it keeps: a fan-out to many webhook actors still spreads over all
// workers.
//
// A kept actor waits at most for the actors kept before it, and for the
// current one to finish its mailbox. After a run of kept actors a worker
// takes from the shared queue first, so actors that keep waking each other
// cannot starve it.
//
// Actors on CAF's workers must not block waiting for another actor (none of
// hookd's does): an actor kept behind the blocked one would never run.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>

#include <caf/policy/unprofiled.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

namespace hookd {

class handoff_sharing : public caf::policy::unprofiled {
public:
  /// Actors a worker keeps for itself at most; more go to the others.
  static constexpr std::size_t max_kept = 4;
  /// Kept actors a worker runs in a row before it looks at the shared queue.
  static constexpr unsigned max_kept_in_a_row = 16;

  struct coordinator_data {
    explicit coordinator_data(caf::scheduler::abstract_coordinator*) {}
    std::deque<caf::resumable*> queue;
    std::mutex lock;
    std::condition_variable cv;
    /// Workers waiting on `cv`: one is woken only when there is one.
    std::size_t sleeping = 0;
  };

  struct worker_data {
    explicit worker_data(caf::scheduler::abstract_coordinator*) {}
    /// Actors this worker runs next, oldest first.
    std::deque<caf::resumable*> kept;
    unsigned kept_in_a_row = 0;
  };

  template <class Coordinator>
  void central_enqueue(Coordinator* self, caf::resumable* job) {
    share(d(self), job);
  }

  template <class Worker>
  void external_enqueue(Worker* self, caf::resumable* job) {
    share(d(self->parent()), job);
  }

  /// `job` was woken by the actor `self` runs now.
  template <class Worker>
  void internal_enqueue(Worker* self, caf::resumable* job) {
    auto& own = d(self);
    if (own.kept.size() >= max_kept)
      return share(d(self->parent()), job);
    own.kept.push_back(job);
  }

  template <class Worker>
  void resume_job_later(Worker* self, caf::resumable* job) {
    share(d(self->parent()), job);
  }

  template <class Worker> caf::resumable* dequeue(Worker* self) {
    auto& own = d(self);
    if (!own.kept.empty() && own.kept_in_a_row < max_kept_in_a_row) {
      ++own.kept_in_a_row;
      return take_kept(own);
    }
    own.kept_in_a_row = 0;
    auto& shared = d(self->parent());
    std::unique_lock<std::mutex> guard{shared.lock};
    // A run of kept actors ends: a shared job, if any, goes first.
    if (!own.kept.empty() && shared.queue.empty())
      return take_kept(own);
    while (shared.queue.empty()) {
      ++shared.sleeping;
      shared.cv.wait(guard);
      --shared.sleeping;
    }
    auto* job = shared.queue.front();
    shared.queue.pop_front();
    auto more = !shared.queue.empty() && shared.sleeping > 0;
    guard.unlock();
    if (more)
      shared.cv.notify_one();
    return job;
  }

  /// A worker that stops leaves its kept actors to the others.
  template <class Worker> void before_shutdown(Worker* self) {
    auto& own = d(self);
    while (!own.kept.empty())
      share(d(self->parent()), take_kept(own));
  }

  template <class Worker, class UnaryFunction>
  void foreach_resumable(Worker* self, UnaryFunction f) {
    auto& own = d(self);
    while (!own.kept.empty())
      f(take_kept(own));
  }

  template <class Coordinator, class UnaryFunction>
  void foreach_central_resumable(Coordinator* self, UnaryFunction f) {
    auto& shared = d(self);
    std::unique_lock<std::mutex> guard{shared.lock};
    while (!shared.queue.empty()) {
      auto* job = shared.queue.front();
      shared.queue.pop_front();
      f(job);
    }
  }

private:
  static caf::resumable* take_kept(worker_data& own) {
    auto* job = own.kept.front();
    own.kept.pop_front();
    return job;
  }

  /// Queues `job` for any worker, waking one if one sleeps.
  static void share(coordinator_data& shared, caf::resumable* job) {
    bool wake = false;
    {
      std::lock_guard<std::mutex> guard{shared.lock};
      shared.queue.push_back(job);
      wake = shared.sleeping > 0;
    }
    if (wake)
      shared.cv.notify_one();
  }
};

} // namespace hookd
