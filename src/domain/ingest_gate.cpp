#include "hookd/ingest_gate.hpp"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "hookd/error.hpp"
#include "hookd/keys.hpp"
#include "hookd/partition.hpp"

namespace hookd {

ingest_gate::ingest_gate(std::size_t shard_count, const ingest_limits& limits)
    : max_pending_(limits.max_pending),
      // Unset (0): an organization is bounded by the node's limit only.
      max_pending_per_org_(limits.max_pending_per_org > 0
                               ? limits.max_pending_per_org
                               : limits.max_pending),
      load_(limits.load), shard_pending_(shard_count),
      shard_org_pending_(shard_count), shard_scope_hooks_(shard_count) {}

ingest_gate::~ingest_gate() {
  if (load_)
    load_->backlog.fetch_sub(published_backlog_);
}

std::int64_t ingest_gate::pending_locked() const {
  return std::accumulate(shard_pending_.begin(), shard_pending_.end(),
                         std::int64_t{0});
}

std::int64_t ingest_gate::org_pending_locked(const std::string& org) const {
  std::int64_t total = 0;
  for (const auto& counts : shard_org_pending_)
    if (auto it = counts.find(org); it != counts.end())
      total += it->second;
  if (auto it = org_fanning_.find(org); it != org_fanning_.end())
    total += it->second;
  return total;
}

std::int64_t ingest_gate::deliveries_of_locked(const event& ev) const {
  std::int64_t total = 0;
  for (const auto& where : ev.target_scopes()) {
    const auto& counts
        = shard_scope_hooks_[shard_of(where, shard_scope_hooks_.size())];
    if (auto it = counts.find(where.key()); it != counts.end())
      total += it->second;
  }
  return total;
}

void ingest_gate::sync_locked() {
  if (!load_)
    return;
  auto now = pending_locked() + fanning_;
  load_->backlog.fetch_add(now - published_backlog_);
  published_backlog_ = now;
}

std::int64_t ingest_gate::backlog_locked() {
  sync_locked();
  return load_ ? load_->backlog.load() : pending_locked() + fanning_;
}

void ingest_gate::add_fanning_locked(const std::string& org, std::int64_t n) {
  if (n == 0)
    return;
  fanning_ += n;
  auto& count = org_fanning_[org];
  count += n;
  if (count == 0)
    org_fanning_.erase(org);
  sync_locked();
}

caf::error ingest_gate::admit_locked(const std::string& org,
                                     std::int64_t added) {
  if (added > std::min(max_pending_, max_pending_per_org_))
    return make_error(
        ec::payload_too_large,
        "these events would add up to " + std::to_string(added)
            + " deliveries, more than may be pending at once ("
            + std::to_string(std::min(max_pending_, max_pending_per_org_))
            + "); send fewer events at a time");
  return crowded_locked(org, added);
}

caf::error ingest_gate::crowded_locked(const std::string& org,
                                       std::int64_t added) {
  auto backlog = backlog_locked();
  if (backlog + added > max_pending_)
    return make_error(ec::too_many_requests,
                      "hookd has " + std::to_string(backlog)
                          + " deliveries pending (limit "
                          + std::to_string(max_pending_) + "); retry later");
  // One organization whose receivers are down cannot take the whole
  // node's room.
  if (auto own = org_pending_locked(org); own + added > max_pending_per_org_)
    return make_error(ec::too_many_requests,
                      "organization '" + org + "' has " + std::to_string(own)
                          + " deliveries pending (limit "
                          + std::to_string(max_pending_per_org_)
                          + " an organization); retry later");
  return {};
}

caf::error ingest_gate::check_room(const std::string& org) {
  std::lock_guard<std::mutex> guard{mutex_};
  // Full already: not even one more delivery fits.
  return crowded_locked(org, 1);
}

caf::error ingest_gate::admit(const std::string& org,
                              const std::vector<event>& events,
                              std::int64_t& reserved) {
  std::lock_guard<std::mutex> guard{mutex_};
  std::int64_t added = 0;
  for (const auto& ev : events)
    added += deliveries_of_locked(ev);
  if (auto err = admit_locked(org, added))
    return err;
  add_fanning_locked(org, added);
  reserved = added;
  return {};
}

caf::error ingest_gate::admit_count(const std::string& org,
                                    std::int64_t added) {
  std::lock_guard<std::mutex> guard{mutex_};
  return admit_locked(org, added);
}

std::int64_t ingest_gate::deliveries_of(const event& ev) {
  std::lock_guard<std::mutex> guard{mutex_};
  return deliveries_of_locked(ev);
}

void ingest_gate::add_fanning(const std::string& org, std::int64_t n) {
  std::lock_guard<std::mutex> guard{mutex_};
  add_fanning_locked(org, n);
}

std::int64_t ingest_gate::pending() {
  std::lock_guard<std::mutex> guard{mutex_};
  return pending_locked();
}

void ingest_gate::reset_shard(std::size_t n) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (n >= shard_pending_.size())
    return;
  shard_pending_[n] = 0;
  shard_org_pending_[n].clear();
  shard_scope_hooks_[n].clear();
  sync_locked();
}

