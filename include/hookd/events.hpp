#pragma once

#include <cstdint>
#include <string_view>

#include "hookd/api.hpp"

namespace hookd {

/// One event name of Pulumi's catalogue: its kind, its group, and who may
/// subscribe to it.
struct event_info {
  const char* name;
  const char* kind;
  const char* group;
  /// Which non-org scope may subscribe (org webhooks may always), or org
  /// for org-only events.
  scope_kind scoped;
};

/// Index of an event in the catalogue; -1 when unknown. Indexes fit a 64-bit
/// mask, which is how registries keep filters compactly.
int event_index(std::string_view name);
const event_info& event_at(int index);
int event_count();

/// Group bits: stacks, deployments, policies, environments.
int group_index(std::string_view name);
const char* group_name(int index);
int group_count();

/// May a webhook in a scope of `kind` subscribe to this event or group?
bool event_allowed_in(const event_info& ev, scope_kind kind);
bool group_allowed_in(int group, scope_kind kind);

} // namespace hookd
