// parse_outside_json: every JSON body from a client goes through it first
// (webhooks, events, tokens).

#include <nlohmann/json.hpp>

#include "fuzz.hpp"
#include "json_error.hpp"

namespace {

template <class Json> void check(const caf::expected<Json>& parsed) {
  if (!parsed) {
    HOOKD_FUZZ_CHECK(hookd::code_of(parsed.error()) == hookd::ec::bad_request);
    HOOKD_FUZZ_CHECK(!hookd::message_of(parsed.error()).empty());
    return;
  }
  // What it accepted can be written out and read back as itself.
  auto text = parsed->dump();
  HOOKD_FUZZ_CHECK(hookd::json_depth(text, hookd::max_json_depth)
                   <= hookd::max_json_depth);
  auto again = hookd::parse_outside_json<Json>(text);
  HOOKD_FUZZ_CHECK(again && *again == *parsed);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  auto text = hookd::fuzz::text(data, size);
  auto plain = hookd::parse_outside_json<nlohmann::json>(text);
  auto ordered = hookd::parse_outside_json<nlohmann::ordered_json>(text);
  HOOKD_FUZZ_CHECK(static_cast<bool>(plain) == static_cast<bool>(ordered));
  check(plain);
  check(ordered);
  return 0;
}
