// event_from_storage: an event's stored form, as a damaged or foreign
// store could hold it.

#include "fuzz.hpp"
#include "hookd/event.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace hookd;
  event ev;
  if (!event_from_storage(fuzz::text(data, size), ev))
    return 0;
  HOOKD_FUZZ_CHECK(ev.index >= 0 && ev.index < event_count());
  event back;
  HOOKD_FUZZ_CHECK(event_from_storage(event_storage_json(ev), back));
  HOOKD_FUZZ_CHECK(back.id == ev.id && back.index == ev.index
                   && back.org == ev.org && back.project == ev.project
                   && back.subject == ev.subject && back.body == ev.body
                   && back.created_at == ev.created_at && back.hops == ev.hops);
  return 0;
}
