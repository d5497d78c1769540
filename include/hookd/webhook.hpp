#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hookd/api.hpp"
#include "hookd/crypto.hpp"

namespace hookd {

/// A webhook's configuration. The secret is held in clear only in memory;
/// the store keeps it sealed.
struct webhook {
  scope where;
  std::string name;
  std::string id; ///< unique for all time; keys the hook's history
  std::string display_name;
  std::string payload_url;
  std::string secret;
  bool active = false;
  std::string format = "raw";
  std::vector<std::string> filters;
  std::vector<std::string> groups;
  std::int64_t created_at = 0;

  /// Filters as a bit per catalogue event; groups as a bit per group.
  std::uint64_t filter_mask() const;
  std::uint8_t group_mask() const;
};

/// Rules that depend on configuration.
struct webhook_rules {
  std::string slack_url_prefix;
};

/// A webhook name: 1 to 32 of [A-Za-z0-9._-], and not "." or "..".
bool valid_hook_name(std::string_view name);
/// An organization, project, stack or environment name in a path.
bool valid_path_name(std::string_view name);

/// Builds a new webhook from a create request body. `name` may come back
/// empty: the caller generates one.
bool parse_create(std::string_view body, const scope& where,
                  const webhook_rules& rules, webhook& out, failure& err);

/// Applies a PATCH body: a full replace of displayName, payloadUrl, active,
/// filters and groups; `format` and `secret` change only when given.
bool apply_update(std::string_view body, const webhook_rules& rules,
                  webhook& hook, failure& err);

/// The WebhookResponse JSON: never the secret, always filters and groups.
std::string response_json(const webhook& hook);
/// Appends the WebhookResponse to a JSON array being built.
void append_response_json(std::string& array_body, const webhook& hook);

/// The stored form, with the secret sealed and bound to the hook's id.
std::string storage_json(const webhook& hook, const crypto::sealer& sealer);
bool from_storage_json(std::string_view text, const crypto::sealer& sealer,
                       webhook& out);

} // namespace hookd
