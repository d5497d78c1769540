// parse_events: the body of POST /api/orgs/{org}/events, one event or a
// batch.

#include <nlohmann/json.hpp>

#include "fuzz.hpp"
#include "hookd/defaults.hpp"
#include "hookd/event.hpp"
#include "hookd/webhook.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace hookd;
  const std::string org = "acme";
  auto parsed
      = parse_events(fuzz::text(data, size), org, defaults::max_event_batch);
  if (!parsed) {
    HOOKD_FUZZ_CHECK(code_of(parsed.error()) == ec::bad_request);
    HOOKD_FUZZ_CHECK(!message_of(parsed.error()).empty());
    return 0;
  }
  const auto& events = parsed->events;
  HOOKD_FUZZ_CHECK(!events.empty());
  HOOKD_FUZZ_CHECK(events.size() <= defaults::max_event_batch);
  HOOKD_FUZZ_CHECK(parsed->batch || events.size() == 1);
  for (const auto& ev : events) {
    HOOKD_FUZZ_CHECK(valid_uuid(ev.id));
    HOOKD_FUZZ_CHECK(ev.index >= 0 && ev.index < event_count());
    HOOKD_FUZZ_CHECK(ev.org == org);
    HOOKD_FUZZ_CHECK(valid_path_name(ev.project));
    HOOKD_FUZZ_CHECK(valid_path_name(ev.subject));
    HOOKD_FUZZ_CHECK(ev.hops == 0);
    // The payload is Pulumi's object, always naming the organization.
    auto body = nlohmann::json::parse(ev.body);
    HOOKD_FUZZ_CHECK(body.is_object() && body.contains("organization"));
    auto scopes = ev.target_scopes();
    HOOKD_FUZZ_CHECK(!scopes.empty() && scopes.front().kind == scope_kind::org);
    // Stored and read back, it is the same event.
    event back;
    HOOKD_FUZZ_CHECK(event_from_storage(event_storage_json(ev), back));
    HOOKD_FUZZ_CHECK(back.id == ev.id && back.index == ev.index
                     && back.org == ev.org && back.project == ev.project
                     && back.subject == ev.subject && back.body == ev.body
                     && back.created_at == ev.created_at
                     && back.hops == ev.hops);
  }
  return 0;
}
