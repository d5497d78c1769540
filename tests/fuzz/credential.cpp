// credential_of: an Authorization header value.

#include <cctype>
#include <string>

#include "fuzz.hpp"
#include "http/routes.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  auto header = hookd::fuzz::text(data, size);
  auto token = hookd::http::credential_of(header);
  if (token.empty())
    return 0;
  HOOKD_FUZZ_CHECK(token.front() != ' ' && token.back() != ' ');
  HOOKD_FUZZ_CHECK(header.find(token) != std::string_view::npos);
  std::string scheme;
  for (char c : header.substr(0, header.find(' ')))
    scheme += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  HOOKD_FUZZ_CHECK(scheme == "token" || scheme == "bearer");
  // What a client sends for the token it was given reads back the same.
  HOOKD_FUZZ_CHECK(hookd::http::credential_of("token " + token) == token);
  HOOKD_FUZZ_CHECK(hookd::http::credential_of("Bearer " + token) == token);
  return 0;
}
