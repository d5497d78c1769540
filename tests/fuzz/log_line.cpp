// log::render: whatever a message and its fields hold (quotes, control
// characters, bytes that are not UTF-8, forged "ts"/"level"/"msg" keys),
// the line is one JSON object on one line, with hookd's own ts, level and
// msg, and every other field once.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz.hpp"
#include "hookd/log.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using hookd::log::field;
  auto input = hookd::fuzz::text(data, size);
  // "msg \n key=value \n key=value ...": up to three fields, the last a
  // number when it parses as one.
  auto [msg, rest] = hookd::fuzz::split(input, '\n');
  std::vector<std::pair<std::string, std::string>> parts;
  while (!rest.empty() && parts.size() < 3) {
    auto [line, more] = hookd::fuzz::split(rest, '\n');
    auto [key, value] = hookd::fuzz::split(line, '=');
    parts.emplace_back(std::string{key}, std::string{value});
    rest = more;
  }
  std::string line;
  long long number = static_cast<long long>(size) * 7919 - 40000;
  switch (parts.size()) {
  case 0:
    line = hookd::log::render(0, hookd::log::level::info, msg, {});
    break;
  case 1:
    line = hookd::log::render(1, hookd::log::level::warn, msg,
                              {{parts[0].first, parts[0].second}});
    break;
  case 2:
    line = hookd::log::render(
        1795801541123, hookd::log::level::error, msg,
        {{parts[0].first, parts[0].second}, {parts[1].first, number}});
    break;
  default:
    line = hookd::log::render(
        253402300799999, hookd::log::level::debug, msg,
        {{parts[0].first, parts[0].second},
         {parts[1].first, parts[1].second},
         {parts[2].first, 0.25 * static_cast<double>(number)}});
    break;
  }
  HOOKD_FUZZ_CHECK(line.find('\n') == std::string::npos);
  auto j = nlohmann::json::parse(line, nullptr, false);
  HOOKD_FUZZ_CHECK(j.is_object());
  HOOKD_FUZZ_CHECK(j["ts"].is_string()
                   && j["ts"].get<std::string>().size() >= 24);
  HOOKD_FUZZ_CHECK(j["level"].is_string());
  HOOKD_FUZZ_CHECK(j["msg"].is_string());
  for (const auto& [key, value] : parts) {
    if (key == "ts" || key == "level" || key == "msg")
      continue;
    // The key may have been repaired (bytes that are not UTF-8); a valid
    // one is there as it was given.
    auto valid = nlohmann::json::parse("\"" + key + "\"", nullptr, false);
    if (valid.is_string() && key.find('"') == std::string::npos
        && key.find('\\') == std::string::npos)
      HOOKD_FUZZ_CHECK(j.contains(key));
  }
  return 0;
}
