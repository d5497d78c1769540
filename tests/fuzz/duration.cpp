// parse_duration and parse_duration_list: settings such as
// HOOKD_DELIVERY_TIMEOUT and HOOKD_RETRY_SCHEDULE.

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "fuzz.hpp"
#include "hookd/config.hpp"

namespace {

using std::chrono::milliseconds;

/// The duration in the largest unit that holds it exactly.
std::string format(milliseconds d) {
  auto n = d.count();
  if (n % 86400000 == 0)
    return std::to_string(n / 86400000) + "d";
  if (n % 3600000 == 0)
    return std::to_string(n / 3600000) + "h";
  if (n % 60000 == 0)
    return std::to_string(n / 60000) + "m";
  if (n % 1000 == 0)
    return std::to_string(n / 1000) + "s";
  return std::to_string(n) + "ms";
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  std::string text{hookd::fuzz::text(data, size)};
  milliseconds d{0};
  if (hookd::parse_duration(text, d)) {
    HOOKD_FUZZ_CHECK(d.count() >= 0);
    milliseconds again{-1};
    HOOKD_FUZZ_CHECK(hookd::parse_duration(format(d), again) && again == d);
  }
  std::vector<milliseconds> list;
  if (hookd::parse_duration_list(text, list)) {
    auto commas = std::count(text.begin(), text.end(), ',');
    HOOKD_FUZZ_CHECK(list.size() == static_cast<std::size_t>(commas) + 1);
    std::string joined;
    for (auto item : list) {
      HOOKD_FUZZ_CHECK(item.count() >= 0);
      joined += (joined.empty() ? "" : ",") + format(item);
    }
    std::vector<milliseconds> again;
    HOOKD_FUZZ_CHECK(hookd::parse_duration_list(joined, again)
                     && again == list);
  }
  return 0;
}
