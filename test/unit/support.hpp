// Helpers shared by the unit tests: addresses, frames and a parse shortcut.
#pragma once

#include <string>
#include <vector>

#include "packet/builder.hpp"
#include "packet/parse.hpp"

namespace test {

void ensure_eal();

inline sipshield::IpAddress ip(const char* text) {
  return *sipshield::IpAddress::parse(text);
}

inline sipshield::Endpoint ep(const char* address, uint16_t port = 5060) {
  return {ip(address), port};
}

// A SIP-looking payload of exactly `size` bytes.
inline std::string payload_of(size_t size) {
  std::string p = "OPTIONS sip:ping@198.18.0.10 SIP/2.0\r\n";
  while (p.size() < size) p += "X-Fill: abcdefghijklmnopqrstuvwxyz0123456789\r\n";
  p.resize(size);
  return p;
}

inline sipshield::ParseOutcome parse(const sipshield::Frame& f, sipshield::PacketMeta& meta) {
  return sipshield::parse_frame(f.data(), static_cast<uint32_t>(f.size()), meta);
}

}  // namespace test
