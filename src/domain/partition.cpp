#include "hookd/partition.hpp"

#include <algorithm>
#include <functional>

#include "hookd/crypto.hpp"
#include "hookd/defaults.hpp"

namespace hookd {

namespace {

constexpr std::size_t hash_digits = 16;

} // namespace

std::uint64_t fnv1a64(std::string_view text) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string org_token_id(std::string_view org) {
  static constexpr char hex[] = "0123456789abcdef";
  auto h = fnv1a64(org);
  std::string out(hash_digits, '0');
  for (std::size_t i = hash_digits; i-- > 0; h >>= 4)
    out[i] = hex[h & 0xf];
  return out + crypto::random_hex(defaults::token_id_bytes);
}

std::optional<std::uint64_t> org_hash_of_token_id(std::string_view id) {
  // Ids made before they carried the hash are token_id_bytes of hex only.
  if (id.size() != hash_digits + 2 * defaults::token_id_bytes)
    return std::nullopt;
  std::uint64_t h = 0;
  for (std::size_t i = 0; i < hash_digits; ++i) {
    char c = id[i];
    int v = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                   : -1;
    if (v < 0)
      return std::nullopt;
    h = (h << 4) | static_cast<std::uint64_t>(v);
  }
  return h;
}

std::vector<std::string> place_partitions(std::vector<std::string> members,
                                          std::uint32_t partitions) {
  std::vector<std::string> out(partitions);
  if (members.empty())
    return out;
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  auto n = members.size();
  // Every (partition, member) pair by its rendezvous score, best first:
  // each partition goes to the best-scoring member that still has room, so
  // that the caps disturb as few partitions as possible.
  struct pair_score {
    std::uint64_t score;
    std::uint32_t partition;
    std::uint32_t member;
  };
  std::vector<pair_score> pairs;
  pairs.reserve(partitions * n);
  for (std::uint32_t p = 0; p < partitions; ++p)
    for (std::uint32_t i = 0; i < n; ++i)
      pairs.push_back({fnv1a64(members[i] + '/' + std::to_string(p)), p, i});
  std::sort(pairs.begin(), pairs.end(),
            [](const pair_score& a, const pair_score& b) {
              return a.score != b.score ? a.score > b.score
                                        : a.partition < b.partition;
            });
  auto floor = partitions / n;
  // Members that may take one more than ⌊P/N⌋: P mod N of them.
  auto extra = partitions % n;
  std::vector<std::size_t> load(n, 0);
  for (const auto& ps : pairs) {
    if (!out[ps.partition].empty())
      continue;
    auto& l = load[ps.member];
    if (l < floor) {
      ++l;
    } else if (l == floor && extra > 0) {
      ++l;
      --extra;
    } else {
      continue;
    }
    out[ps.partition] = members[ps.member];
  }
  return out;
}

std::vector<std::vector<std::string>>
place_replicas(std::vector<std::string> members, std::uint32_t partitions,
               std::uint32_t replicas) {
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  std::vector<std::vector<std::string>> out(partitions);
  if (members.empty())
    return out;
  auto owners = place_partitions(members, partitions);
  for (std::uint32_t p = 0; p < partitions; ++p)
    out[p].push_back(owners[p]);
  auto n = static_cast<std::uint32_t>(members.size());
  auto copies = std::min(std::max<std::uint32_t>(replicas, 1), n);
  // Each further copy the same way: partitions go to members by their
  // rendezvous scores, best pairs first, each member taking ⌊P/N⌋ or
  // ⌈P/N⌉ copies of the round and never two copies of one partition; what
  // the caps leave over goes to the least loaded member that may take it.
  for (std::uint32_t round = 1; round < copies; ++round) {
    struct pair_score {
      std::uint64_t score;
      std::uint32_t partition;
      std::uint32_t member;
    };
    std::vector<pair_score> pairs;
    pairs.reserve(static_cast<std::size_t>(partitions) * n);
    for (std::uint32_t p = 0; p < partitions; ++p)
      for (std::uint32_t i = 0; i < n; ++i)
        pairs.push_back({fnv1a64(members[i] + '/' + std::to_string(p) + '/'
                                 + std::to_string(round)),
                         p, i});
    std::sort(pairs.begin(), pairs.end(),
              [](const pair_score& a, const pair_score& b) {
                return a.score != b.score ? a.score > b.score
                                          : a.partition < b.partition;
              });
    auto holds = [&](std::uint32_t p, std::uint32_t i) {
      return std::find(out[p].begin(), out[p].end(), members[i])
             != out[p].end();
    };
    std::vector<bool> done(partitions, false);
    std::vector<std::uint32_t> load(n, 0);
    auto floor = partitions / n;
    auto extra = partitions % n;
    for (const auto& ps : pairs) {
      if (done[ps.partition] || holds(ps.partition, ps.member))
        continue;
      auto& l = load[ps.member];
      if (l < floor) {
        ++l;
      } else if (l == floor && extra > 0) {
        ++l;
        --extra;
      } else {
        continue;
      }
      out[ps.partition].push_back(members[ps.member]);
      done[ps.partition] = true;
    }
    for (std::uint32_t p = 0; p < partitions; ++p) {
      if (done[p])
        continue;
      std::uint32_t pick = n;
      for (std::uint32_t i = 0; i < n; ++i)
        if (!holds(p, i) && (pick == n || load[i] < load[pick]))
          pick = i;
      ++load[pick];
      out[p].push_back(members[pick]);
    }
  }
  return out;
}

} // namespace hookd
