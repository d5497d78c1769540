#pragma once

#include "hookd/api.hpp"
#include "hookd/error.hpp"

namespace hookd::http {

/// The one place where error codes become HTTP statuses.
int status_of(ec code);
int status_of(success s);
const char* reason_of(int status);

} // namespace hookd::http
