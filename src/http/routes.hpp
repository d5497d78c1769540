#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "hookd/api.hpp"

namespace hookd::http {

/// What a request line maps to. Pure: no I/O, no RESTinio.
struct route {
  enum class target {
    api,
    healthz,
    metrics,
    asset,    ///< a file of src/assets/, served as it is (hookd::assets::find)
    redirect, ///< to `location`
    not_found,
    method_not_allowed,
    bad_name
  };
  target what = target::not_found;
  api_call call;        ///< for target::api, without body and credential
  std::string message;  ///< for errors
  std::string allow;    ///< for method_not_allowed: the Allow header
  std::string asset;    ///< for asset: its path under src/assets/
  std::string location; ///< for redirect
};

/// One route hookd serves: a method and a path template whose `{name}`
/// segments stand for one path segment each (the names are those of the
/// OpenAPI document, src/assets/openapi.json).
struct route_template {
  std::string_view method;
  std::string_view path;
};

/// Every route hookd serves in production, as match_route accepts them and
/// the OpenAPI document lists them: the list the tests walk to keep the
/// two true. Test-only routes (HOOKD_TEST_HOOKS) are not in it.
const std::vector<route_template>& route_catalogue();

/// Maps a method, a raw (still percent-encoded) path and a raw query.
route match_route(std::string_view method, std::string_view path,
                  std::string_view query);

/// The route's name for /metrics and the log: the operation for API calls
/// ("list_hooks", "ingest_events", ...), else the target ("healthz",
/// "not_found", ...). A fixed vocabulary: never a name from the path.
std::string_view route_name(const route& r);

/// The token in "token X" or "Bearer X"; empty when absent or malformed.
std::string credential_of(std::string_view authorization);

/// Percent-decodes; false on a malformed escape.
bool percent_decode(std::string_view in, std::string& out);

} // namespace hookd::http
