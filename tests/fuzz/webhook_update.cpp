// apply_update: the body of PATCH .../hooks/{name}. Input: one byte
// choosing the webhook it applies to, then the body.

#include "fuzz.hpp"
#include "webhook_checks.hpp"

namespace {

hookd::webhook existing(unsigned choice) {
  static const char* const formats[]
      = {"raw", "slack", "ms_teams", "pulumi_deployments"};
  hookd::webhook hook;
  hook.where = hookd::fuzz::scope_of(choice);
  hook.name = "deploys";
  hook.id = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
  hook.display_name = "Deploy notifications";
  hook.payload_url = "https://example.com/hooks/pulumi";
  hook.active = true;
  hook.format = formats[(choice / 3) % 4];
  if ((choice / 12) % 2 == 1)
    hook.secret = "s3cr3t";
  hook.filters = {"update_succeeded"};
  hook.created_at = 1700000000;
  return hook;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace hookd;
  auto body = fuzz::text(data, size);
  auto hook = existing(fuzz::choose(body));
  const auto& rules = fuzz::default_rules();
  auto next = apply_update(body, rules, hook);
  if (!next) {
    HOOKD_FUZZ_CHECK(code_of(next.error()) == ec::bad_request);
    HOOKD_FUZZ_CHECK(!message_of(next.error()).empty());
    return 0;
  }
  // An update changes what the webhook does, never which webhook it is.
  HOOKD_FUZZ_CHECK(fuzz::same(next->where, hook.where));
  HOOKD_FUZZ_CHECK(next->name == hook.name && next->id == hook.id);
  HOOKD_FUZZ_CHECK(next->created_at == hook.created_at);
  // A PATCH sent twice (a client's retry) changes nothing more.
  auto twice = apply_update(body, rules, *next);
  HOOKD_FUZZ_CHECK(twice && fuzz::same(*twice, *next));
  fuzz::check_accepted(*next, rules);
  return 0;
}
