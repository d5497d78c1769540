#pragma once

// What the fuzz targets share. A broken invariant aborts, so that libFuzzer
// keeps the input as a crash; an exception that escapes a parser does the
// same through std::terminate.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#define HOOKD_FUZZ_CHECK(condition)                                            \
  ((condition) ? (void)0                                                       \
               : ::hookd::fuzz::broken(#condition, __FILE__, __LINE__))

namespace hookd::fuzz {

[[noreturn]] inline void broken(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
  std::abort();
}

inline std::string_view text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// The parts of `s` before and after its first `sep`; the second is empty
/// when there is none.
inline std::pair<std::string_view, std::string_view> split(std::string_view s,
                                                           char sep) {
  auto at = s.find(sep);
  if (at == std::string_view::npos)
    return {s, {}};
  return {s.substr(0, at), s.substr(at + 1)};
}

/// Takes the first byte of `s` as a small choice (0 when `s` is empty).
inline unsigned choose(std::string_view& s) {
  if (s.empty())
    return 0;
  auto c = static_cast<unsigned char>(s.front());
  s.remove_prefix(1);
  return c;
}

/// Percent-encodes every byte but RFC 3986's unreserved characters.
inline std::string percent_encode(std::string_view s) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z')
        || (u >= '0' && u <= '9') || c == '-' || c == '.' || c == '_'
        || c == '~') {
      out += c;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 0xf];
    }
  }
  return out;
}

} // namespace hookd::fuzz
