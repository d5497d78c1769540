#include "hookd/direct_routes.hpp"

#include <utility>

#include "hookd/crypto.hpp"
#include "hookd/defaults.hpp"
#include "hookd/fence.hpp"
#include "hookd/ingest_gate.hpp"
#include "hookd/keys.hpp"
#include "hookd/metrics.hpp"
#include "hookd/partition.hpp"

namespace hookd {

std::optional<std::uint32_t> direct_partition(const direct_routes& routes,
                                              const api_call& call) {
  // The router's own decisions (route()): these always go through it.
  if (call.op == operation::cluster_info || call.op == operation::cluster_leave
      || call.op == operation::whoami || call.where.org.empty()
      || routes.entries.empty())
    return std::nullopt;
  auto p = partition_of(call.where.org,
                        static_cast<std::uint32_t>(routes.entries.size()));
  if (!routes.entries[p])
    return std::nullopt;
  bool admin
      = !call.who.digest.empty()
        && crypto::equal_constant_time(call.who.digest, routes.admin_hash);
  // Another organization's token: the router asks its partition whether it
  // is a token at all (403 or 401).
  if (!admin && token_of_another_org(call.who.token_id, call.where.org))
    return std::nullopt;
  return p;
}

namespace {

/// Whether `who` may read `org`'s webhooks by what `reads` holds: the
/// same test as the access actor's, on its published table. A token the
/// table does not hold is not refused here, only not taken.
bool may_read(const direct_routes& routes, const partition_reads& reads,
              const credential& who, const std::string& org) {
  if (who.digest.empty())
    return false;
  if (!who.token_id.empty())
    if (auto table = reads.tokens()) {
      auto it = table->by_id.find(who.token_id);
      if (it != table->by_id.end()
          && crypto::equal_constant_time(who.digest, it->second.digest))
        return it->second.org == org;
    }
  return crypto::equal_constant_time(who.digest, routes.admin_hash);
}

} // namespace

std::optional<std::string> kept_answer(const direct_routes& routes,
                                       const api_call& call) {
  if (call.op != operation::read_hook)
    return std::nullopt;
  auto p = direct_partition(routes, call);
  if (!p || *p >= routes.reads.size() || !routes.reads[*p])
    return std::nullopt;
  const auto& reads = *routes.reads[*p];
  if (!may_read(routes, reads, call.who, call.where.org))
    return std::nullopt;
  auto scope_key = call.where.key();
  auto shard = shard_of_key(scope_key, reads.shards());
  return reads.answers(shard)->find(scope_key + '/' + call.hook);
}

std::optional<caf::expected<direct_ingest>>
prepare_ingest(const direct_routes& routes, const api_call& call) {
  using answer = caf::expected<direct_ingest>;
  if (call.op != operation::ingest_events)
    return std::nullopt;
  auto p = direct_partition(routes, call);
  if (!p || *p >= routes.reads.size() || !routes.reads[*p])
    return std::nullopt;
  const auto& reads = *routes.reads[*p];
  auto door = reads.ingest();
  // The same rule as the store writer's: a cluster member without a live
  // lease writes nothing.
  if (!door || !fence::is_open()
      || !may_read(routes, reads, call.who, call.where.org))
    return std::nullopt;
  auto& gate = *door->gate;
  const auto& org = call.where.org;
  if (auto err = gate.check_room(org))
    return answer{std::move(err)};
  auto parsed = parse_events(call.body, org, defaults::max_event_batch);
  if (!parsed)
    return answer{std::move(parsed.error())};
  // Ids the client chose may name events stored before: read from memory
  // (memtables, block cache, bloom filters). A read that needs the disk
  // would hold this I/O thread's other connections: such a request goes
  // to the actors, which read on the store readers. Events written while
  // these reads are under way are remembered by the gate, so the claim
  // below sees them.
  earlier_events earlier;
  bool looking = false;
  auto stop_looking = [&] {
    if (std::exchange(looking, false))
      gate.end_lookups();
  };
  for (const auto& ev : parsed->events) {
    if (!ev.maybe_seen || gate.known_org(ev.id))
      continue;
    if (!looking) {
      gate.begin_lookups();
      looking = true;
    }
    auto found = door->db->get_cached(keys::event(ev.id));
    if (!found) {
      stop_looking();
      return std::nullopt;
    }
    if (!*found) {
      stop_looking();
      return answer{not_accepted(found->error())};
    }
    if (**found)
      earlier.emplace(ev.id, std::move(***found));
  }
  // What the whole request adds must fit, counted until its fan-out
  // counts it.
  std::int64_t reserved = 0;
  if (auto err = gate.admit(org, parsed->events, reserved)) {
    stop_looking();
    return answer{std::move(err)};
  }
  direct_ingest out;
  auto refused
      = claim_new_events(gate, *parsed, earlier, out.fresh.events, out.answer);
  stop_looking();
  if (refused || out.fresh.events.empty()) {
    gate.add_fanning(org, -reserved);
    if (refused)
      return answer{std::move(refused)};
    return answer{std::move(out)};
  }
  for (const auto& ev : out.fresh.events)
    put_event(out.writes, *ev, gate.stamp());
  out.door = std::move(door);
  out.org = org;
  out.reserved = reserved;
  return answer{std::move(out)};
}

void settle_ingests(const ingest_door& door, const ingest_turn& turn,
                    const caf::error& err) {
  std::size_t written = 0;
  for (std::size_t i = 0; i < turn.requests.size(); ++i) {
    const auto& events = turn.requests[i].events;
    release_events(*door.gate, events, !err);
    written += events.size();
    if (err && !events.empty() && i < turn.reserved.size())
      door.gate->add_fanning(events.front()->org, -turn.reserved[i]);
  }
  if (!err)
    metrics::events_ingested(written);
}

std::vector<caf::error> commit_ingests(std::vector<direct_ingest>& all) {
  std::vector<caf::error> errors(all.size());
  std::vector<bool> done(all.size(), false);
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (done[i] || !all[i].door || !all[i].door->write_here)
      continue;
    // Every ingestion of this partition, in one write.
    auto door = all[i].door;
    std::vector<std::size_t> members;
    std::vector<write_batch> group;
    ingest_turn turn;
    for (std::size_t j = i; j < all.size(); ++j)
      if (!done[j] && all[j].door == door) {
        done[j] = true;
        members.push_back(j);
        group.push_back(std::move(all[j].writes));
        turn.requests.push_back(all[j].fresh);
        turn.reserved.push_back(all[j].reserved);
      }
    auto err = door->db->commit(group);
    settle_ingests(*door, turn, err);
    if (err)
      for (auto j : members)
        errors[j] = not_accepted(err);
  }
  return errors;
}

} // namespace hookd
