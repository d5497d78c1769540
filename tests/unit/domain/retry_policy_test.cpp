#include "retry_policy.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

using namespace hookd::domain;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

namespace {

/// hookd's default schedule, "0s,5s,5m,30m,2h,5h,10h,10h".
const std::vector<milliseconds> default_schedule{0s, 5s, 5min, 30min,
                                                 2h, 5h, 10h,  10h};

/// The draw that leaves every wait exactly as scheduled.
constexpr double middle = 0.5;
/// The largest draw below 1: the longest wait jitter can give.
const double just_below_one = std::nextafter(1.0, 0.0);

attempt_outcome answer(long code, std::int64_t retry_after_s = -1) {
  attempt_outcome r;
  r.code = code;
  r.retry_after_s = retry_after_s;
  return r;
}

/// Durations as numbers, so that failures print readably.
milliseconds::rep ms(milliseconds d) {
  return d.count();
}

retry_policy default_policy() {
  return retry_policy{default_schedule};
}

} // namespace

TEST(retry_policy, follows_the_schedule_exactly_at_the_middle_draw) {
  auto policy = default_policy();
  for (std::size_t attempts = 1; attempts < default_schedule.size();
       ++attempts) {
    auto d = policy.decide(answer(500), attempts, true, middle);
    EXPECT_EQ(d.what, verdict::retry) << attempts;
    EXPECT_EQ(ms(d.delay), ms(default_schedule[attempts])) << attempts;
  }
}

TEST(retry_policy, jitter_stays_within_twenty_percent) {
  auto policy = default_policy();
  for (std::size_t attempts = 1; attempts < default_schedule.size();
       ++attempts) {
    auto base = default_schedule[attempts];
    auto low = policy.decide(answer(0), attempts, true, 0.0);
    auto high = policy.decide(answer(0), attempts, true, just_below_one);
    // Within a millisecond of the bounds: the delay is truncated to whole
    // milliseconds, and a draw just below 1 rounds to the upper bound.
    EXPECT_GE(ms(low.delay), ms(base * 8 / 10 - 1ms)) << attempts;
    EXPECT_LE(ms(low.delay), ms(base * 8 / 10)) << attempts;
    EXPECT_LE(ms(high.delay), ms(base * 12 / 10)) << attempts;
    EXPECT_GE(ms(high.delay), ms(base * 12 / 10 - 1ms)) << attempts;
  }
}

TEST(retry_policy, jitter_is_configurable) {
  retry_policy none{default_schedule, 0.0};
  EXPECT_EQ(ms(none.decide(answer(500), 2, true, 0.0).delay), ms(5min));
  EXPECT_EQ(ms(none.decide(answer(500), 2, true, just_below_one).delay),
            ms(5min));
  retry_policy half{default_schedule, 0.5};
  EXPECT_EQ(ms(half.decide(answer(500), 1, true, 0.0).delay), ms(2500ms));
}

TEST(retry_policy, draws_outside_the_unit_interval_are_clamped) {
  auto policy = default_policy();
  EXPECT_EQ(ms(policy.decide(answer(500), 1, true, -3.0).delay), ms(4000ms));
  EXPECT_EQ(ms(policy.decide(answer(500), 1, true, 7.0).delay), ms(6000ms));
  EXPECT_EQ(ms(policy.decide(answer(500), 1, true, std::nan("")).delay),
            ms(4000ms));
}

TEST(retry_policy, last_attempt_fails) {
  auto policy = default_policy();
  auto last = default_schedule.size();
  EXPECT_EQ(policy.decide(answer(500), last - 1, true, middle).what,
            verdict::retry);
  auto d = policy.decide(answer(500), last, true, middle);
  EXPECT_EQ(d.what, verdict::failed);
  EXPECT_EQ(ms(d.delay), ms(0ms));
  EXPECT_EQ(policy.decide(answer(500), last + 1, true, middle).what,
            verdict::failed);
  EXPECT_EQ(policy.max_attempts(), last);
}

TEST(retry_policy, success_ends_the_delivery_even_on_the_last_attempt) {
  auto policy = default_policy();
  for (long code : {200L, 201L, 204L, 299L}) {
    auto d
        = policy.decide(answer(code), default_schedule.size(), false, middle);
    EXPECT_EQ(d.what, verdict::succeeded) << code;
    EXPECT_EQ(ms(d.delay), ms(0ms)) << code;
  }
}

