// percent_decode: a path segment or a query value from the wire.

#include <string>

#include "fuzz.hpp"
#include "http/routes.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  auto in = hookd::fuzz::text(data, size);
  std::string out;
  if (!hookd::http::percent_decode(in, out)) {
    HOOKD_FUZZ_CHECK(in.find('%') != std::string_view::npos);
    return 0;
  }
  HOOKD_FUZZ_CHECK(out.size() <= in.size());
  if (in.find('%') == std::string_view::npos)
    HOOKD_FUZZ_CHECK(out == in);
  std::string again;
  HOOKD_FUZZ_CHECK(
      hookd::http::percent_decode(hookd::fuzz::percent_encode(out), again));
  HOOKD_FUZZ_CHECK(again == out);
  return 0;
}
