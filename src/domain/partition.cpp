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

namespace {

/// One copy of every partition among `members` (sorted, distinct): every
/// (partition, member) pair by its rendezvous score, FNV-1a of
/// "<member>/<partition><salt>", best first; each partition goes to the
/// best-scoring member that `may_take` it and still has room (⌊P/N⌋, or
/// ⌈P/N⌉ for P mod N of them), so that the caps disturb as few partitions
/// as possible; what the caps leave over goes to the least loaded member
/// that may take it. By partition, the member's index (n: none may).
template <class MayTake>
std::vector<std::uint32_t>
place_one_copy(const std::vector<std::string>& members,
               std::uint32_t partitions, const std::string& salt,
               MayTake may_take) {
  auto n = static_cast<std::uint32_t>(members.size());
  struct pair_score {
    std::uint64_t score;
    std::uint32_t partition;
    std::uint32_t member;
  };
  std::vector<pair_score> pairs;
  pairs.reserve(static_cast<std::size_t>(partitions) * n);
  for (std::uint32_t p = 0; p < partitions; ++p)
    for (std::uint32_t i = 0; i < n; ++i)
      pairs.push_back(
          {fnv1a64(members[i] + '/' + std::to_string(p) + salt), p, i});
  std::sort(pairs.begin(), pairs.end(),
            [](const pair_score& a, const pair_score& b) {
              return a.score != b.score ? a.score > b.score
                                        : a.partition < b.partition;
            });
  std::vector<std::uint32_t> out(partitions, n);
  std::vector<std::uint32_t> load(n, 0);
  auto floor = partitions / n;
  auto extra = partitions % n;
  for (const auto& ps : pairs) {
    if (out[ps.partition] != n || !may_take(ps.partition, ps.member))
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
    out[ps.partition] = ps.member;
  }
  for (std::uint32_t p = 0; p < partitions; ++p) {
    if (out[p] != n)
      continue;
    for (std::uint32_t i = 0; i < n; ++i)
      if (may_take(p, i) && (out[p] == n || load[i] < load[out[p]]))
        out[p] = i;
    if (out[p] != n)
      ++load[out[p]];
  }
  return out;
}

std::vector<std::string> sorted_distinct(std::vector<std::string> members) {
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  return members;
}

} // namespace

std::vector<std::string> place_partitions(std::vector<std::string> members,
                                          std::uint32_t partitions) {
  std::vector<std::string> out(partitions);
  members = sorted_distinct(std::move(members));
  if (members.empty())
    return out;
  auto picked
      = place_one_copy(members, partitions, "",
                       [](std::uint32_t, std::uint32_t) { return true; });
  for (std::uint32_t p = 0; p < partitions; ++p)
    out[p] = members[picked[p]];
  return out;
}

std::vector<std::vector<std::string>>
place_replicas(std::vector<std::string> members, std::uint32_t partitions,
               std::uint32_t replicas) {
  members = sorted_distinct(std::move(members));
  std::vector<std::vector<std::string>> out(partitions);
  if (members.empty())
    return out;
  auto owners = place_partitions(members, partitions);
  for (std::uint32_t p = 0; p < partitions; ++p)
    out[p].push_back(owners[p]);
  auto n = static_cast<std::uint32_t>(members.size());
  auto copies = std::min(std::max<std::uint32_t>(replicas, 1), n);
  // Each further copy the same way, never two copies of one partition on
  // one member.
  for (std::uint32_t round = 1; round < copies; ++round) {
    auto picked = place_one_copy(
        members, partitions, '/' + std::to_string(round),
        [&](std::uint32_t p, std::uint32_t i) {
          return std::find(out[p].begin(), out[p].end(), members[i])
                 == out[p].end();
        });
    for (std::uint32_t p = 0; p < partitions; ++p)
      out[p].push_back(members[picked[p]]);
  }
  return out;
}

} // namespace hookd
