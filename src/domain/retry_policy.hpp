#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "hookd/defaults.hpp"

/// Pure decision of what follows a delivery attempt: done, try again after
/// a delay, or give up.
namespace hookd::domain {

/// What one delivery attempt produced, as far as the retry decision cares.
struct attempt_outcome {
  /// HTTP status; 0 when no answer came (timeout, connection refused, ...).
  long code = 0;
  /// Seconds from a Retry-After header; -1 when there was none.
  std::int64_t retry_after_s = -1;
  /// Refused by policy (a private address): trying again cannot help.
  bool refused = false;
};

/// The wait, in whole seconds, that one Retry-After header value asks for
/// (RFC 9110, section 10.2.3): delay-seconds, or an HTTP-date in any of its
/// three forms counted from `now_s` (seconds since the epoch), 0 when that
/// date is past. -1 when the value is neither. A number too large for the
/// result saturates: the policy caps the wait anyway.
std::int64_t parse_retry_after(std::string_view value, std::int64_t now_s);

/// The three ways a delivery can go on after an attempt.
enum class verdict { succeeded, retry, failed };

/// What to do after an attempt; `delay` is the wait before the next attempt
/// and is zero unless `what` is verdict::retry.
struct decision {
  verdict what = verdict::failed;
  std::chrono::milliseconds delay{0};
};

/// The retry rules of a webhook delivery, free of clocks and random sources
/// so that callers can swap it and tests can pin every branch.
class retry_policy {
public:
  /// Spread of a delay by default: up to 20% either way, so that deliveries
  /// that failed together do not come back together.
  static constexpr double default_jitter = 0.2;

  /// `schedule[i]` is the wait before attempt i + 1 (so `schedule[0]` is
  /// the wait before the first attempt, which the caller applies, and
  /// `schedule[attempts]` the wait before the next one); a delivery gets at
  /// most `schedule.size()` attempts. `jitter` spreads each wait by up to
  /// that fraction either way. A Retry-After is honoured up to the longer of
  /// `retry_after_max` and the schedule's longest wait. Throws
  /// std::invalid_argument when `jitter` is outside [0, 1] or a duration is
  /// negative.
  explicit retry_policy(std::vector<std::chrono::milliseconds> schedule,
                        double jitter = default_jitter,
                        std::chrono::milliseconds retry_after_max
                        = defaults::retry_after_max);

  /// Decides what follows an attempt. `attempts`: attempts made so far,
  /// this one included; `active`: the webhook is active; `uniform01`: a
  /// number in [0, 1) from the caller's random source (values outside are
  /// clamped), so that the jitter is deterministic under test.
  decision decide(const attempt_outcome& r, std::size_t attempts, bool active,
                  double uniform01) const;

  /// A 2xx answer.
  static bool succeeded(long code);

  /// No answer, a timeout, 408, 429 and 5xx may pass later; 3xx, other 4xx
  /// and refused addresses won't.
  static bool retriable(const attempt_outcome& r);

  /// An attempt that could have been retried was not because the webhook
  /// is inactive: the caller says so ("webhook inactive: no further
  /// attempts") in the delivery's error. Today's rule: `!active &&
  /// retriable(r)`.
  static bool inactive_stop(const attempt_outcome& r, bool active);

  /// The most attempts one delivery gets.
  std::size_t max_attempts() const {
    return schedule_.size();
  }
  /// The waits before each attempt, as given.
  const std::vector<std::chrono::milliseconds>& schedule() const {
    return schedule_;
  }
  /// The fraction by which a wait is spread either way.
  double jitter() const {
    return jitter_;
  }
  /// The longest wait a Retry-After can ask for: the longer of
  /// `retry_after_max` and the schedule's longest wait.
  std::chrono::milliseconds retry_after_cap() const {
    return retry_after_cap_;
  }

private:
  std::vector<std::chrono::milliseconds> schedule_;
  double jitter_;
  std::chrono::milliseconds retry_after_cap_;
};

} // namespace hookd::domain
