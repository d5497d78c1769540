#include "address_class.hpp"

#include <arpa/inet.h>

#include <array>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace hookd::domain {

// Failures name the class rather than print its number.
void PrintTo(address_class c, std::ostream* os) {
  *os << to_string(c);
}

} // namespace hookd::domain

using namespace hookd::domain;

namespace {

using ac = address_class;

struct expectation {
  const char* text;
  address_class expected;
};

/// Classifies each address and checks both its class and that only public
/// unicast addresses count as publicly routable.
void check(const std::vector<expectation>& table) {
  for (const auto& [text, expected] : table) {
    auto got = classify(text);
    ASSERT_TRUE(got.has_value()) << text;
    EXPECT_EQ(*got, expected) << text;
    EXPECT_EQ(publicly_routable(*got), expected == ac::public_unicast) << text;
  }
}

} // namespace

// First and last address of every range, and the neighbours on each side.
TEST(address_class, ipv4_range_boundaries) {
  check({
      {"0.0.0.0", ac::this_network},
      {"0.255.255.255", ac::this_network},
      {"1.0.0.0", ac::public_unicast},

      {"9.255.255.255", ac::public_unicast},
      {"10.0.0.0", ac::private_use},
      {"10.255.255.255", ac::private_use},
      {"11.0.0.0", ac::public_unicast},

      {"100.63.255.255", ac::public_unicast},
      {"100.64.0.0", ac::carrier_grade_nat},
      {"100.127.255.255", ac::carrier_grade_nat},
      {"100.128.0.0", ac::public_unicast},

      {"126.255.255.255", ac::public_unicast},
      {"127.0.0.0", ac::loopback},
      {"127.0.0.1", ac::loopback},
      {"127.255.255.255", ac::loopback},
      {"128.0.0.0", ac::public_unicast},

      {"169.253.255.255", ac::public_unicast},
      {"169.254.0.0", ac::link_local},
      {"169.254.169.254", ac::link_local},
      {"169.254.255.255", ac::link_local},
      {"169.255.0.0", ac::public_unicast},

      {"172.15.255.255", ac::public_unicast},
      {"172.16.0.0", ac::private_use},
      {"172.31.255.255", ac::private_use},
      {"172.32.0.0", ac::public_unicast},

      {"191.255.255.255", ac::public_unicast},
      {"192.0.0.0", ac::protocol_assignments},
      {"192.0.0.255", ac::protocol_assignments},
      {"192.0.1.0", ac::public_unicast},

      {"192.0.1.255", ac::public_unicast},
      {"192.0.2.0", ac::documentation},
      {"192.0.2.255", ac::documentation},
      {"192.0.3.0", ac::public_unicast},

      {"192.167.255.255", ac::public_unicast},
      {"192.168.0.0", ac::private_use},
      {"192.168.255.255", ac::private_use},
      {"192.169.0.0", ac::public_unicast},

      {"198.17.255.255", ac::public_unicast},
      {"198.18.0.0", ac::benchmarking},
      {"198.19.255.255", ac::benchmarking},
      {"198.20.0.0", ac::public_unicast},

      {"198.51.99.255", ac::public_unicast},
      {"198.51.100.0", ac::documentation},
      {"198.51.100.255", ac::documentation},
      {"198.51.101.0", ac::public_unicast},

      {"203.0.112.255", ac::public_unicast},
      {"203.0.113.0", ac::documentation},
      {"203.0.113.255", ac::documentation},
      {"203.0.114.0", ac::public_unicast},

      {"223.255.255.255", ac::public_unicast},
      {"224.0.0.0", ac::multicast},
      {"239.255.255.255", ac::multicast},
      {"240.0.0.0", ac::reserved},
      {"255.255.255.254", ac::reserved},
      {"255.255.255.255", ac::broadcast},

      {"8.8.8.8", ac::public_unicast},
      {"1.1.1.1", ac::public_unicast},
  });
}

