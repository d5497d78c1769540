#include "retry_policy.hpp"

#include <algorithm>
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

} // namespace

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
