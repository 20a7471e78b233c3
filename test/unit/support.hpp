// Helpers shared by the unit tests: addresses, frames and a parse shortcut.
#pragma once

#include <string>
#include <vector>

#include "core/errors.hpp"
#include "packet/builder.hpp"
#include "packet/parse.hpp"

namespace test {

void ensure_eal();

// The message of the ConfigError that `run` throws, or "(accepted)".
template <class Run>
std::string config_error(Run&& run) {
  try {
    run();
  } catch (const sipshield::ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

inline sipshield::IpAddress ip(const char* text) {
  return *sipshield::IpAddress::parse(text);
}

inline sipshield::Endpoint ep(const char* address, uint16_t port = 5060) {
  return {ip(address), port};
}

// Exactly `size` bytes of SIP-looking text, for L2-L4 tests that only count bytes.
inline std::string bytes_of(size_t size) {
  std::string p = "OPTIONS sip:ping@198.18.0.10 SIP/2.0\r\n";
  while (p.size() < size) p += "X-Fill: abcdefghijklmnopqrstuvwxyz0123456789\r\n";
  p.resize(size);
  return p;
}

// A valid SIP OPTIONS of exactly `size` bytes (at least 256): the body pads it.
inline std::string payload_of(size_t size) {
  const std::string head =
      "OPTIONS sip:ping@198.18.0.10 SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.1.1;branch=z9hG4bKtest\r\n"
      "Max-Forwards: 70\r\nFrom: <sip:probe@example.test>;tag=1\r\nTo: <sip:ping@example.test>\r\n"
      "Call-ID: test-payload@198.18.1.1\r\nCSeq: 1 OPTIONS\r\nContent-Type: text/plain\r\n";
  std::string p = head + "Content-Length: 00000\r\n\r\n";
  const size_t body = size > p.size() ? size - p.size() : 0;
  p = head + "Content-Length: " + std::to_string(body + 100000).substr(1) + "\r\n\r\n";
  return p + std::string(body, 'x');
}

inline sipshield::ParseOutcome parse(const sipshield::Frame& f, sipshield::PacketMeta& meta) {
  return sipshield::parse_frame(f.data(), static_cast<uint32_t>(f.size()), meta);
}

}  // namespace test
