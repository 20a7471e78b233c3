#include "core/ip_address.hpp"

#include <arpa/inet.h>

#include <fmt/format.h>
#include <charconv>

namespace sipshield {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  uint8_t raw[16];
  if (inet_pton(AF_INET, buf, raw) == 1) return from_v4(raw);
  if (inet_pton(AF_INET6, buf, raw) == 1) return from_v6(raw);
  return std::nullopt;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  if (is_v4()) {
    inet_ntop(AF_INET, &bytes[12], buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  }
  return buf;
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text) {
  const auto slash = text.find('/');
  auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  const unsigned family_max = address->is_v4() ? 32 : 128;
  unsigned len = family_max;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), len);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() ||
        len > family_max)
      return std::nullopt;
  }
  IpPrefix p;
  p.length = static_cast<uint8_t>(address->is_v4() ? 96 + len : len);
  // Host bits cleared, so that equal prefixes compare equal and print canonically.
  p.address = address->masked(p.length);
  return p;
}

std::string IpPrefix::to_string() const {
  return fmt::format("{}/{}", address.to_string(), family_length());
}

}  // namespace sipshield
