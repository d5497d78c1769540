#pragma once

#include <string>
#include <string_view>

#include "hookd/api.hpp"

namespace hookd::http {

/// What a request line maps to. Pure: no I/O, no RESTinio.
struct route {
  enum class target {
    api,
    healthz,
    metrics,
    asset,    ///< a file compiled into the binary (src/assets/)
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

/// Maps a method, a raw (still percent-encoded) path and a raw query.
route match_route(std::string_view method, std::string_view path,
                  std::string_view query);

/// The token in "token X" or "Bearer X"; empty when absent or malformed.
std::string credential_of(std::string_view authorization);

/// Percent-decodes; false on a malformed escape.
bool percent_decode(std::string_view in, std::string& out);

} // namespace hookd::http
