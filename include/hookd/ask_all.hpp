#pragma once
// One question to many actors, one answer: whether every one said yes.

#include <cstddef>
#include <memory>
#include <vector>

#include <caf/duration.hpp>
#include <caf/error.hpp>

namespace hookd {

/// Sends request `xs` to every one of `targets` (each answers a bool) and
/// calls `done` once, with whether all of them answered true; an error (a
/// target that stopped, a timeout) counts as `error_is`. No targets: true.
template <class Self, class Handle, class Done, class... Ts>
void ask_all(Self* self, const std::vector<Handle>& targets,
             caf::duration timeout, bool error_is, Done done, Ts... xs) {
  if (targets.empty()) {
    done(true);
    return;
  }
  struct tally {
    std::size_t remaining;
    bool all = true;
  };
  auto t = std::make_shared<tally>(tally{targets.size()});
  auto one = [t, done](bool ok) mutable {
    t->all = t->all && ok;
    if (--t->remaining == 0)
      done(t->all);
  };
  for (const auto& target : targets)
    self->request(target, timeout, xs...)
        .then([one](bool ok) mutable { one(ok); },
              [one, error_is](caf::error&) mutable { one(error_is); });
}

} // namespace hookd
