#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>

#include "hookd/error.hpp"

namespace hookd {

/// Where a webhook lives. Its name is unique inside its scope.
enum class scope_kind : std::uint8_t { org, stack, env };

struct scope {
  scope_kind kind = scope_kind::org;
  std::string org;
  std::string project; ///< stack and env scopes
  std::string name;    ///< the stack or environment name

  /// A stable key, "o/acme", "s/acme/web/prod" or "e/acme/default/dev";
  /// safe as a store key prefix because names never contain '/'.
  std::string key() const;
  /// A readable form for messages: "acme/web/prod".
  std::string path() const;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, scope& x) {
  return f(caf::meta::type_name("hookd.scope"), x.kind, x.org, x.project,
           x.name);
}

/// What an API request asks for.
enum class operation : std::uint8_t {
  list_hooks,
  create_hook,
  read_hook,
  update_hook,
  delete_hook,
  list_deliveries,
  ping_hook,
  redeliver,
  create_token,
  list_tokens,
  delete_token,
  ingest_events,
  list_deployments,
  crash_hook,    ///< test builds only
  stall_hook,    ///< test builds only: the webhook actor never answers
  whoami,        ///< GET /api/user: the token's role and organizations
  list_scopes,   ///< GET /api/orgs/{org}/scopes: stacks and environments
  cluster_info,  ///< GET /api/cluster: members and partitions (admin)
  cluster_leave, ///< POST /api/cluster/leave: this node leaves (admin)
};

/// A presented token, as it travels inside hookd: the token itself stays in
/// the HTTP front end, which sends its SHA-256 and the id it names.
struct credential {
  std::string token_id; ///< "<id>" of an org token "hookd_<id>_<secret>"
  std::string digest;   ///< hex SHA-256 of the whole token; empty: none
};

/// Digests a token as presented in the Authorization header.
credential credential_of_token(std::string_view token);

/// A new token of organization `org`, "hookd_<id>_<secret>": the id
/// carries the organization's hash (partition.hpp), the rest is random.
std::string new_org_token(std::string_view org);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, credential& x) {
  return f(caf::meta::type_name("hookd.credential"), x.token_id, x.digest);
}

/// An API request, parsed out of HTTP by the front end: the only thing the
/// actors see of it.
struct api_call {
  operation op = operation::list_hooks;
  scope where;
  std::string hook; ///< webhook name, for per-hook operations
  std::string item; ///< event id (redeliver) or token id
  std::string body; ///< request body, at most defaults::max_body_bytes
  credential who;   ///< cleared once checked
  /// create_token: the new token's id and digest. The front end makes the
  /// token and keeps it: it never travels between actors.
  credential issued;
  std::string limit;        ///< raw ?limit=
  std::string continuation; ///< raw ?continuationToken=
  std::string base_path;    ///< the request path, for Link headers
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, api_call& x) {
  return f(caf::meta::type_name("hookd.api_call"), x.op, x.where, x.hook,
           x.item, x.body, x.who, x.issued, x.limit, x.continuation,
           x.base_path);
}

/// Success statuses an actor can answer with.
enum class success : std::uint8_t { ok, created, accepted, no_content };

using header_list = std::vector<std::pair<std::string, std::string>>;

/// The answer to an API request, as a value: every API call is a request
/// whose result is one of these or a `caf::error` (see error.hpp). Only the
/// HTTP front end turns it into HTTP.
struct api_response {
  success status = success::ok;
  std::string body; ///< JSON; empty for no_content
  header_list headers;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, api_response& x) {
  return f(caf::meta::type_name("hookd.api_response"), x.status, x.body,
           x.headers);
}

/// A listing's page size: `?limit=` as given (`fallback` when absent), or
/// an error naming the allowed range.
inline caf::error page_limit(const std::string& text, std::size_t fallback,
                             std::size_t most, std::size_t& out) {
  if (text.empty()) {
    out = fallback;
    return {};
  }
  if (text.size() <= 6
      && text.find_first_not_of("0123456789") == std::string::npos) {
    out = std::stoul(text);
    if (out >= 1 && out <= most)
      return {};
  }
  return make_error(ec::bad_request, "'limit' must be a whole number from 1 to "
                                         + std::to_string(most));
}

/// The Link header that points a listing's client to its next page.
inline std::pair<std::string, std::string>
next_page_link(const std::string& base_path, std::size_t limit,
               const std::string& token) {
  return {"Link", "<" + base_path + "?limit=" + std::to_string(limit)
                      + "&continuationToken=" + token + ">; rel=\"next\""};
}

} // namespace hookd
