#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

/// Pure address classification for the SSRF guard: what kind of address a
/// delivery is about to connect to, decided from the numeric address alone.
namespace hookd::domain {

/// The special-purpose ranges (IANA IPv4/IPv6 special-purpose registries)
/// that hookd tells apart. Every class except `public_unicast` is refused
/// unless private targets are allowed.
enum class address_class {
  public_unicast,       ///< anything not listed below
  unspecified,          ///< ::/128
  this_network,         ///< 0.0.0.0/8
  loopback,             ///< 127.0.0.0/8, ::1/128
  private_use,          ///< 10/8, 172.16/12, 192.168/16
  carrier_grade_nat,    ///< 100.64.0.0/10, shared address space
  link_local,           ///< 169.254.0.0/16 (cloud metadata), fe80::/10
  protocol_assignments, ///< 192.0.0.0/24, IETF protocol assignments
  documentation,        ///< TEST-NET-1/2/3, 2001:db8::/32, 3fff::/20
  benchmarking,         ///< 198.18.0.0/15, 2001:2::/48
  multicast,            ///< 224.0.0.0/4, ff00::/8
  reserved,             ///< 240.0.0.0/4; IPv6 outside 2000::/3
  broadcast,            ///< 255.255.255.255
  unique_local,         ///< fc00::/7
  site_local,           ///< fec0::/10, deprecated but still private
  discard,              ///< 100::/64
  teredo,               ///< 2001::/32, tunnels to arbitrary IPv4 hosts
};

/// A short description for error messages, e.g. "private use".
const char* to_string(address_class c);

/// Only public unicast addresses may be delivered to by default.
bool publicly_routable(address_class c);

/// Classifies an IPv4 address given in host byte order.
address_class classify_v4(std::uint32_t host_order);

/// The IPv4 address an IPv6 address carries and is routed to, in host byte
/// order: v4-mapped (::ffff:0:0/96), IPv4-compatible (::/96 except :: and
/// ::1), NAT64 (64:ff9b::/96) and 6to4 (2002::/16). Teredo is not included:
/// its server and client addresses are both in it and neither alone says
/// where the packet goes.
std::optional<std::uint32_t>
embedded_v4(const std::array<std::uint8_t, 16>& bytes);

/// Classifies an IPv6 address given in network byte order. An address that
/// embeds an IPv4 address gets the class of the embedded address.
address_class classify_v6(const std::array<std::uint8_t, 16>& bytes);

/// Classifies a numeric IPv4 or IPv6 address; std::nullopt when the text is
/// not one (host names and scoped addresses included).
std::optional<address_class> classify(std::string_view numeric_ip);

} // namespace hookd::domain
