#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "policy/settings.hpp"

namespace sipshield {

std::optional<ServiceMatch> ServiceMatch::parse(std::string_view text, std::string* why) {
  ServiceMatch match;
  std::string_view address = text;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    address = text.substr(1, close - 1);
    const auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port_text = rest.substr(1);
      if (port_text.empty()) return std::nullopt;
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {  // IPv4 with a port
    const auto colon = text.find(':');
    address = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (port_text.empty()) return std::nullopt;
  }
  auto prefix = IpPrefix::parse(address);
  if (!prefix) return std::nullopt;
  match.prefix = *prefix;
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if ((ec != std::errc{} && ec != std::errc::result_out_of_range) ||
        end != port_text.data() + port_text.size())
      return std::nullopt;
    if (ec != std::errc{} || port == 0 || port > 65535) {
      if (why) *why = fmt::format("port {} is out of range (1-65535) in \"{}\"", port_text, text);
      return std::nullopt;
    }
    match.port = static_cast<uint16_t>(port);
  }
  return match;
}

std::string ServiceMatch::to_string() const {
  const bool host = prefix.length == 128;
  const std::string address = host ? prefix.address.to_string() : prefix.to_string();
  if (!port) return address;
  return prefix.address.is_v4() ? fmt::format("{}:{}", address, *port)
                                : fmt::format("[{}]:{}", address, *port);
}

}  // namespace sipshield
