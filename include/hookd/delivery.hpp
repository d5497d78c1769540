#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/meta/type_name.hpp>

#include "hookd/api.hpp"

namespace hookd {

/// One outbound POST.
struct http_request {
  std::string url;
  std::string body;
  header_list headers;
  std::chrono::milliseconds timeout{10000};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, http_request& x) {
  return f(caf::meta::type_name("hookd.http_request"), x.url, x.body, x.headers,
           x.timeout);
}

/// What came back. `code` is 0 when no HTTP answer came; then `error` says
/// why (timeout, connection refused, a refused private address, ...).
struct http_result {
  long code = 0;
  std::string response_headers; ///< "Name: value\r\n" lines, sorted by name
  std::string response_body;    ///< cut at 64 KiB
  std::int64_t duration_ms = 0;
  std::string error;
  /// Seconds from a Retry-After header; -1 when none.
  std::int64_t retry_after_s = -1;
  /// Refused by policy (a private address): trying again cannot help.
  bool refused = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, http_result& x) {
  return f(caf::meta::type_name("hookd.http_result"), x.code,
           x.response_headers, x.response_body, x.duration_ms, x.error,
           x.retry_after_s, x.refused);
}

struct delivery_options {
  bool allow_private_targets = false;
  std::string ca_file; ///< extra PEM bundle trusted besides the system's
};

/// "Name: value\r\n" lines sorted by name, as delivery records show them.
std::string header_block(header_list headers);

} // namespace hookd
