#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

/// hookd's log: one JSON object a line on stderr, such as
///   {"ts":"2026-11-27T17:40:02.113Z","level":"warn","msg":"delivery failed
///    for good","org":"acme","hook":"deploys","event":"…","status":503}
/// Fields carry names, ids, counts and codes; never a secret, a token or a
/// payload (callers choose what goes in, and nothing else is added).
namespace hookd::log {

enum class level : std::uint8_t { debug, info, warn, error };

/// "debug", "info", "warn" or "error" (HOOKD_LOG_LEVEL); false otherwise.
bool parse_level(std::string_view text, level& out);
std::string_view name_of(level l);

/// Lines below `l` are dropped; the default is info.
void set_level(level l);
bool enabled(level l);

/// One field of a line: a string or a number.
struct field {
  field(std::string_view k, std::string_view v) : key(k), text(v) {}
  field(std::string_view k, const std::string& v) : key(k), text(v) {}
  field(std::string_view k, const char* v) : key(k), text(v) {}
  template <class Int, class = std::enable_if_t<std::is_integral_v<Int>>>
  field(std::string_view k, Int v)
      : key(k), number(static_cast<std::int64_t>(v)), is_number(true) {}
  field(std::string_view k, double v)
      : key(k), real(v), is_number(true), is_real(true) {}

  std::string_view key;
  std::string_view text;
  std::int64_t number = 0;
  double real = 0;
  bool is_number = false;
  bool is_real = false;
};

/// The line for a message and its fields, without the newline (exposed for
/// tests: `ts` is the time given, in milliseconds since the epoch).
std::string render(std::int64_t unix_ms, level l, std::string_view msg,
                   std::initializer_list<field> fields);

/// Writes one line, whole, if `l` is enabled. Thread-safe.
void write(level l, std::string_view msg,
           std::initializer_list<field> fields = {});

inline void debug(std::string_view msg, std::initializer_list<field> f = {}) {
  write(level::debug, msg, f);
}
inline void info(std::string_view msg, std::initializer_list<field> f = {}) {
  write(level::info, msg, f);
}
inline void warn(std::string_view msg, std::initializer_list<field> f = {}) {
  write(level::warn, msg, f);
}
inline void error(std::string_view msg, std::initializer_list<field> f = {}) {
  write(level::error, msg, f);
}

} // namespace hookd::log
