#include "hookd/crypto.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace hookd::crypto {

namespace {

constexpr std::size_t gcm_nonce_bytes = 12;
constexpr std::size_t gcm_tag_bytes = 16;
constexpr std::size_t aes256_key_bytes = 32;

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

unsigned char* bytes(std::string& s) {
  return reinterpret_cast<unsigned char*>(s.data());
}

struct cipher_ctx {
  EVP_CIPHER_CTX* ptr = EVP_CIPHER_CTX_new();
  ~cipher_ctx() {
    EVP_CIPHER_CTX_free(ptr);
  }
};

} // namespace

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(bytes(out), static_cast<int>(n)) != 1)
    throw std::runtime_error("no randomness available");
  return out;
}

std::string random_hex(std::size_t n) {
  return to_hex(random_bytes(n));
}

std::string uuid4() {
  auto b = random_bytes(16);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);
  auto h = to_hex(b);
  return h.substr(0, 8) + '-' + h.substr(8, 4) + '-' + h.substr(12, 4) + '-'
         + h.substr(16, 4) + '-' + h.substr(20);
}

std::string uuid7() {
  // (milliseconds << 12) | sequence of the last id made: the next one is
  // past it, even within one millisecond or with the clock set back.
  static std::atomic<std::uint64_t> last{0};
  auto ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  std::uint64_t want = (ms & 0xffffffffffffULL) << 12;
  auto prev = last.load(std::memory_order_relaxed);
  std::uint64_t next;
  do {
    next = std::max(want, prev + 1);
  } while (!last.compare_exchange_weak(prev, next, std::memory_order_relaxed));
  auto b = random_bytes(16);
  auto stamp = next >> 12;
  for (int i = 0; i < 6; ++i)
    b[i] = static_cast<char>((stamp >> (8 * (5 - i))) & 0xff);
  b[6] = static_cast<char>(0x70 | ((next >> 8) & 0x0f));
  b[7] = static_cast<char>(next & 0xff);
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);
  auto h = to_hex(b);
  return h.substr(0, 8) + '-' + h.substr(8, 4) + '-' + h.substr(12, 4) + '-'
         + h.substr(16, 4) + '-' + h.substr(20);
}

std::string to_hex(std::string_view data) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (unsigned char c : data) {
    out += digits[c >> 4];
    out += digits[c & 0x0f];
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0)
    return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]);
    int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out += static_cast<char>((hi << 4) | lo);
  }
  return out;
}

std::string to_base64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n
      = EVP_EncodeBlock(bytes(out), bytes(data), static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> from_base64(std::string_view text) {
  if (text.size() % 4 != 0)
    return std::nullopt;
  std::string out(3 * text.size() / 4 + 1, '\0');
  int n
      = EVP_DecodeBlock(bytes(out), bytes(text), static_cast<int>(text.size()));
  if (n < 0)
    return std::nullopt;
  // EVP_DecodeBlock counts padding as zero bytes; take them off.
  std::size_t len = static_cast<std::size_t>(n);
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it)
    --len;
  out.resize(len);
  return out;
}

std::string sha256(std::string_view data) {
  std::string out(32, '\0');
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), bytes(out), &len, EVP_sha256(), nullptr);
  return out;
}

std::string sha256_hex(std::string_view data) {
  return to_hex(sha256(data));
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  char digest_name[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string("digest", digest_name, 0),
      OSSL_PARAM_construct_end(),
  };
  std::string out(32, '\0');
  std::size_t len = 0;
  bool ok = EVP_MAC_init(ctx, bytes(key), key.size(), params) == 1
            && EVP_MAC_update(ctx, bytes(data), data.size()) == 1
            && EVP_MAC_final(ctx, bytes(out), &len, out.size()) == 1;
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  if (!ok)
    throw std::runtime_error("HMAC-SHA256 failed");
  out.resize(len);
  return out;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

sealer::sealer(std::string key) : key_(std::move(key)) {
  if (key_.size() != aes256_key_bytes)
    throw std::invalid_argument("the master key must be 32 bytes");
  // A key of its own: what a fingerprint reveals says nothing about the
  // key that seals.
  fingerprint_key_ = hmac_sha256(key_, "hookd secret fingerprint v1");
}

std::string sealer::fingerprint(std::string_view secret) const {
  return to_hex(hmac_sha256(fingerprint_key_, secret));
}

std::string sealer::seal(std::string_view plain, std::string_view aad) const {
  auto nonce = random_bytes(gcm_nonce_bytes);
  std::string out = nonce;
  out.resize(gcm_nonce_bytes + plain.size() + gcm_tag_bytes);
  cipher_ctx ctx;
  int len = 0;
  auto* cipher = bytes(out) + gcm_nonce_bytes;
  bool ok = EVP_EncryptInit_ex2(ctx.ptr, EVP_aes_256_gcm(), bytes(key_),
                                bytes(nonce), nullptr)
                == 1
            && EVP_EncryptUpdate(ctx.ptr, nullptr, &len, bytes(aad),
                                 static_cast<int>(aad.size()))
                   == 1
            && EVP_EncryptUpdate(ctx.ptr, cipher, &len, bytes(plain),
                                 static_cast<int>(plain.size()))
                   == 1
            && EVP_EncryptFinal_ex(ctx.ptr, cipher + len, &len) == 1
            && EVP_CIPHER_CTX_ctrl(ctx.ptr, EVP_CTRL_GCM_GET_TAG, gcm_tag_bytes,
                                   cipher + plain.size())
                   == 1;
  if (!ok)
    throw std::runtime_error("AES-256-GCM encryption failed");
  return out;
}

std::optional<std::string> sealer::open(std::string_view sealed,
                                        std::string_view aad) const {
  if (sealed.size() < gcm_nonce_bytes + gcm_tag_bytes)
    return std::nullopt;
  auto nonce = sealed.substr(0, gcm_nonce_bytes);
  auto cipher = sealed.substr(gcm_nonce_bytes,
                              sealed.size() - gcm_nonce_bytes - gcm_tag_bytes);
  std::string tag{sealed.substr(sealed.size() - gcm_tag_bytes)};
  std::string plain(cipher.size(), '\0');
  cipher_ctx ctx;
  int len = 0;
  bool ok = EVP_DecryptInit_ex2(ctx.ptr, EVP_aes_256_gcm(), bytes(key_),
                                bytes(nonce), nullptr)
                == 1
            && EVP_DecryptUpdate(ctx.ptr, nullptr, &len, bytes(aad),
                                 static_cast<int>(aad.size()))
                   == 1
            && EVP_DecryptUpdate(ctx.ptr, bytes(plain), &len, bytes(cipher),
                                 static_cast<int>(cipher.size()))
                   == 1
            && EVP_CIPHER_CTX_ctrl(ctx.ptr, EVP_CTRL_GCM_SET_TAG, gcm_tag_bytes,
                                   tag.data())
                   == 1
            && EVP_DecryptFinal_ex(ctx.ptr, bytes(plain) + len, &len) == 1;
  if (!ok)
    return std::nullopt;
  return plain;
}

} // namespace hookd::crypto
