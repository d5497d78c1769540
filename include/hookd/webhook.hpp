#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "hookd/api.hpp"
#include "hookd/crypto.hpp"

namespace hookd {

class behaviour_registry;

/// A destination or pipeline stage a webhook names, with its config
/// (compact JSON, "{}" when none).
struct behaviour_use {
  std::string name;
  std::string config = "{}";

  bool operator==(const behaviour_use& other) const {
    return name == other.name && config == other.config;
  }
};

/// A webhook's configuration. The secret is held in clear only in memory;
/// the store keeps it sealed.
struct webhook {
  scope where;
  std::string name;
  std::string id; ///< unique for all time; keys the hook's history
  std::string display_name;
  std::string payload_url;
  std::string secret;
  /// crypto::sealer::fingerprint of the secret; empty without one.
  std::string secret_fingerprint;
  /// The secret a rotation replaced, still signing alongside the new one
  /// until `previous_until` (unix seconds), so that receivers can switch
  /// at their pace.
  std::string previous_secret;
  std::int64_t previous_until = 0;
  bool active = false;
  std::string format = "raw";
  std::vector<std::string> filters;
  std::vector<std::string> groups;
  /// Replaces the HTTP POST when set (SPEC section 10).
  std::optional<behaviour_use> destination;
  /// Stages events go through before delivery, in order.
  std::vector<behaviour_use> pipeline;
  std::int64_t created_at = 0;

  /// Filters as a bit per catalogue event; groups as a bit per group.
  std::uint64_t filter_mask() const;
  std::uint8_t group_mask() const;
};

/// Rules that depend on configuration.
struct webhook_rules {
  std::string slack_url_prefix;
  /// Opens secrets the front end sealed (seal_body_secret); null: none.
  std::shared_ptr<const crypto::sealer> transit;
  /// How long a replaced secret keeps signing (0: not at all).
  std::chrono::seconds rotation_overlap{0};
  /// The formats, destinations and stages a webhook may name; null: the
  /// built-ins only.
  std::shared_ptr<const behaviour_registry> behaviours;
};

/// The replaced secret that still signs at `now` (unix seconds), or "".
const std::string& signing_previous(const webhook& hook, std::int64_t now);

/// Replaces the secret of a create or update body by its sealed form, so
/// that it never travels in clear between actors; the registry opens it
/// when it reads the body. Malformed bodies get the registry's own errors.
caf::expected<std::string> seal_body_secret(std::string_view body,
                                            const crypto::sealer& sealer);

/// A webhook name: 1 to 32 of [A-Za-z0-9._-], and not "." or "..".
bool valid_hook_name(std::string_view name);
/// An organization, project, stack or environment name in a path.
bool valid_path_name(std::string_view name);

/// Why `url` cannot be where a delivery is sent ("" when it can): an
/// absolute http(s) URL with a host, at most defaults::payload_url_max
/// characters, without credentials. For a format's own target; a webhook's
/// payloadUrl is checked with the rest of the webhook.
std::string delivery_url_problem(std::string_view url);

/// Builds a new webhook from a create request body. `name` may come back
/// empty: the caller generates one.
caf::expected<webhook> parse_create(std::string_view body, const scope& where,
                                    const webhook_rules& rules);

/// Applies a PATCH body: a full replace of displayName, payloadUrl, active,
/// filters and groups; `format` and `secret` change only when given.
caf::expected<webhook> apply_update(std::string_view body,
                                    const webhook_rules& rules,
                                    const webhook& hook);

/// The WebhookResponse JSON: never the secret, always filters and groups.
std::string response_json(const webhook& hook);
/// Appends the WebhookResponse to a JSON array being built.
void append_response_json(std::string& array_body, const webhook& hook);

/// The stored form, with the secret sealed and bound to the hook's id. It is
/// also the form a webhook's configuration travels in between actors: the
/// secret is opened only by the webhook actor that signs with it.
std::string storage_json(const webhook& hook, const crypto::sealer& sealer);
/// Reads the stored form, opening the secret.
caf::expected<webhook> from_storage_json(std::string_view text,
                                         const crypto::sealer& sealer);

/// What fan-out needs of a webhook: where it is, what it takes.
struct webhook_summary {
  scope where;
  std::string name;
  std::string id;
  std::uint64_t filters = 0;
  std::uint8_t groups = 0;
  bool active = false;
  /// It uses plugin behaviours (see uses_plugins).
  bool plugins = false;
};

/// The webhook has a pipeline or a destination other than "http": while its
/// actor runs, each of those runs on a thread of its own, so their number
/// is bounded (max_plugin_hooks_per_org).
bool uses_plugins(const webhook& hook);

webhook_summary summary_of(const webhook& hook);

/// Reads the stored form without opening the secret.
caf::expected<webhook_summary> summary_from_storage(std::string_view text);

} // namespace hookd
