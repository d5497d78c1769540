#include "hookd/error.hpp"

namespace hookd {

const char* to_string(ec code) {
  switch (code) {
    case ec::ok: return "ok";
    case ec::bad_request: return "bad_request";
    case ec::unauthenticated: return "unauthenticated";
    case ec::forbidden: return "forbidden";
    case ec::not_found: return "not_found";
    case ec::method_not_allowed: return "method_not_allowed";
    case ec::conflict: return "conflict";
    case ec::payload_too_large: return "payload_too_large";
    case ec::unsupported_media_type: return "unsupported_media_type";
    case ec::too_many_requests: return "too_many_requests";
    case ec::unavailable: return "unavailable";
    case ec::internal: return "internal";
  }
  return "internal";
}

} // namespace hookd
