#pragma once

// Which partition an organization's data lives in (SPEC section 9).
// Everything one event touches (the organization's webhooks, its stacks'
// and environments' webhooks, deployments, org tokens, event ids) is in
// the partition of its organization.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hookd {

/// FNV-1a, 64 bits (offset basis 14695981039346656037, prime
/// 1099511628211), over the bytes of `text`.
std::uint64_t fnv1a64(std::string_view text);

/// The partition of organization `org` among `count` (> 0).
inline std::uint32_t partition_of(std::string_view org, std::uint32_t count) {
  return static_cast<std::uint32_t>(fnv1a64(org) % count);
}

/// The id part of an org token made for `org`: the organization's FNV-1a
/// hash (16 hex digits) and then random hex, so that any node can tell an
/// org token's partition without a lookup.
std::string org_token_id(std::string_view org);

/// The organization hash an org token id carries, or nothing for a token
/// made before ids carried it.
std::optional<std::uint64_t> org_hash_of_token_id(std::string_view id);

/// Whether token id `id` names an organization other than `org` (its
/// partition, not `org`'s, can tell 403 from 401).
inline bool token_of_another_org(std::string_view id, std::string_view org) {
  auto h = org_hash_of_token_id(id);
  return h && *h != fnv1a64(org);
}

/// Each partition's home among `members` (any order): rendezvous hashing
/// (the member with the highest FNV-1a of "<member>/<partition>" wins)
/// with a cap of ⌈P/N⌉ partitions a member, so that every member gets
/// ⌊P/N⌋ or ⌈P/N⌉. The same members give the same answer on every node.
std::vector<std::string> place_partitions(std::vector<std::string> members,
                                          std::uint32_t partitions);

/// Each partition's copies among `members`: its home (place_partitions)
/// first, then `replicas` - 1 more on other members (capped by the member
/// count), spread so that no member holds many more than another.
std::vector<std::vector<std::string>>
place_replicas(std::vector<std::string> members, std::uint32_t partitions,
               std::uint32_t replicas);

} // namespace hookd
