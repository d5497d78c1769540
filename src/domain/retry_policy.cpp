#include "retry_policy.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <stdexcept>
#include <utility>

namespace hookd::domain {

namespace {

using std::chrono::milliseconds;

constexpr long no_answer = 0;
constexpr long success_min = 200;
constexpr long success_max = 299;
constexpr long request_timeout = 408;
constexpr long too_many_requests = 429;
constexpr long server_error_min = 500;
constexpr long service_unavailable = 503;

/// Only the answers that define Retry-After as a request to back off; on
/// other codes the header is advice the schedule already covers.
bool honours_retry_after(long code) {
  return code == too_many_requests || code == service_unavailable;
}

/// The wait a Retry-After asks for, no longer than `cap`. Compared in
/// seconds first so that an absurd header cannot overflow milliseconds.
milliseconds asked_wait(std::int64_t retry_after_s, milliseconds cap) {
  auto cap_s = std::chrono::duration_cast<std::chrono::seconds>(cap).count();
  if (retry_after_s > cap_s)
    return cap;
  return std::min<milliseconds>(std::chrono::seconds{retry_after_s}, cap);
}

// -- Retry-After ------------------------------------------------------------

// The names an HTTP-date spells, case-sensitively (RFC 9110, section 5.6.7).
constexpr std::string_view day_names[]
    = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::string_view long_day_names[]
    = {"Monday", "Tuesday",  "Wednesday", "Thursday",
       "Friday", "Saturday", "Sunday"};
constexpr std::string_view month_names[]
    = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

constexpr std::int64_t seconds_per_day = 24 * 60 * 60;
/// 365.2425 days: only used to find the century of a two-digit year.
constexpr std::int64_t seconds_per_average_year = 31556952;
constexpr int max_four_digit_year = 9999;

struct civil_time {
  std::int64_t year = 0;
  int month = 1; ///< 1 to 12
  int day = 1;
  int hour = 0;
  int minute = 0;
  int second = 0;
};

bool take(std::string_view& s, std::string_view literal) {
  if (s.substr(0, literal.size()) != literal)
    return false;
  s.remove_prefix(literal.size());
  return true;
}

/// Exactly `n` decimal digits.
bool take_digits(std::string_view& s, std::size_t n, int& out) {
  if (s.size() < n)
    return false;
  int value = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    value = value * 10 + (s[i] - '0');
  }
  s.remove_prefix(n);
  out = value;
  return true;
}

/// One of `names`; `index` is its position.
template <std::size_t N>
bool take_name(std::string_view& s, const std::string_view (&names)[N],
               int& index) {
  for (std::size_t i = 0; i < N; ++i) {
    if (take(s, names[i])) {
      index = static_cast<int>(i);
      return true;
    }
  }
  return false;
}

bool take_month(std::string_view& s, civil_time& t) {
  int index = 0;
  if (!take_name(s, month_names, index))
    return false;
  t.month = index + 1;
  return true;
}

/// "08:49:37"
bool take_time_of_day(std::string_view& s, civil_time& t) {
  return take_digits(s, 2, t.hour) && take(s, ":")
         && take_digits(s, 2, t.minute) && take(s, ":")
         && take_digits(s, 2, t.second);
}

bool take_four_digit_year(std::string_view& s, civil_time& t) {
  int year = 0;
  if (!take_digits(s, 4, year))
    return false;
  t.year = year;
  return true;
}

bool leap_year(std::int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

bool valid(const civil_time& t) {
  constexpr int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (t.year < 0 || t.year > max_four_digit_year || t.month < 1 || t.month > 12
      || t.day < 1)
    return false;
  auto days = month_days[t.month - 1] + (t.month == 2 && leap_year(t.year));
  // 60 seconds: a leap second, which the formats allow.
  return t.day <= days && t.hour <= 23 && t.minute <= 59 && t.second <= 60;
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
/// (Howard Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, int m, int d) {
  y -= m <= 2;
  auto era = (y >= 0 ? y : y - 399) / 400;
  auto year_of_era = y - era * 400;
  auto day_of_year = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  auto day_of_era
      = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

std::int64_t epoch_seconds(const civil_time& t) {
  return days_from_civil(t.year, t.month, t.day) * seconds_per_day
         + t.hour * 3600 + t.minute * 60 + t.second;
}

/// "Sun, 06 Nov 1994 08:49:37 GMT", the form senders must use.
bool imf_fixdate(std::string_view s, civil_time& t) {
  int day_name = 0;
  return take_name(s, day_names, day_name) && take(s, ", ")
         && take_digits(s, 2, t.day) && take(s, " ") && take_month(s, t)
         && take(s, " ") && take_four_digit_year(s, t) && take(s, " ")
         && take_time_of_day(s, t) && take(s, " GMT") && s.empty();
}

/// "Sun Nov  6 08:49:37 1994", C's asctime().
bool asctime_date(std::string_view s, civil_time& t) {
  int day_name = 0;
  if (!take_name(s, day_names, day_name) || !take(s, " ") || !take_month(s, t)
      || !take(s, " "))
    return false;
  bool day = take(s, " ") ? take_digits(s, 1, t.day) : take_digits(s, 2, t.day);
  return day && take(s, " ") && take_time_of_day(s, t) && take(s, " ")
         && take_four_digit_year(s, t) && s.empty();
}

/// "Sunday, 06-Nov-94 08:49:37 GMT": a two-digit year that would be more
/// than 50 years after `now_s` is the latest past year with those digits.
bool rfc850_date(std::string_view s, std::int64_t now_s, civil_time& t) {
  int day_name = 0;
  int two_digit_year = 0;
  if (!take_name(s, long_day_names, day_name) || !take(s, ", ")
      || !take_digits(s, 2, t.day) || !take(s, "-") || !take_month(s, t)
      || !take(s, "-") || !take_digits(s, 2, two_digit_year) || !take(s, " ")
      || !take_time_of_day(s, t) || !take(s, " GMT") || !s.empty())
    return false;
  // A year near now's; exact where it matters, at the 50-year line.
  auto century = (1970 + now_s / seconds_per_average_year) / 100 * 100;
  for (auto c = century + 100; c >= century - 100; c -= 100) {
    auto candidate = t;
    candidate.year = c + two_digit_year;
    if (valid(candidate)
        && epoch_seconds(candidate) - now_s <= 50 * seconds_per_average_year) {
      t = candidate;
      return true;
    }
  }
  return false;
}

/// The HTTP-date in `s` as seconds since the epoch.
std::optional<std::int64_t> http_date(std::string_view s, std::int64_t now_s) {
  civil_time t;
  if (!imf_fixdate(s, t) && !asctime_date(s, t) && !rfc850_date(s, now_s, t))
    return std::nullopt;
  if (!valid(t))
    return std::nullopt;
  return epoch_seconds(t);
}

} // namespace

std::int64_t parse_retry_after(std::string_view value, std::int64_t now_s) {
  constexpr auto max = std::numeric_limits<std::int64_t>::max();
  auto ows = [](char c) { return c == ' ' || c == '\t'; };
  while (!value.empty() && ows(value.front()))
    value.remove_prefix(1);
  while (!value.empty() && ows(value.back()))
    value.remove_suffix(1);
  if (!value.empty()
      && value.find_first_not_of("0123456789") == std::string_view::npos) {
    std::int64_t seconds = 0;
    for (char c : value) {
      if (seconds > (max - (c - '0')) / 10)
        return max;
      seconds = seconds * 10 + (c - '0');
    }
    return seconds;
  }
  auto when = http_date(value, now_s);
  if (!when)
    return -1;
  std::int64_t wait = 0;
  // Saturates rather than overflows for a clock far before the epoch.
  if (__builtin_sub_overflow(*when, now_s, &wait))
    return max;
  return std::max<std::int64_t>(wait, 0);
}

retry_policy::retry_policy(std::vector<milliseconds> schedule, double jitter,
                           milliseconds retry_after_max)
    : schedule_(std::move(schedule)), jitter_(jitter),
      retry_after_cap_(retry_after_max) {
  // Written so that NaN fails too.
  if (!(jitter >= 0.0 && jitter <= 1.0))
    throw std::invalid_argument{"retry jitter must be within [0, 1]"};
  if (retry_after_max < milliseconds::zero())
    throw std::invalid_argument{"retry_after_max must not be negative"};
  for (auto wait : schedule_) {
    if (wait < milliseconds::zero())
      throw std::invalid_argument{"retry schedule waits must not be negative"};
    // A receiver may always ask for as much as the schedule itself waits.
    retry_after_cap_ = std::max(retry_after_cap_, wait);
  }
}

bool retry_policy::succeeded(long code) {
  return code >= success_min && code <= success_max;
}

bool retry_policy::retriable(const attempt_outcome& r) {
  if (r.refused)
    return false;
  return r.code == no_answer || r.code == request_timeout
         || r.code == too_many_requests || r.code >= server_error_min;
}

bool retry_policy::inactive_stop(const attempt_outcome& r, bool active) {
  return !active && retriable(r);
}

decision retry_policy::decide(const attempt_outcome& r, std::size_t attempts,
                              bool active, double uniform01) const {
  if (succeeded(r.code))
    return {verdict::succeeded, milliseconds::zero()};
  if (!retriable(r) || !active || attempts >= schedule_.size())
    return {verdict::failed, milliseconds::zero()};

  // Out-of-range draws are clamped (NaN to 0) so that a faulty random
  // source cannot stretch the delay past the jitter promised.
  auto u = uniform01 >= 0.0 ? std::min(uniform01, 1.0) : 0.0;
  // 1 + jitter * (2u - 1) spans [1 - jitter, 1 + jitter) like the draw it
  // replaces, and is exactly 1 at u = 0.5, so the schedule is followed to
  // the millisecond there.
  auto factor = 1.0 + jitter_ * (2.0 * u - 1.0);
  auto base = schedule_[attempts];
  milliseconds delay{static_cast<milliseconds::rep>(
      static_cast<double>(base.count()) * factor)};

  // Honoured, but capped so that a receiver cannot park a delivery; and
  // never shorter than the jittered schedule, so that "Retry-After: 0"
  // cannot turn the retries into a tight loop.
  if (honours_retry_after(r.code) && r.retry_after_s >= 0)
    delay = std::max(delay, asked_wait(r.retry_after_s, retry_after_cap_));
  return {verdict::retry, delay};
}

} // namespace hookd::domain
