// IPv4 and IPv6 addresses in one 16-byte form (IPv4 as ::ffff:a.b.c.d, RFC 4291 2.5.5.2), so that
// every table, key and prefix match has a single code path for both families.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace sipshield {

struct IpAddress {
  std::array<uint8_t, 16> bytes{};

  static IpAddress from_v4(const uint8_t* network_order) {
    IpAddress a;
    a.bytes[10] = 0xff;
    a.bytes[11] = 0xff;
    std::memcpy(&a.bytes[12], network_order, 4);
    return a;
  }
  static IpAddress from_v6(const uint8_t* network_order) {
    IpAddress a;
    std::memcpy(a.bytes.data(), network_order, 16);
    return a;
  }

  // This address with every bit from `length` on (in the 128-bit mapped space) cleared.
  IpAddress masked(unsigned length) const {
    IpAddress a = *this;
    for (unsigned bit = length; bit < 128; ++bit)
      a.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
    return a;
  }

  bool is_v4() const {
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(bytes.data(), kMapped, 12) == 0;
  }

  // Parses dotted-quad IPv4 or RFC 4291 text IPv6 (no brackets, no zone).
  static std::optional<IpAddress> parse(std::string_view text);
  std::string to_string() const;

  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
};

// A prefix in the 128-bit mapped space; an IPv4 /n is stored as /(96+n).
struct IpPrefix {
  IpAddress address;
  uint8_t length = 128;

  bool contains(const IpAddress& a) const {
    const uint8_t full = length / 8, rest = length % 8;
    if (std::memcmp(address.bytes.data(), a.bytes.data(), full) != 0) return false;
    if (rest == 0) return true;
    const uint8_t mask = static_cast<uint8_t>(0xff00u >> rest);
    return (address.bytes[full] & mask) == (a.bytes[full] & mask);
  }
  // Length as the operator wrote it: /24 for IPv4, /64 for IPv6.
  unsigned family_length() const { return address.is_v4() ? length - 96u : length; }

  // "198.18.0.0/15", "2001:db8::/32", or a bare address (a host prefix).
  static std::optional<IpPrefix> parse(std::string_view text);
  std::string to_string() const;
};

}  // namespace sipshield
