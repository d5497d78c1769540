// from_storage_json and summary_from_storage: a webhook's stored form, as
// a damaged or foreign store could hold it.

#include "fuzz.hpp"
#include "webhook_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace hookd;
  auto text = fuzz::text(data, size);
  auto hook = from_storage_json(text, fuzz::store_sealer());
  auto summary = summary_from_storage(text);
  if (!summary)
    HOOKD_FUZZ_CHECK(code_of(summary.error()) == ec::internal);
  if (!hook) {
    HOOKD_FUZZ_CHECK(code_of(hook.error()) == ec::internal);
    return 0;
  }
  // The summary reads what the full form reads, but for the secret.
  HOOKD_FUZZ_CHECK(summary && fuzz::same(*summary, summary_of(*hook)));
  fuzz::check_stored(*hook);
  return 0;
}
