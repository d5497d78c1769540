#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>

namespace hookd {

/// What went wrong, as the API reports it. Every fallible function returns
/// `caf::error` or `caf::expected<T>` carrying one of these; the HTTP front
/// end maps each code to a status in exactly one place (src/http/status.cpp).
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

/// The category of hookd's errors inside `caf::error`, registered with the
/// actor system so that CAF renders them.
constexpr caf::atom_value error_category = caf::atom("hookd");

/// An error whose context is the message a client sees.
caf::error make_error(ec code, std::string message);
caf::error make_error(ec code);

/// The code of an error: hookd's own, or `ec::unavailable` for CAF's (a
/// request timed out, an actor died holding it), which a retry may cure.
ec code_of(const caf::error& err);

/// The message a client sees for an error; CAF's errors get a fixed text
/// that says a retry is safe.
std::string message_of(const caf::error& err);

} // namespace hookd