void ingest_gate::report(std::size_t n, std::int64_t total,
                         const shard_report& report) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (n >= shard_pending_.size())
    return;
  shard_pending_[n] = total;
  auto update = [](auto& counts, const auto& changes) {
    for (const auto& [name, count] : changes)
      if (count == 0)
        counts.erase(name);
      else
        counts[name] = count;
  };
  update(shard_org_pending_[n], report.org_pending);
  update(shard_scope_hooks_[n], report.scope_hooks);
  sync_locked();
}

std::optional<std::string> ingest_gate::known_org(const std::string& id) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (auto it = committing_.find(id); it != committing_.end())
    return it->second;
  if (auto it = recent_.find(id); it != recent_.end())
    return it->second;
  return std::nullopt;
}

void ingest_gate::claim(const std::vector<const event*>& events,
                        std::vector<std::optional<std::string>>& taken) {
  std::lock_guard<std::mutex> guard{mutex_};
  taken.assign(events.size(), std::nullopt);
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& ev = *events[i];
    if (auto it = committing_.find(ev.id); it != committing_.end()) {
      taken[i] = it->second;
      continue;
    }
    if (auto it = recent_.find(ev.id); it != recent_.end()) {
      taken[i] = it->second;
      continue;
    }
    committing_.emplace(ev.id, ev.org);
  }
}

void ingest_gate::release(const std::vector<const event*>& events,
                          bool written) {
  std::lock_guard<std::mutex> guard{mutex_};
  for (const auto* ev : events) {
    committing_.erase(ev->id);
    if (written && lookups_ > 0)
      recent_.emplace(ev->id, ev->org);
  }
}

void ingest_gate::begin_lookups() {
  std::lock_guard<std::mutex> guard{mutex_};
  ++lookups_;
}

void ingest_gate::end_lookups() {
  std::lock_guard<std::mutex> guard{mutex_};
  if (lookups_ > 0 && --lookups_ == 0)
    recent_.clear();
}

std::string ingest_gate::stamp() {
  auto now = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  std::uint64_t value;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    last_stamp_ = std::max(now, last_stamp_ + 1);
    value = last_stamp_;
  }
  auto text = std::to_string(value);
  return std::string(20 - std::min<std::size_t>(20, text.size()), '0') + text;
}

caf::error claim_new_events(ingest_gate& gate, parsed_events& parsed,
                            const earlier_events& earlier,
                            std::vector<event_ptr>& fresh,
                            std::string& answer) {
  auto& events = parsed.events;
  auto ids = nlohmann::json::array();
  std::unordered_set<std::string> seen;
  // Per event: its first occurrence's owner, when it is stored already.
  std::vector<std::optional<std::string>> owners(events.size());
  std::vector<std::size_t> firsts;
  std::vector<const event*> candidates;
  std::vector<std::size_t> candidate_at;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& ev = events[i];
    ids.push_back(ev.id);
    if (!seen.insert(ev.id).second)
      continue;
    firsts.push_back(i);
    if (ev.maybe_seen)
      if (auto it = earlier.find(ev.id); it != earlier.end()) {
        event before;
        owners[i]
            = event_from_storage(it->second, before) ? before.org : ev.org;
        continue;
      }
    candidates.push_back(&ev);
    candidate_at.push_back(i);
  }
  std::vector<std::optional<std::string>> taken;
  gate.claim(candidates, taken);
  std::vector<const event*> claimed;
  for (std::size_t k = 0; k < candidates.size(); ++k)
    if (taken[k])
      owners[candidate_at[k]] = std::move(taken[k]);
    else
      claimed.push_back(candidates[k]);
  for (auto i : firsts)
    if (owners[i] && *owners[i] != events[i].org) {
      gate.release(claimed, false);
      return make_error(
          ec::conflict,
          (parsed.batch ? "event " + std::to_string(i) + ": " : std::string{})
              + "id '" + events[i].id
              + "' is taken by another organization's event");
    }
  answer = parsed.batch ? nlohmann::json{{"ids", ids}}.dump()
                        : nlohmann::json{{"id", ids[0]}}.dump();
  for (auto i : firsts)
    if (!owners[i])
      fresh.push_back(std::make_shared<const event>(std::move(events[i])));
  return {};
}

caf::error not_accepted(const caf::error& store_error) {
  return make_error(ec::unavailable,
                    "the store failed (" + message_of(store_error)
                        + "); nothing was accepted; retry later");
}

void release_events(ingest_gate& gate, const std::vector<event_ptr>& fresh,
                    bool written) {
  std::vector<const event*> ptrs;
  ptrs.reserve(fresh.size());
  for (const auto& ev : fresh)
    ptrs.push_back(ev.get());
  gate.release(ptrs, written);
}

void put_event(write_batch& b, const event& ev, const std::string& stamp) {
  b.puts.emplace_back(keys::event(ev.id), event_storage_json(ev));
  b.puts.emplace_back(keys::fanout_marker(ev.id), stamp);
  b.puts.emplace_back(keys::event_time(ev.created_at, ev.id), "");
}

} // namespace hookd
