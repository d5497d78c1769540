#include "hookd/events.hpp"

#include <iterator>

namespace hookd {

namespace {

constexpr auto org = scope_kind::org;
constexpr auto stack = scope_kind::stack;
constexpr auto env = scope_kind::env;

// Pulumi's event catalogue. The order is part of the store format (filter
// masks are kept by index): append only.
const event_info catalogue[] = {
    {"stack_created", "stack", "stacks", org},
    {"stack_deleted", "stack", "stacks", org},
    {"preview_succeeded", "stack_preview", "stacks", stack},
    {"preview_failed", "stack_preview", "stacks", stack},
    {"update_succeeded", "stack_update", "stacks", stack},
    {"update_failed", "stack_update", "stacks", stack},
    {"destroy_succeeded", "stack_update", "stacks", stack},
    {"destroy_failed", "stack_update", "stacks", stack},
    {"refresh_succeeded", "stack_update", "stacks", stack},
    {"refresh_failed", "stack_update", "stacks", stack},
    {"import_succeeded", "stack_update", "stacks", stack},
    {"import_failed", "stack_update", "stacks", stack},
    {"deployment_queued", "deployment", "deployments", stack},
    {"deployment_started", "deployment", "deployments", stack},
    {"deployment_succeeded", "deployment", "deployments", stack},
    {"deployment_failed", "deployment", "deployments", stack},
    {"drift_detected", "drift_detection", "deployments", stack},
    {"drift_detection_succeeded", "drift_detection", "deployments", stack},
    {"drift_detection_failed", "drift_detection", "deployments", stack},
    {"drift_remediation_succeeded", "drift_remediation", "deployments", stack},
    {"drift_remediation_failed", "drift_remediation", "deployments", stack},
    {"policy_violation_mandatory", "policy_violation", "policies", stack},
    {"policy_violation_advisory", "policy_violation", "policies", stack},
    {"environment_created", "environment", "environments", org},
    {"environment_deleted", "environment", "environments", org},
    {"environment_revision_created", "environment_revision", "environments",
     env},
    {"environment_revision_retracted", "environment_revision", "environments",
     env},
    {"environment_revision_tag_created", "environment_revision_tag",
     "environments", env},
    {"environment_revision_tag_deleted", "environment_revision_tag",
     "environments", env},
    {"environment_revision_tag_updated", "environment_revision_tag",
     "environments", env},
    {"environment_tag_created", "environment_tag", "environments", env},
    {"environment_tag_deleted", "environment_tag", "environments", env},
    {"environment_tag_updated", "environment_tag", "environments", env},
    {"imported_environment_changed", "imported_environment_changed",
     "environments", env},
    {"environment_rotation_succeeded", "environment_rotation", "environments",
     env},
    {"environment_rotation_failed", "environment_rotation", "environments",
     env},
};

static_assert(std::size(catalogue) <= 64, "filter masks are 64 bits");

const char* const groups[]
    = {"stacks", "deployments", "policies", "environments"};

} // namespace

int event_index(std::string_view name) {
  for (int i = 0; i < event_count(); ++i)
    if (name == catalogue[i].name)
      return i;
  return -1;
}

const event_info& event_at(int index) {
  return catalogue[index];
}

int event_count() {
  return static_cast<int>(std::size(catalogue));
}

int group_index(std::string_view name) {
  for (int i = 0; i < group_count(); ++i)
    if (name == groups[i])
      return i;
  return -1;
}

const char* group_name(int index) {
  return groups[index];
}

int group_count() {
  return static_cast<int>(std::size(groups));
}

bool event_allowed_in(const event_info& ev, scope_kind kind) {
  return kind == scope_kind::org || ev.scoped == kind;
}

bool group_allowed_in(int group, scope_kind kind) {
  std::string_view g = groups[group];
  switch (kind) {
  case scope_kind::org:
    return true;
  case scope_kind::stack:
    return g != "environments";
  case scope_kind::env:
    return g == "environments";
  }
  return false;
}

} // namespace hookd
