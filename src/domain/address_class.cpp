#include "address_class.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>

namespace hookd::domain {

namespace {

using v6_bytes = std::array<std::uint8_t, 16>;

constexpr int v4_bits = 32;
constexpr int bits_per_byte = 8;
constexpr int v6_groups = 8;
constexpr std::uint8_t full_byte = 0xff;

/// Builds a host-order IPv4 address so that the table below reads like the
/// registry it comes from.
constexpr std::uint32_t ipv4(std::uint32_t a, std::uint32_t b, std::uint32_t c,
                             std::uint32_t d) {
  return (a << 3 * bits_per_byte) | (b << 2 * bits_per_byte)
         | (c << bits_per_byte) | d;
}

/// Builds an IPv6 address from its 16-bit groups; missing groups are zero,
/// as after a trailing "::".
constexpr v6_bytes ipv6(std::array<std::uint16_t, v6_groups> groups) {
  v6_bytes out{};
  for (int i = 0; i < v6_groups; ++i) {
    out[2 * i] = static_cast<std::uint8_t>(groups[i] >> bits_per_byte);
    out[2 * i + 1] = static_cast<std::uint8_t>(groups[i] & full_byte);
  }
  return out;
}

struct v4_range {
  std::uint32_t network;
  int prefix_len;
  address_class what;
};

// First match wins: the broadcast address comes before the reserved block
// that contains it so that error messages name it precisely.
constexpr std::array v4_ranges{
    v4_range{ipv4(0, 0, 0, 0), 8, address_class::this_network},
    v4_range{ipv4(10, 0, 0, 0), 8, address_class::private_use},
    v4_range{ipv4(100, 64, 0, 0), 10, address_class::carrier_grade_nat},
    v4_range{ipv4(127, 0, 0, 0), 8, address_class::loopback},
    v4_range{ipv4(169, 254, 0, 0), 16, address_class::link_local},
    v4_range{ipv4(172, 16, 0, 0), 12, address_class::private_use},
    v4_range{ipv4(192, 0, 0, 0), 24, address_class::protocol_assignments},
    v4_range{ipv4(192, 0, 2, 0), 24, address_class::documentation},
    v4_range{ipv4(192, 168, 0, 0), 16, address_class::private_use},
    v4_range{ipv4(198, 18, 0, 0), 15, address_class::benchmarking},
    v4_range{ipv4(198, 51, 100, 0), 24, address_class::documentation},
    v4_range{ipv4(203, 0, 113, 0), 24, address_class::documentation},
    v4_range{ipv4(224, 0, 0, 0), 4, address_class::multicast},
    v4_range{ipv4(255, 255, 255, 255), 32, address_class::broadcast},
    v4_range{ipv4(240, 0, 0, 0), 4, address_class::reserved},
};

struct v6_range {
  v6_bytes prefix;
  int prefix_len;
  address_class what;
};

constexpr std::array v6_ranges{
    v6_range{ipv6({0x2001}), 32, address_class::teredo},
    v6_range{ipv6({0x2001, 0x2}), 48, address_class::benchmarking},
    v6_range{ipv6({0x2001, 0xdb8}), 32, address_class::documentation},
    v6_range{ipv6({0x3fff}), 20, address_class::documentation},
    v6_range{ipv6({0x100}), 64, address_class::discard},
    v6_range{ipv6({0xfc00}), 7, address_class::unique_local},
    v6_range{ipv6({0xfe80}), 10, address_class::link_local},
    v6_range{ipv6({0xfec0}), 10, address_class::site_local},
    v6_range{ipv6({0xff00}), 8, address_class::multicast},
};

/// Global unicast: nothing outside it is allocated for public use, so an
/// address there that no range above names is refused as reserved rather
/// than trusted.
constexpr v6_bytes global_unicast = ipv6({0x2000});
constexpr int global_unicast_len = 3;

/// An IPv6 prefix that carries an IPv4 address at `offset`.
struct v4_embedding {
  v6_bytes prefix;
  int prefix_len;
  std::size_t offset;
};

constexpr std::size_t low_32_bits_offset = 12;
constexpr std::size_t six_to_four_offset = 2;

constexpr std::array v4_embeddings{
    // v4-mapped, ::ffff:0:0/96
    v4_embedding{ipv6({0, 0, 0, 0, 0, 0xffff}), 96, low_32_bits_offset},
    // IPv4-compatible, ::/96
    v4_embedding{ipv6({}), 96, low_32_bits_offset},
    // NAT64 well-known prefix, 64:ff9b::/96
    v4_embedding{ipv6({0x64, 0xff9b}), 96, low_32_bits_offset},
    // 6to4, 2002::/16
    v4_embedding{ipv6({0x2002}), 16, six_to_four_offset},
};

constexpr v6_bytes unspecified_v6 = ipv6({});
constexpr v6_bytes loopback_v6 = ipv6({0, 0, 0, 0, 0, 0, 0, 1});

bool in_v4(std::uint32_t address, const v4_range& r) {
  if (r.prefix_len == 0)
    return true;
  // A shift by the full width is undefined, hence the case above.
  auto mask = ~std::uint32_t{0} << (v4_bits - r.prefix_len);
  return (address & mask) == (r.network & mask);
}

bool in_v6(const v6_bytes& address, const v6_bytes& prefix, int prefix_len) {
  auto whole = static_cast<std::size_t>(prefix_len / bits_per_byte);
  if (!std::equal(prefix.begin(), prefix.begin() + whole, address.begin()))
    return false;
  auto rest = prefix_len % bits_per_byte;
  if (rest == 0)
    return true;
  auto mask = static_cast<std::uint8_t>(full_byte << (bits_per_byte - rest));
  return (address[whole] & mask) == (prefix[whole] & mask);
}

std::uint32_t read_v4(const std::uint8_t* p) {
  return ipv4(p[0], p[1], p[2], p[3]);
}

} // namespace

const char* to_string(address_class c) {
  switch (c) {
  case address_class::public_unicast:
    return "public unicast";
  case address_class::unspecified:
    return "unspecified";
  case address_class::this_network:
    return "this network";
  case address_class::loopback:
    return "loopback";
  case address_class::private_use:
    return "private use";
  case address_class::carrier_grade_nat:
    return "carrier-grade NAT";
  case address_class::link_local:
    return "link-local";
  case address_class::protocol_assignments:
    return "IETF protocol assignments";
  case address_class::documentation:
    return "documentation";
  case address_class::benchmarking:
    return "benchmarking";
  case address_class::multicast:
    return "multicast";
  case address_class::reserved:
    return "reserved";
  case address_class::broadcast:
    return "broadcast";
  case address_class::unique_local:
    return "unique local";
  case address_class::site_local:
    return "site-local";
  case address_class::discard:
    return "discard-only";
  case address_class::teredo:
    return "Teredo";
  }
  // Only reachable through a cast of a value outside the enumeration.
  return "unknown";
}

bool publicly_routable(address_class c) {
  return c == address_class::public_unicast;
}

address_class classify_v4(std::uint32_t host_order) {
  for (const auto& r : v4_ranges)
    if (in_v4(host_order, r))
      return r.what;
  return address_class::public_unicast;
}

std::optional<std::uint32_t> embedded_v4(const v6_bytes& bytes) {
  // :: and ::1 fall inside the IPv4-compatible prefix but mean themselves.
  if (bytes == unspecified_v6 || bytes == loopback_v6)
    return std::nullopt;
  for (const auto& e : v4_embeddings)
    if (in_v6(bytes, e.prefix, e.prefix_len))
      return read_v4(bytes.data() + e.offset);
  return std::nullopt;
}

address_class classify_v6(const v6_bytes& bytes) {
  if (bytes == unspecified_v6)
    return address_class::unspecified;
  if (bytes == loopback_v6)
    return address_class::loopback;
  // The packet ends up at the embedded IPv4 host, so that host is what the
  // guard must judge.
  if (auto v4 = embedded_v4(bytes))
    return classify_v4(*v4);
  for (const auto& r : v6_ranges)
    if (in_v6(bytes, r.prefix, r.prefix_len))
      return r.what;
  if (!in_v6(bytes, global_unicast, global_unicast_len))
    return address_class::reserved;
  return address_class::public_unicast;
}

std::optional<address_class> classify(std::string_view numeric_ip) {
  // inet_pton wants a terminated string: copy into a buffer that fits the
  // longest valid text, and refuse an embedded NUL that would cut it short.
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (numeric_ip.size() >= text.size()
      || numeric_ip.find('\0') != std::string_view::npos)
    return std::nullopt;
  std::copy(numeric_ip.begin(), numeric_ip.end(), text.begin());
  v6_bytes bytes{};
  if (inet_pton(AF_INET, text.data(), bytes.data()) == 1)
    return classify_v4(read_v4(bytes.data()));
  if (inet_pton(AF_INET6, text.data(), bytes.data()) == 1)
    return classify_v6(bytes);
  return std::nullopt;
}

} // namespace hookd::domain
