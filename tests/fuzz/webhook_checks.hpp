#pragma once

// What every webhook that a parser accepted must satisfy, shared by the
// webhook targets.

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz.hpp"
#include "hookd/crypto.hpp"
#include "hookd/webhook.hpp"

namespace hookd::fuzz {

/// A fixed key: the stored form is sealed with it.
inline const crypto::sealer& store_sealer() {
  static const crypto::sealer sealer{std::string(32, 's')};
  return sealer;
}

/// The rules hookd runs with by default, with a front end's sealer.
inline const webhook_rules& default_rules() {
  static const webhook_rules rules{
      "https://hooks.slack.com/",
      std::make_shared<const crypto::sealer>(std::string(32, 't'))};
  return rules;
}

/// A scope of each kind, by `choice`.
inline scope scope_of(unsigned choice) {
  switch (choice % 3) {
  case 0:
    return {scope_kind::org, "acme", {}, {}};
  case 1:
    return {scope_kind::stack, "acme", "web", "prod"};
  default:
    return {scope_kind::env, "acme", "web", "dev"};
  }
}

inline bool same(const scope& a, const scope& b) {
  return a.kind == b.kind && a.org == b.org && a.project == b.project
         && a.name == b.name;
}

inline bool same(const webhook& a, const webhook& b) {
  return same(a.where, b.where) && a.name == b.name && a.id == b.id
         && a.display_name == b.display_name && a.payload_url == b.payload_url
         && a.secret == b.secret && a.active == b.active && a.format == b.format
         && a.filters == b.filters && a.groups == b.groups
         && a.created_at == b.created_at;
}

inline bool same(const webhook_summary& a, const webhook_summary& b) {
  return same(a.where, b.where) && a.name == b.name && a.id == b.id
         && a.filters == b.filters && a.groups == b.groups
         && a.active == b.active;
}

/// The stored form reads back as the same webhook, with or without its
/// secret.
inline void check_stored(const webhook& hook) {
  auto stored = storage_json(hook, store_sealer());
  auto back = from_storage_json(stored, store_sealer());
  HOOKD_FUZZ_CHECK(back && same(*back, hook));
  auto summary = summary_from_storage(stored);
  HOOKD_FUZZ_CHECK(summary && same(*summary, summary_of(hook)));
}

/// A webhook a create or an update accepted: valid, answered as JSON
/// without its secret, stored and read back intact, and accepted as itself
/// when a client sends it back.
inline void check_accepted(const webhook& hook, const webhook_rules& rules) {
  HOOKD_FUZZ_CHECK(hook.name.empty() || valid_hook_name(hook.name));
  HOOKD_FUZZ_CHECK(!hook.display_name.empty());
  auto response = nlohmann::json::parse(response_json(hook));
  HOOKD_FUZZ_CHECK(response.is_object());
  HOOKD_FUZZ_CHECK(!response.contains("secret"));
  HOOKD_FUZZ_CHECK(response.at("hasSecret") == !hook.secret.empty());
  check_stored(hook);
  nlohmann::json body{{"name", hook.name},
                      {"displayName", hook.display_name},
                      {"payloadUrl", hook.payload_url},
                      {"active", hook.active},
                      {"format", hook.format},
                      {"filters", hook.filters},
                      {"groups", hook.groups},
                      {"secret", hook.secret}};
  auto again = parse_create(body.dump(), hook.where, rules);
  HOOKD_FUZZ_CHECK(again);
  again->id = hook.id;
  again->created_at = hook.created_at;
  HOOKD_FUZZ_CHECK(same(*again, hook));
}

} // namespace hookd::fuzz
