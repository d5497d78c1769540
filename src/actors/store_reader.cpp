// Store readers: point reads and scans for the actors that serve the API,
// on threads of their own (detached actors behind a round-robin pool), so a
// slow disk stalls no shared worker and one long scan does not hold up
// other reads.
#include <caf/actor_pool.hpp>
#include <caf/actor_system.hpp>
#include <caf/scoped_execution_unit.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "hookd/components.hpp"

namespace hookd {

namespace {

struct reader_state {
  static inline const char* name = "hookd.store-reader";
  store_ptr db;
};

using self_ptr = store_reader_actor::stateful_pointer<reader_state>;

} // namespace

caf::expected<read_results> read_now(store& db, const read_request& req) {
  read_results out;
  out.items.reserve(req.keys.size());
  for (const auto& key : req.keys) {
    auto value = db.get(key);
    if (!value)
      return std::move(value.error());
    read_result r;
    r.found = value->has_value();
    if (r.found)
      r.value = std::move(**value);
    out.items.push_back(std::move(r));
  }
  return out;
}

caf::expected<scan_result> scan_now(store& db, const scan_request& req) {
  scan_result out;
  std::size_t seen = 0;
  auto skip = req.prefix.size();
  auto err = db.scan(
      req.prefix, req.start, req.reverse,
      [&](std::string_view key, std::string_view value) {
        ++seen;
        auto wanted = true;
        if (req.shards > 0) {
          auto rest = key.substr(skip);
          wanted = shard_of_key(rest.substr(0, rest.rfind('/')), req.shards)
                   == req.shard;
        }
        if (wanted)
          out.items.emplace_back(std::string{key}, req.keys_only
                                                       ? std::string{}
                                                       : std::string{value});
        if (req.limit > 0 && seen >= req.limit) {
          out.truncated = true;
          out.last_seen = std::string{key};
          return false;
        }
        return true;
      });
  if (err)
    return err;
  return out;
}

namespace {

store_reader_actor::behavior_type reader_behavior(self_ptr self, store_ptr db) {
  self->state.db = std::move(db);
  return {
      [=](atom::get, read_request& req) -> caf::result<read_results> {
        auto out = read_now(*self->state.db, req);
        if (!out)
          return std::move(out.error());
        return std::move(*out);
      },
      [=](atom::scan, scan_request& req) -> caf::result<scan_result> {
        auto out = scan_now(*self->state.db, req);
        if (!out)
          return std::move(out.error());
        return std::move(*out);
      },
      [=](atom::status) {
        component_status s{"store-readers", self->state.db->healthy(), {}};
        if (!s.ready)
          s.detail = "the store does not answer reads";
        return s;
      },
  };
}

} // namespace

store_reader_actor spawn_store_readers(caf::actor_system& sys, store_ptr db,
                                       std::size_t threads) {
  caf::scoped_execution_unit context{&sys};
  auto factory = [&sys, db] {
    return caf::actor_cast<caf::actor>(
        sys.spawn<caf::detached>(reader_behavior, db));
  };
  auto pool = caf::actor_pool::make(&context, threads, factory,
                                    caf::actor_pool::round_robin());
  return caf::actor_cast<store_reader_actor>(pool);
}

} // namespace hookd
