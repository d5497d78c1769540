#pragma once

// The behaviour registry: every format, destination and stage a webhook may
// name, hookd's own and the plugins', by name. Filled once at start (the
// built-ins, then each plugin in the order configured) and read-only after.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>

#include "hookd/event.hpp"
#include "hookd/plugin.hpp"

namespace hookd {

struct webhook;

/// The built-in destination: the HTTP POST of SPEC section 3, served by the
/// delivery client.
inline constexpr const char* http_destination = "http";

class behaviour_registry final : public plugin::registrar {
public:
  void add_format(std::string name,
                  std::shared_ptr<const plugin::format> f) override;
  void
  add_destination(std::string name,
                  std::shared_ptr<const plugin::destination_kind> d) override;
  void add_stage(std::string name,
                 std::shared_ptr<const plugin::stage_kind> s) override;

  /// Null when no behaviour of that kind has the name.
  const plugin::format* format(std::string_view name) const;
  const plugin::destination_kind* destination(std::string_view name) const;
  const plugin::stage_kind* stage(std::string_view name) const;

  /// Names of each kind, sorted.
  std::vector<std::string> format_names() const;
  std::vector<std::string> destination_names() const;
  std::vector<std::string> stage_names() const;

  /// Registrations from here on are said to come from `origin` in errors.
  void set_origin(std::string origin) {
    origin_ = std::move(origin);
  }
  /// The first registration that failed (a duplicate or a bad name), or
  /// none; cleared by reading it.
  caf::error take_error();

private:
  bool admit(const char* kind, const std::string& name, bool taken);

  std::map<std::string, std::shared_ptr<const plugin::format>, std::less<>>
      formats_;
  std::map<std::string, std::shared_ptr<const plugin::destination_kind>,
           std::less<>>
      destinations_;
  std::map<std::string, std::shared_ptr<const plugin::stage_kind>, std::less<>>
      stages_;
  std::map<std::string, std::string, std::less<>> origins_;
  std::string origin_ = "hookd";
  caf::error error_;
};

using behaviours_ptr = std::shared_ptr<const behaviour_registry>;

/// A registry holding hookd's own behaviours: the formats raw, slack,
/// ms_teams and pulumi_deployments and the destination "http".
std::shared_ptr<behaviour_registry> builtin_behaviours();

/// The built-ins, one shared instance, for code given no registry.
const behaviours_ptr& default_behaviours();

/// Opens each shared library of `paths` in order, checks its ABI version and
/// registers its behaviours. The first failure (a missing file, no entry
/// point, another ABI version, a duplicate name) is the error, naming the
/// library.
caf::error load_plugins(behaviour_registry& into,
                        const std::vector<std::string>& paths);

/// What a behaviour sees of an event and of a webhook.
plugin::event plugin_event(const event& ev);
plugin::webhook_info plugin_webhook(const webhook& hook);

} // namespace hookd
