#include "hookd/crypto.hpp"

#include <chrono>

#include <gtest/gtest.h>

using namespace hookd::crypto;

TEST(crypto, sha256_known_vector) {
  EXPECT_EQ(sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(crypto, hmac_sha256_rfc4231_case2) {
  EXPECT_EQ(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(crypto, hex_and_base64_round_trip) {
  std::string bytes{"\x00\xff\x10 hookd", 9};
  EXPECT_EQ(*from_hex(to_hex(bytes)), bytes);
  EXPECT_EQ(to_base64("hookd"), "aG9va2Q=");
  EXPECT_EQ(*from_base64(to_base64(bytes)), bytes);
  EXPECT_FALSE(from_hex("abc"));
  EXPECT_FALSE(from_hex("zz"));
  EXPECT_FALSE(from_base64("abc"));
}

TEST(crypto, uuid4_shape) {
  auto id = uuid4();
  ASSERT_EQ(id.size(), 36u);
  EXPECT_EQ(id[14], '4');
  EXPECT_NE(uuid4(), id);
}

TEST(crypto, uuid7_ids_sort_in_the_order_they_were_made) {
  auto id = uuid7();
  ASSERT_EQ(id.size(), 36u);
  EXPECT_EQ(id[14], '7');
  // The RFC 9562 variant: 10xx.
  EXPECT_NE(std::string{"89ab"}.find(id[19]), std::string::npos) << id;
  // Made within one millisecond or not, each sorts after the one before;
  // and the time comes first (48 bits of Unix milliseconds).
  auto before = id;
  for (int i = 0; i < 10000; ++i) {
    auto next = uuid7();
    ASSERT_LT(before, next);
    before = next;
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  auto hex = id.substr(0, 8) + id.substr(9, 4);
  auto stamped = std::stoll(hex, nullptr, 16);
  EXPECT_LE(stamped, ms);
  EXPECT_GT(stamped, ms - 60'000);
}

TEST(crypto, constant_time_equality) {
  EXPECT_TRUE(equal_constant_time("secret", "secret"));
  EXPECT_FALSE(equal_constant_time("secret", "secreT"));
  EXPECT_FALSE(equal_constant_time("secret", "secret2"));
}

TEST(crypto, sealed_secret_opens_only_with_its_key_and_record) {
  sealer s{std::string(32, 'k')};
  auto sealed = s.seal("whsec_topsecret", "hook-1");
  EXPECT_EQ(sealed.find("topsecret"), std::string::npos);
  EXPECT_EQ(*s.open(sealed, "hook-1"), "whsec_topsecret");
  // Bound to its record: moving it to another hook fails.
  EXPECT_FALSE(s.open(sealed, "hook-2"));
  sealer other{std::string(32, 'x')};
  EXPECT_FALSE(other.open(sealed, "hook-1"));
  auto tampered = sealed;
  tampered[14] ^= 1;
  EXPECT_FALSE(s.open(tampered, "hook-1"));
  EXPECT_NE(s.seal("same", "a"), s.seal("same", "a")); // fresh nonces
}
