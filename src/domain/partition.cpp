#include "hookd/partition.hpp"

#include "hookd/crypto.hpp"
#include "hookd/defaults.hpp"

namespace hookd {

namespace {

constexpr std::size_t hash_digits = 16;

} // namespace

std::uint64_t fnv1a64(std::string_view text) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string org_token_id(std::string_view org) {
  static constexpr char hex[] = "0123456789abcdef";
  auto h = fnv1a64(org);
  std::string out(hash_digits, '0');
  for (std::size_t i = hash_digits; i-- > 0; h >>= 4)
    out[i] = hex[h & 0xf];
  return out + crypto::random_hex(defaults::token_id_bytes);
}

std::optional<std::uint64_t> org_hash_of_token_id(std::string_view id) {
  // Ids made before they carried the hash are token_id_bytes of hex only.
  if (id.size() != hash_digits + 2 * defaults::token_id_bytes)
    return std::nullopt;
  std::uint64_t h = 0;
  for (std::size_t i = 0; i < hash_digits; ++i) {
    char c = id[i];
    int v = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                   : -1;
    if (v < 0)
      return std::nullopt;
    h = (h << 4) | static_cast<std::uint64_t>(v);
  }
  return h;
}

} // namespace hookd
