#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hookd::crypto {

/// Cryptographically strong random bytes (OpenSSL's RAND_bytes).
std::string random_bytes(std::size_t n);
std::string random_hex(std::size_t bytes);
/// A random (version 4) UUID in its canonical lowercase form.
std::string uuid4();
/// A version 7 UUID (RFC 9562): the time in milliseconds, then a sequence
/// that keeps the ids this process makes in increasing order, then
/// random bits. Ids made one after another sort (as text) in the order
/// they were made, so that their keys are written in order.
std::string uuid7();

std::string to_hex(std::string_view bytes);
std::optional<std::string> from_hex(std::string_view hex);
std::string to_base64(std::string_view bytes);
std::optional<std::string> from_base64(std::string_view text);

std::string sha256(std::string_view data);
std::string sha256_hex(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);

/// Compares in time that depends only on the lengths.
bool equal_constant_time(std::string_view a, std::string_view b);

/// AES-256-GCM with a random 96-bit nonce. The result is
/// nonce || ciphertext || tag; `aad` binds it to its record.
class sealer {
public:
  explicit sealer(std::string key); ///< 32 bytes
  std::string seal(std::string_view plain, std::string_view aad) const;
  std::optional<std::string> open(std::string_view sealed,
                                  std::string_view aad) const;
  /// A stable fingerprint of a secret that shows a rotation without
  /// revealing the secret: HMAC-SHA-256 under a key derived from this
  /// sealer's, in hex. Unlike a plain hash, a weak secret cannot be guessed
  /// from it without the key.
  std::string fingerprint(std::string_view secret) const;

private:
  std::string key_;
  std::string fingerprint_key_;
};

} // namespace hookd::crypto
