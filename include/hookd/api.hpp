#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

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
  crash_hook, ///< test builds only
};

/// An API request, parsed out of HTTP by the front end: the only thing the
/// actors see of it.
struct api_call {
  operation op = operation::list_hooks;
  scope where;
  std::string hook;         ///< webhook name, for per-hook operations
  std::string item;         ///< event id (redeliver) or token id
  std::string body;         ///< request body, at most defaults::max_body_bytes
  std::string credential;   ///< the token as presented, never logged
  std::string limit;        ///< raw ?limit=
  std::string continuation; ///< raw ?continuationToken=
  std::string base_path;    ///< the request path, for Link headers
};

/// Success statuses an actor can answer with.
enum class success : std::uint8_t { ok, created, accepted, no_content };

using header_list = std::vector<std::pair<std::string, std::string>>;

/// The one answer to an API request. Any thread may answer, once; the front
/// end guarantees an answer (503) if a responder is dropped unanswered, so a
/// request lost with a crashed actor still gets a reply.
class responder {
public:
  virtual ~responder() = default;
  virtual void respond(success status, std::string json_body,
                       header_list headers = {}) = 0;
  virtual void fail(failure err) = 0;
  void fail(ec code, std::string message) {
    fail(failure{code, std::move(message)});
  }
};

using responder_ptr = std::shared_ptr<responder>;

} // namespace hookd
