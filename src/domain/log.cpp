#include "hookd/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include <unistd.h>

#include <nlohmann/json.hpp>

namespace hookd::log {
namespace {

std::atomic<level> threshold{level::info};

/// A field value as JSON text; strings that are not UTF-8 are replaced
/// rather than breaking the line.
void append_string(std::string& out, std::string_view s) {
  out += nlohmann::json(std::string{s})
             .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string timestamp(std::int64_t unix_ms) {
  auto secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(unix_ms % 1000));
  return buf;
}

} // namespace

bool parse_level(std::string_view text, level& out) {
  for (auto l : {level::debug, level::info, level::warn, level::error})
    if (text == name_of(l)) {
      out = l;
      return true;
    }
  return false;
}

std::string_view name_of(level l) {
  switch (l) {
  case level::debug:
    return "debug";
  case level::info:
    return "info";
  case level::warn:
    return "warn";
  case level::error:
    return "error";
  }
  return "info";
}

void set_level(level l) {
  threshold.store(l, std::memory_order_relaxed);
}

bool enabled(level l) {
  return l >= threshold.load(std::memory_order_relaxed);
}

std::string render(std::int64_t unix_ms, level l, std::string_view msg,
                   std::initializer_list<field> fields) {
  std::string out = "{\"ts\":\"" + timestamp(unix_ms) + "\",\"level\":\"";
  out += name_of(l);
  out += "\",\"msg\":";
  append_string(out, msg);
  for (const auto& f : fields) {
    // The three keys above are the line's own.
    if (f.key == "ts" || f.key == "level" || f.key == "msg")
      continue;
    out += ',';
    append_string(out, f.key);
    out += ':';
    if (f.is_real)
      out += nlohmann::json(f.real).dump();
    else if (f.is_number)
      out += std::to_string(f.number);
    else
      append_string(out, f.text);
  }
  out += '}';
  return out;
}

void write(level l, std::string_view msg, std::initializer_list<field> fields) {
  if (!enabled(l))
    return;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto line = render(now, l, msg, fields);
  line += '\n';
  // One write(2) a line, so that lines from several threads never mix.
  static std::mutex mutex;
  std::lock_guard<std::mutex> guard{mutex};
  const char* p = line.data();
  auto left = line.size();
  while (left > 0) {
    auto n = ::write(STDERR_FILENO, p, left);
    if (n <= 0)
      return;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

} // namespace hookd::log
