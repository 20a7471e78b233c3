// Writes SIP messages as real user agents and proxies do (RFC 3261): long or compact header
// forms, SDP bodies small or large enough to fragment, digest challenges and credentials.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "packet/builder.hpp"

namespace sipshield {

std::string host_text(const IpAddress& a);  // 198.18.0.1 or [2001:db8::1]
std::string hostport(const Endpoint& e);    // host_text:port
std::string random_token(std::mt19937_64& rng, size_t length, std::string_view alphabet);
std::string random_hex(std::mt19937_64& rng, size_t length);

// Assembles one message. Header names are given in long form; `compact` writes the RFC 3261
// 7.3.3 compact form where one exists.
class SipText {
 public:
  SipText(std::string start_line, bool compact)
      : start_(std::move(start_line)), compact_(compact) {}
  SipText& header(std::string_view name, std::string_view value);
  SipText& body(std::string content_type, std::string content);
  std::string str() const;

 private:
  std::string start_;
  bool compact_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string content_type_, body_;
};

// An SDP offer or answer; `large` adds video, ICE candidates and crypto lines (about 1.8 kB),
// as softphones send, so that the INVITE fragments at a 1500-byte MTU.
std::string sdp(const IpAddress& media_address, uint16_t port, uint64_t session_id, bool large);

// User-Agent strings of real phones and softphones, picked per user.
const std::vector<std::string_view>& user_agents();

}  // namespace sipshield
