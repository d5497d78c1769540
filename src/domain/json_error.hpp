#pragma once

// Reading JSON that comes from outside (request bodies): one way, with one
// bound on nesting and one shape of error.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include <caf/expected.hpp>
#include <nlohmann/json.hpp>

#include "hookd/error.hpp"

namespace hookd {

/// Arrays and objects nested deeper than this are refused: serializing or
/// destroying a document recurses once a level, and 65,000 levels overflow
/// a thread's stack.
constexpr std::size_t max_json_depth = 64;

/// nlohmann's message without its internal prefix ("[json.exception…]: ").
inline std::string json_error_detail(const std::exception& e) {
  std::string what = e.what();
  auto pos = what.find("]: ");
  return pos == std::string::npos ? what : what.substr(pos + 3);
}

/// The client-facing text of a JSON parse error: nlohmann's message names
/// the byte offset and what it read.
inline std::string malformed_json(const std::exception& e) {
  return "malformed JSON: " + json_error_detail(e);
}

/// The deepest nesting of arrays and objects in `text`, counted without
/// parsing (brackets inside strings do not count); stops counting past
/// `limit`.
inline std::size_t json_depth(std::string_view text, std::size_t limit) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest && (deepest = depth) > limit)
        return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

/// Parses a body from outside: a 400 (ec::bad_request) for malformed JSON,
/// for numbers out of range (1e400) and for nesting past max_json_depth.
template <class Json = nlohmann::json>
caf::expected<Json> parse_outside_json(std::string_view text) {
  if (json_depth(text, max_json_depth) > max_json_depth)
    return make_error(ec::bad_request, "JSON nested deeper than "
                                           + std::to_string(max_json_depth)
                                           + " levels");
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::out_of_range& e) {
    return make_error(ec::bad_request, "a number in the JSON is out of "
                                       "range: "
                                           + json_error_detail(e));
  } catch (const nlohmann::json::exception& e) {
    return make_error(ec::bad_request, malformed_json(e));
  }
}

/// The integer in `j[field]`, or `absent` without the field; std::nullopt
/// when it is not an integer that `Int` holds. nlohmann's get<Int>() casts
/// a floating-point number without a check, which is undefined behaviour
/// when it is out of range (1e300), and wraps integers out of `Int`'s range.
template <class Int, class Json>
std::optional<Int> integer_field(const Json& j, const char* field, Int absent) {
  using limits = std::numeric_limits<Int>;
  auto it = j.find(field);
  if (it == j.end())
    return absent;
  if (it->is_number_unsigned()) {
    auto n = it->template get<std::uint64_t>();
    if (n > static_cast<std::uint64_t>(limits::max()))
      return std::nullopt;
    return static_cast<Int>(n);
  }
  if (it->is_number_integer()) {
    auto n = it->template get<std::int64_t>();
    if (n < static_cast<std::int64_t>(limits::min())
        || (n > 0
            && static_cast<std::uint64_t>(n)
                   > static_cast<std::uint64_t>(limits::max())))
      return std::nullopt;
    return static_cast<Int>(n);
  }
  return std::nullopt;
}

} // namespace hookd
