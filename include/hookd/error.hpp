#pragma once

#include <cstdint>
#include <string>

namespace hookd {

/// What went wrong, as the API reports it. The HTTP front end maps each code
/// to a status in exactly one place (src/http/status.cpp).
enum class ec : std::uint8_t {
  ok = 0,
  bad_request,
  unauthenticated,
  forbidden,
  not_found,
  method_not_allowed,
  conflict,
  payload_too_large,
  unsupported_media_type,
  too_many_requests,
  unavailable,
  internal,
};

const char* to_string(ec code);

/// An error with the message a client sees.
struct failure {
  ec code = ec::internal;
  std::string message;
  /// Seconds for a Retry-After header; 0 for none.
  int retry_after = 0;
};

} // namespace hookd
