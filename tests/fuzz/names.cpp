// valid_hook_name, valid_path_name and valid_uuid: names and ids from
// paths and bodies, against the rules the README states.

#include <algorithm>
#include <cctype>

#include "fuzz.hpp"
#include "hookd/defaults.hpp"
#include "hookd/event.hpp"
#include "hookd/webhook.hpp"

namespace {

bool name_characters(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_'
           || c == '-';
  });
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  auto s = hookd::fuzz::text(data, size);
  bool named = !s.empty() && s != "." && s != ".." && name_characters(s);
  HOOKD_FUZZ_CHECK(hookd::valid_hook_name(s)
                   == (named && s.size() <= hookd::defaults::hook_name_max));
  HOOKD_FUZZ_CHECK(hookd::valid_path_name(s)
                   == (named && s.size() <= hookd::defaults::path_name_max));
  if (hookd::valid_uuid(s)) {
    HOOKD_FUZZ_CHECK(s.size() == 36);
    for (std::size_t i = 0; i < s.size(); ++i) {
      bool dash = i == 8 || i == 13 || i == 18 || i == 23;
      HOOKD_FUZZ_CHECK(dash ? s[i] == '-'
                            : std::isxdigit(static_cast<unsigned char>(s[i])));
    }
    // A UUID is a valid name, so that it can sit in a path and a key.
    HOOKD_FUZZ_CHECK(hookd::valid_path_name(s));
  }
  return 0;
}
