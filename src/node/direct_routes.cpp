#include "hookd/direct_routes.hpp"

#include "hookd/crypto.hpp"
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

} // namespace hookd
