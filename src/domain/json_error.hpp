#pragma once

#include <exception>
#include <string>

namespace hookd {

/// The client-facing text of a JSON parse error: nlohmann's message names
/// the byte offset and what it read; keep that, drop its internal prefix.
inline std::string malformed_json(const std::exception& e) {
  std::string what = e.what();
  auto pos = what.find("]: ");
  return "malformed JSON: "
         + (pos == std::string::npos ? what : what.substr(pos + 3));
}

} // namespace hookd
