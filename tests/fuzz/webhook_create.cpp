// parse_create: the body of POST .../hooks. Input: one byte choosing the
// scope, then the body.

#include "fuzz.hpp"
#include "webhook_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace hookd;
  auto body = fuzz::text(data, size);
  auto where = fuzz::scope_of(fuzz::choose(body));
  const auto& rules = fuzz::default_rules();
  auto hook = parse_create(body, where, rules);
  if (!hook) {
    HOOKD_FUZZ_CHECK(code_of(hook.error()) == ec::bad_request);
    HOOKD_FUZZ_CHECK(!message_of(hook.error()).empty());
    return 0;
  }
  HOOKD_FUZZ_CHECK(fuzz::same(hook->where, where));
  hook->id = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
  hook->created_at = 1700000000;
  fuzz::check_accepted(*hook, rules);
  return 0;
}