TEST(address_class, ipv6_range_boundaries) {
  check({
      {"::", ac::unspecified},
      {"::1", ac::loopback},

      {"2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ac::public_unicast},
      {"2001::", ac::teredo},
      {"2001:0:ffff:ffff:ffff:ffff:ffff:ffff", ac::teredo},
      {"2001:1::", ac::public_unicast},

      {"2001:1:ffff:ffff:ffff:ffff:ffff:ffff", ac::public_unicast},
      {"2001:2::", ac::benchmarking},
      {"2001:2:0:ffff:ffff:ffff:ffff:ffff", ac::benchmarking},
      {"2001:2:1::", ac::public_unicast},

      {"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", ac::public_unicast},
      {"2001:db8::", ac::documentation},
      {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", ac::documentation},
      {"2001:db9::", ac::public_unicast},

      {"3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ac::public_unicast},
      {"3fff::", ac::documentation},
      {"3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", ac::documentation},
      {"3fff:1000::", ac::public_unicast},

      // Only 2000::/3 is allocated for global unicast.
      {"1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ac::reserved},
      {"2000::", ac::public_unicast},
      {"3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ac::public_unicast},
      {"4000::", ac::reserved},

      {"ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ac::reserved},
      {"100::", ac::discard},
      {"100::ffff:ffff:ffff:ffff", ac::discard},
      {"100:0:0:1::", ac::reserved},

      {"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ac::reserved},
      {"fc00::", ac::unique_local},
      {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ac::unique_local},
      {"fe00::", ac::reserved},

      {"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ac::reserved},
      {"fe80::", ac::link_local},
      {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ac::link_local},

      {"fec0::", ac::site_local},
      {"feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ac::site_local},

      {"ff00::", ac::multicast},
      {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ac::multicast},
  });
}

TEST(address_class, ipv6_samples) {
  check({
      {"2001:0:4136:e378:8000:63bf:3fff:fdd2", ac::teredo},
      {"fec0::1", ac::site_local},
      {"fc00::1", ac::unique_local},
      {"fdff::1", ac::unique_local},
      {"fe80::1", ac::link_local},
      {"ff02::1", ac::multicast},
      {"2606:4700:4700::1111", ac::public_unicast},
      {"2001:4860:4860::8888", ac::public_unicast},
      {"2001:db8::1", ac::documentation},
      {"100::1", ac::discard},
  });
}

// An address that embeds an IPv4 address is judged by where it leads.
TEST(address_class, embedded_ipv4_takes_the_embedded_class) {
  check({
      // v4-mapped ::ffff:0:0/96
      {"::ffff:10.0.0.1", ac::private_use},
      {"::ffff:8.8.8.8", ac::public_unicast},
      {"::ffff:127.0.0.1", ac::loopback},
      {"::ffff:169.254.169.254", ac::link_local},
      {"::ffff:0.0.0.0", ac::this_network},
      {"::ffff:255.255.255.255", ac::broadcast},
      {"::ffff:7f00:1", ac::loopback},

      // IPv4-compatible ::/96
      {"::10.0.0.1", ac::private_use},
      {"::8.8.8.8", ac::public_unicast},
      {"::127.0.0.1", ac::loopback},
      {"::0.0.0.2", ac::this_network},
      {"::255.255.255.255", ac::broadcast},

      // NAT64 64:ff9b::/96
      {"64:ff9b::7f00:1", ac::loopback},
      {"64:ff9b::808:808", ac::public_unicast},
      {"64:ff9b::10.0.0.1", ac::private_use},
      {"64:ff9b::a9fe:a9fe", ac::link_local},
      // The local-use NAT64 prefix 64:ff9b:1::/48 reaches internal networks
      // and lies outside 2000::/3.
      {"64:ff9b:1::a00:1", ac::reserved},

      // 6to4 2002::/16, IPv4 address in bytes 2..5
      {"2002:0a00:0001::1", ac::private_use},
      {"2002:0808:0808::1", ac::public_unicast},
      {"2002:7f00:1::", ac::loopback},
      {"2002:a9fe:a9fe::1", ac::link_local},
      {"2002:c000:0201::1", ac::documentation},
      {"2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ac::broadcast},
  });
}

TEST(address_class, embedded_v4_extraction) {
  auto parse = [](const char* text) {
    std::array<std::uint8_t, 16> bytes{};
    EXPECT_EQ(inet_pton(AF_INET6, text, bytes.data()), 1) << text;
    return bytes;
  };
  EXPECT_EQ(embedded_v4(parse("::ffff:10.0.0.1")), 0x0a000001u);
  EXPECT_EQ(embedded_v4(parse("::8.8.4.4")), 0x08080404u);
  EXPECT_EQ(embedded_v4(parse("64:ff9b::c0a8:101")), 0xc0a80101u);
  EXPECT_EQ(embedded_v4(parse("2002:cb00:7101::1")), 0xcb007101u);
  EXPECT_EQ(embedded_v4(parse("::")), std::nullopt);
  EXPECT_EQ(embedded_v4(parse("::1")), std::nullopt);
  EXPECT_EQ(embedded_v4(parse("2606:4700:4700::1111")), std::nullopt);
  EXPECT_EQ(embedded_v4(parse("2001:0:4136:e378:8000:63bf:3fff:fdd2")),
            std::nullopt);
}

TEST(address_class, classify_v4_takes_host_order) {
  EXPECT_EQ(classify_v4(0x0a000001u), ac::private_use);
  EXPECT_EQ(classify_v4(0x7f000001u), ac::loopback);
  EXPECT_EQ(classify_v4(0x08080808u), ac::public_unicast);
  EXPECT_EQ(classify_v4(0xffffffffu), ac::broadcast);
}

TEST(address_class, malformed_text_is_not_classified) {
  using namespace std::string_view_literals;
  for (std::string_view text :
       {""sv, "1.2.3"sv, "example.com"sv, "::g"sv, "256.0.0.1"sv, "10.0.0.1 "sv,
        " 10.0.0.1"sv, "1.2.3.4.5"sv, "fe80::1%eth0"sv, "10.0.0.1\0junk"sv,
        "::1\0"sv, ":::"sv, "1::2::3"sv,
        "0000:0000:0000:0000:0000:ffff:255.255.255.255.1"sv})
    EXPECT_EQ(classify(text), std::nullopt) << '"' << text << '"';
  EXPECT_EQ(classify(std::string(1000, '1')), std::nullopt);
}

TEST(address_class, longest_valid_text_is_accepted) {
  EXPECT_EQ(classify("0000:0000:0000:0000:0000:ffff:255.255.255.255"),
            ac::broadcast);
}

TEST(address_class, every_class_has_a_distinct_name) {
  const std::vector<address_class> all{
      ac::public_unicast, ac::unspecified,
      ac::this_network,   ac::loopback,
      ac::private_use,    ac::carrier_grade_nat,
      ac::link_local,     ac::protocol_assignments,
      ac::documentation,  ac::benchmarking,
      ac::multicast,      ac::reserved,
      ac::broadcast,      ac::unique_local,
      ac::site_local,     ac::discard,
      ac::teredo,
  };
  std::set<std::string> names;
  for (auto c : all) {
    std::string name = to_string(c);
    EXPECT_FALSE(name.empty());
    EXPECT_NE(name, "unknown");
    names.insert(name);
    EXPECT_EQ(publicly_routable(c), c == ac::public_unicast) << name;
  }
  EXPECT_EQ(names.size(), all.size());
}