TEST(retry_policy, client_errors_and_redirects_fail_at_once) {
  auto policy = default_policy();
  for (long code : {100L, 199L, 300L, 301L, 302L, 304L, 400L, 401L, 403L, 404L,
                    410L, 422L, 499L}) {
    auto d = policy.decide(answer(code), 1, true, middle);
    EXPECT_EQ(d.what, verdict::failed) << code;
    EXPECT_FALSE(retry_policy::retriable(answer(code))) << code;
  }
}

TEST(retry_policy, timeouts_throttling_server_errors_and_no_answer_retry) {
  auto policy = default_policy();
  for (long code : {0L, 408L, 429L, 500L, 502L, 503L, 504L, 599L}) {
    auto d = policy.decide(answer(code), 1, true, middle);
    EXPECT_EQ(d.what, verdict::retry) << code;
    EXPECT_EQ(ms(d.delay), ms(5s)) << code;
    EXPECT_TRUE(retry_policy::retriable(answer(code))) << code;
  }
}

TEST(retry_policy, refused_address_fails_at_once) {
  auto policy = default_policy();
  auto r = answer(0);
  r.refused = true;
  EXPECT_FALSE(retry_policy::retriable(r));
  EXPECT_EQ(policy.decide(r, 1, true, middle).what, verdict::failed);
  EXPECT_FALSE(retry_policy::inactive_stop(r, false));
}

TEST(retry_policy, inactive_webhook_fails_and_says_why) {
  auto policy = default_policy();
  auto d = policy.decide(answer(503), 1, false, middle);
  EXPECT_EQ(d.what, verdict::failed);
  EXPECT_TRUE(retry_policy::inactive_stop(answer(503), false));
  EXPECT_TRUE(retry_policy::inactive_stop(answer(0), false));
  // Nothing to explain when the attempt could not have been retried anyway
  // or the webhook is active.
  EXPECT_FALSE(retry_policy::inactive_stop(answer(404), false));
  EXPECT_FALSE(retry_policy::inactive_stop(answer(200), false));
  EXPECT_FALSE(retry_policy::inactive_stop(answer(503), true));
}

TEST(retry_policy, success_codes) {
  EXPECT_FALSE(retry_policy::succeeded(0));
  EXPECT_FALSE(retry_policy::succeeded(199));
  EXPECT_TRUE(retry_policy::succeeded(200));
  EXPECT_TRUE(retry_policy::succeeded(299));
  EXPECT_FALSE(retry_policy::succeeded(300));
}

TEST(retry_policy, retry_after_longer_than_the_schedule_is_honoured) {
  auto policy = default_policy();
  for (long code : {429L, 503L}) {
    auto d = policy.decide(answer(code, 120), 1, true, middle);
    EXPECT_EQ(d.what, verdict::retry) << code;
    EXPECT_EQ(ms(d.delay), ms(120s)) << code;
  }
}

TEST(retry_policy, retry_after_is_capped_by_the_longest_wait_or_an_hour) {
  constexpr std::int64_t ten_days_s = 10 * 24 * 60 * 60;
  // The default schedule's longest wait, 10h, is longer than an hour.
  auto d = default_policy().decide(answer(429, ten_days_s), 1, true, middle);
  EXPECT_EQ(ms(d.delay), ms(10h));
  // A schedule of short waits still honours up to an hour.
  retry_policy short_waits{{0s, 1s, 5s, 1min}};
  d = short_waits.decide(answer(503, ten_days_s), 1, true, middle);
  EXPECT_EQ(ms(d.delay), ms(1h));
  EXPECT_EQ(short_waits.retry_after_cap(), 1h);
  // The cap itself is configurable.
  retry_policy capped{{0s, 1s, 5s, 1min}, 0.2, 2min};
  EXPECT_EQ(ms(capped.decide(answer(503, 3600), 1, true, middle).delay),
            ms(2min));
}

TEST(retry_policy, absurd_retry_after_does_not_overflow) {
  auto d = default_policy().decide(answer(429, INT64_MAX), 1, true, middle);
  EXPECT_EQ(d.what, verdict::retry);
  EXPECT_EQ(ms(d.delay), ms(10h));
}

TEST(retry_policy, retry_after_is_ignored_on_other_codes) {
  auto policy = default_policy();
  for (long code : {0L, 408L, 500L, 502L}) {
    auto d = policy.decide(answer(code, 120), 1, true, middle);
    EXPECT_EQ(ms(d.delay), ms(5s)) << code;
  }
}

TEST(retry_policy, retry_after_shorter_than_the_delay_does_not_shorten_it) {
  auto policy = default_policy();
  EXPECT_EQ(ms(policy.decide(answer(429, 10), 2, true, middle).delay),
            ms(5min));
  EXPECT_EQ(ms(policy.decide(answer(503, 0), 2, true, 0.0).delay), ms(4min));
}

