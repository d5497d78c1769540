#include "hookd/read_board.hpp"

#include "hookd/defaults.hpp"

namespace hookd {

std::optional<std::string> answer_cache::find(const std::string& key) const {
  std::lock_guard<std::mutex> guard{mutex_};
  if (auto it = entries_.find(key); it != entries_.end())
    return it->second;
  return std::nullopt;
}

std::uint64_t answer_cache::changes() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return changes_;
}

std::size_t answer_cache::bytes() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return bytes_;
}

void answer_cache::drop(
    std::unordered_map<std::string, std::string>::iterator it) {
  bytes_ -= it->first.size() + it->second.size();
  entries_.erase(it);
}

void answer_cache::remember(const std::string& key, const std::string& body,
                            std::uint64_t changes_seen) {
  auto cost = key.size() + body.size();
  if (cost > budget_)
    return;
  std::lock_guard<std::mutex> guard{mutex_};
  if (changes_ != changes_seen)
    return;
  if (auto it = entries_.find(key); it != entries_.end())
    drop(it);
  while (bytes_ + cost > budget_ && !order_.empty()) {
    auto oldest = std::move(order_.front());
    order_.pop_front();
    if (auto it = entries_.find(oldest); it != entries_.end())
      drop(it);
  }
  entries_.emplace(key, body);
  order_.push_back(key);
  bytes_ += cost;
  // Keys forgotten since stay in the order until their turn: not past
  // twice the live ones.
  if (order_.size() > 2 * entries_.size() + 64) {
    std::deque<std::string> live;
    for (auto& k : order_)
      if (entries_.count(k) > 0)
        live.push_back(std::move(k));
    order_ = std::move(live);
  }
}

void answer_cache::forget(const std::string& key) {
  std::lock_guard<std::mutex> guard{mutex_};
  ++changes_;
  if (auto it = entries_.find(key); it != entries_.end())
    drop(it);
}

partition_reads::partition_reads()
    : partition_reads(defaults::registry_shards,
                      defaults::rendered_cache_bytes) {}

partition_reads::partition_reads(std::size_t shards,
                                 std::size_t budget_per_shard) {
  answers_.reserve(shards);
  for (std::size_t i = 0; i < shards; ++i)
    answers_.push_back(std::make_shared<answer_cache>(budget_per_shard));
}

std::uint64_t partition_reads::claim_tokens() {
  std::lock_guard<std::mutex> guard{claim_mutex_};
  std::atomic_store(&tokens_, std::shared_ptr<const token_table>{});
  return ++claim_;
}

void partition_reads::publish_tokens(
    std::uint64_t claim, std::shared_ptr<const token_table> tokens) {
  std::lock_guard<std::mutex> guard{claim_mutex_};
  if (claim == claim_)
    std::atomic_store(&tokens_, std::move(tokens));
}

std::uint64_t partition_reads::claim_ingest() {
  std::lock_guard<std::mutex> guard{claim_mutex_};
  std::atomic_store(&ingest_, std::shared_ptr<const ingest_door>{});
  return ++ingest_claim_;
}

void partition_reads::publish_ingest(std::uint64_t claim,
                                     std::shared_ptr<const ingest_door> door) {
  std::lock_guard<std::mutex> guard{claim_mutex_};
  if (claim == ingest_claim_)
    std::atomic_store(&ingest_, std::move(door));
}

} // namespace hookd
