#include "hookd/error.hpp"

#include <caf/make_message.hpp>
#include <caf/message.hpp>

namespace hookd {

const char* to_string(ec code) {
  switch (code) {
  case ec::ok:
    return "ok";
  case ec::bad_request:
    return "bad_request";
  case ec::unauthenticated:
    return "unauthenticated";
  case ec::forbidden:
    return "forbidden";
  case ec::not_found:
    return "not_found";
  case ec::method_not_allowed:
    return "method_not_allowed";
  case ec::conflict:
    return "conflict";
  case ec::payload_too_large:
    return "payload_too_large";
  case ec::unsupported_media_type:
    return "unsupported_media_type";
  case ec::too_many_requests:
    return "too_many_requests";
  case ec::unavailable:
    return "unavailable";
  case ec::internal:
    return "internal";
  }
  return "internal";
}

caf::error make_error(ec code, std::string message) {
  return caf::error{static_cast<std::uint8_t>(code), error_category,
                    caf::make_message(std::move(message))};
}

caf::error make_error(ec code) {
  return caf::error{static_cast<std::uint8_t>(code), error_category};
}

ec code_of(const caf::error& err) {
  if (!err)
    return ec::ok;
  if (err.category() != error_category)
    return ec::unavailable;
  return static_cast<ec>(err.code());
}

std::string message_of(const caf::error& err) {
  if (err.category() != error_category)
    return "hookd could not answer in time (a component is restarting or "
           "overloaded); it is safe to retry";
  const auto& ctx = err.context();
  if (ctx.match_elements<std::string>())
    return ctx.get_as<std::string>(0);
  return to_string(static_cast<ec>(err.code()));
}

} // namespace hookd
