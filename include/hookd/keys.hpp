#pragma once

// The key layout of the store, in one place. Every key starts with a short
// table name and a '/'; each table has exactly one owning actor, the only
// one that writes it (others may read).
//
// clang-format off
//   table                          owner        what
//   m/<name>                       node         node metadata (m/admin-token)
//   t/<token id>                   access       an organization token (hash only)
//   c/<scope key>/<hook name>      registry     a webhook's configuration, secret sealed
//   ev/<event id>                  ingest       an accepted event
//   et/<created>/<event id>        ingest       when it expires (event_retention)
//   eb/complete                    ingest       every event has its et/ key
//   pf/<event id>                  ingest       its fan-out, not yet finished
//   h/<hook id>/<seq>/<event id>   webhook      a delivery record (newest sort last)
//   hx/<hook id>/<event id>        webhook      event id -> record seq
//   q/<hook id>/<event id>         webhook      an unfinished delivery
//   p/<hook id>/<position>.<stage name>/<key>
//                                  webhook      a pipeline stage's own state: its
//                                               stage host makes the changes, the
//                                               webhook commits them with the
//                                               deliveries they lead to
//   dv/<org>/<project>/<stack>     deployments  the stack's last deployment version
//   dp/<org>/<project>/<stack>/<v> deployments  a queued deployment
//   dk/<hook id>/<attempt>         deployments  the deployment an attempt queued
//   dr/<event id>                  deployments  deployments a client event set off
//                                               (deleted by ingest with the event)
// clang-format on
//
// Scope keys are "o/<org>", "s/<org>/<project>/<stack>" and
// "e/<org>/<project>/<env>"; names never contain '/', so a scope's hooks,
// and a hook's records, are each exactly one key prefix.

#include <cstdint>
#include <string>

namespace hookd::keys {

inline std::string admin_token() {
  return "m/admin-token";
}

inline std::string token(const std::string& id) {
  return "t/" + id;
}
inline const char* tokens_prefix() {
  return "t/";
}

/// `index` is "<scope key>/<hook name>".
inline std::string hook_config(const std::string& index) {
  return "c/" + index;
}
inline const char* hook_configs_prefix() {
  return "c/";
}

inline std::string event(const std::string& id) {
  return "ev/" + id;
}
inline std::string fanout_marker(const std::string& id) {
  return "pf/" + id;
}
inline const char* fanout_markers_prefix() {
  return "pf/";
}
/// When an event expires: its creation time (20 digits) and id, in order.
inline std::string event_time(std::int64_t created, const std::string& id) {
  auto digits = std::to_string(created < 0 ? 0 : created);
  return "et/" + std::string(20 - digits.size(), '0') + digits + '/' + id;
}
inline const char* event_times_prefix() {
  return "et/";
}
/// Present once every event has its et/ key (events stored before there
/// were any get theirs on the first start).
inline std::string event_times_complete() {
  return "eb/complete";
}

inline std::string history_prefix(const std::string& hook_id) {
  return "h/" + hook_id + "/";
}
inline std::string history_index_prefix(const std::string& hook_id) {
  return "hx/" + hook_id + "/";
}
inline std::string queue_prefix(const std::string& hook_id) {
  return "q/" + hook_id + "/";
}
inline const char* queues_prefix() {
  return "q/";
}
/// The state of a webhook's pipeline stages (stages.hpp says what follows).
inline std::string stages_prefix(const std::string& hook_id) {
  return "p/" + hook_id + "/";
}
inline const char* all_stages_prefix() {
  return "p/";
}

/// "<org>/<project>/<stack>"
inline std::string deployment_version(const std::string& stack) {
  return "dv/" + stack;
}
inline std::string deployments_prefix(const std::string& stack) {
  return "dp/" + stack + '/';
}
inline std::string deployment_attempt(const std::string& attempt) {
  return "dk/" + attempt;
}
inline std::string deployment_attempts_prefix(const std::string& hook_id) {
  return "dk/" + hook_id + '/';
}
/// Deployments set off by one client event so far.
inline std::string deployment_budget(const std::string& root_event) {
  return "dr/" + root_event;
}

} // namespace hookd::keys
