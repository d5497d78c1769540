// parse_retry_after: a receiver's Retry-After header value. Input: eight
// bytes that set the clock, then the value.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <limits>
#include <string>

#include "fuzz.hpp"
#include "retry_policy.hpp"

namespace {

using hookd::domain::parse_retry_after;

/// The last second of the year 9999: HTTP-dates have four-digit years.
constexpr std::int64_t last_second = 253402300799;
/// 50 years of 365 days: a little short of the 50 years within which a
/// two-digit year is read as the nearest.
constexpr std::int64_t fifty_years = 50LL * 365 * 24 * 3600;

std::int64_t take_time(std::string_view& s) {
  std::uint64_t raw = 0;
  auto n = std::min(s.size(), sizeof raw);
  std::memcpy(&raw, s.data(), n);
  s.remove_prefix(n);
  return static_cast<std::int64_t>(raw % (last_second + 1));
}

/// `t` as strftime writes it in the C locale.
std::string format(std::int64_t t, const char* pattern) {
  std::time_t when = t;
  std::tm tm{};
  gmtime_r(&when, &tm);
  char out[64];
  auto n = std::strftime(out, sizeof out, pattern, &tm);
  return std::string(out, n);
}

/// delay-seconds the slow way: saturating at the largest result.
std::int64_t decimal(std::string_view digits) {
  constexpr auto max = std::numeric_limits<std::int64_t>::max();
  unsigned __int128 n = 0;
  for (char c : digits) {
    n = n * 10 + static_cast<unsigned>(c - '0');
    if (n > static_cast<unsigned __int128>(max))
      return max;
  }
  return static_cast<std::int64_t>(n);
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  auto input = hookd::fuzz::text(data, size);
  auto now = take_time(input);
  auto wait = parse_retry_after(input, now);
  HOOKD_FUZZ_CHECK(wait >= -1);
  auto value = trimmed(input);
  if (!value.empty()
      && value.find_first_not_of("0123456789") == std::string_view::npos)
    HOOKD_FUZZ_CHECK(wait == decimal(value));

  // The same bytes as a date, written by the C library in each form.
  auto when = take_time(input);
  auto expected = std::max<std::int64_t>(0, when - now);
  HOOKD_FUZZ_CHECK(
      parse_retry_after(format(when, "%a, %d %b %Y %H:%M:%S GMT"), now)
      == expected);
  HOOKD_FUZZ_CHECK(parse_retry_after(format(when, "%a %b %e %H:%M:%S %Y"), now)
                   == expected);
  // Two-digit years are read as the nearest, so exactly near now.
  auto rfc850
      = parse_retry_after(format(when, "%A, %d-%b-%y %H:%M:%S GMT"), now);
  if (when - now < fifty_years && now - when < fifty_years)
    HOOKD_FUZZ_CHECK(rfc850 == expected);
  else // a date 29 February may have no year with its digits to go back to
    HOOKD_FUZZ_CHECK(rfc850 >= 0 || format(when, "%m-%d") == "02-29");
  return 0;
}