TEST(retry_policy, retry_after_does_not_revive_a_finished_delivery) {
  auto policy = default_policy();
  auto last = default_schedule.size();
  EXPECT_EQ(policy.decide(answer(429, 10), last, true, middle).what,
            verdict::failed);
  EXPECT_EQ(policy.decide(answer(429, 10), 1, false, middle).what,
            verdict::failed);
}

TEST(retry_policy, empty_schedule_never_retries) {
  retry_policy none{{}};
  EXPECT_EQ(none.max_attempts(), 0u);
  EXPECT_EQ(none.decide(answer(500), 1, true, middle).what, verdict::failed);
  EXPECT_EQ(none.decide(answer(200), 1, true, middle).what, verdict::succeeded);
}

TEST(retry_policy, rejects_invalid_parameters) {
  EXPECT_THROW((retry_policy{default_schedule, -0.1}), std::invalid_argument);
  EXPECT_THROW((retry_policy{default_schedule, 1.5}), std::invalid_argument);
  EXPECT_THROW((retry_policy{default_schedule, std::nan("")}),
               std::invalid_argument);
  EXPECT_THROW((retry_policy{{0s, -1s}}), std::invalid_argument);
  EXPECT_THROW((retry_policy{default_schedule, 0.2, -1s}),
               std::invalid_argument);
  EXPECT_NO_THROW((retry_policy{default_schedule, 1.0}));
}

// -- parse_retry_after -------------------------------------------------------

namespace {

/// 1994-11-06 08:49:37 UTC, RFC 9110's example date.
constexpr std::int64_t example_date = 784111777;
/// 2024-01-01 00:00:00 UTC.
constexpr std::int64_t new_year_2024 = 1704067200;
constexpr auto int64_max = std::numeric_limits<std::int64_t>::max();

} // namespace

TEST(parse_retry_after, delay_seconds) {
  EXPECT_EQ(parse_retry_after("120", example_date), 120);
  EXPECT_EQ(parse_retry_after("0", example_date), 0);
  EXPECT_EQ(parse_retry_after(" 5\t", example_date), 5);
}

TEST(parse_retry_after, leading_zeros_do_not_shorten_the_wait) {
  EXPECT_EQ(parse_retry_after("0000000005", example_date), 5);
}

TEST(parse_retry_after, huge_delays_saturate) {
  EXPECT_EQ(parse_retry_after("9223372036854775807", 0), int64_max);
  EXPECT_EQ(parse_retry_after("9223372036854775808", 0), int64_max);
  EXPECT_EQ(parse_retry_after(std::string(400, '9'), 0), int64_max);
}

TEST(parse_retry_after, reads_the_three_http_date_forms) {
  auto now = example_date - 60;
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), 60);
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now), 60);
  EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:37 1994", now), 60);
}

TEST(parse_retry_after, a_past_date_asks_for_no_wait) {
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", new_year_2024),
            0);
}

TEST(parse_retry_after, two_digit_years_past_fifty_years_ahead_are_past) {
  // 2030 is less than 50 years after 2024; 2080 is more, so it is 1980.
  EXPECT_EQ(parse_retry_after("Tuesday, 01-Jan-30 00:00:00 GMT", new_year_2024),
            1893456000 - new_year_2024);
  EXPECT_EQ(parse_retry_after("Tuesday, 01-Jan-80 00:00:00 GMT", new_year_2024),
            0);
}

TEST(parse_retry_after, leap_days_and_leap_seconds) {
  EXPECT_EQ(parse_retry_after("Thu, 29 Feb 2024 00:00:00 GMT", new_year_2024),
            1709164800 - new_year_2024);
  EXPECT_EQ(parse_retry_after("Wed, 29 Feb 2023 00:00:00 GMT", 0), -1);
  EXPECT_EQ(parse_retry_after("Sat, 31 Dec 2016 23:59:60 GMT", 1483228799), 1);
}

TEST(parse_retry_after, anything_else_is_unreadable) {
  for (const char* value :
       {"", " ", "soon", "-5", "+5", "1.5", "5s", "0x10",
        "sun, 06 nov 1994 08:49:37 gmt", "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT trailing", "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49 GMT", "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sun Nov 06 08:49:37 94"})
    EXPECT_EQ(parse_retry_after(value, example_date), -1) << value;
}

TEST(parse_retry_after, a_clock_far_before_the_epoch_saturates) {
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT",
                              std::numeric_limits<std::int64_t>::min()),
            int64_max);
}
