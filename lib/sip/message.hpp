// A zero-copy view of one SIP message over UDP: every field is a span into the datagram, read by
// tokenize() in one pass. Only what the policy needs is kept; everything else is skipped, but
// still checked for the syntax that would make a server choke (RFC 3261, RFC 4475).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>

#include "core/reasons.hpp"

namespace sipshield {

// Offset and length of a field within the message; empty when absent.
struct Span {
  uint16_t offset = 0;
  uint16_t length = 0;
  bool empty() const { return length == 0; }
  std::string_view in(std::string_view message) const { return message.substr(offset, length); }
};

#define SIPSHIELD_SIP_METHODS(X) \
  X(INVITE)                      \
  X(ACK)                         \
  X(BYE)                         \
  X(CANCEL)                      \
  X(REGISTER)                    \
  X(OPTIONS) X(PRACK) X(SUBSCRIBE) X(NOTIFY) X(PUBLISH) X(INFO) X(REFER) X(MESSAGE) X(UPDATE)

enum class SipMethod : uint8_t {
  none,
#define SIPSHIELD_METHOD_ENUM(m) m,
  SIPSHIELD_SIP_METHODS(SIPSHIELD_METHOD_ENUM)
#undef SIPSHIELD_METHOD_ENUM
      other,  // an extension method (RFC 3261 allows any token)
};

std::string_view method_name(SipMethod m);
SipMethod method_from_text(std::string_view text);  // case-sensitive, as RFC 3261 says

enum class SipKind : uint8_t { request, response, keepalive };

struct SipUri {
  Span whole;  // without <>
  Span user;
  Span host;  // IPv6 references keep their brackets
  uint16_t port = 0;
  bool has_headers = false;  // "?name=value" after the host (SIP and SIPS URIs)
};

struct NameAddr {
  Span display;
  SipUri uri;
  Span params;  // header parameters after the URI
  Span tag;
  Span expires;  // the expires parameter (Contact)
  bool present = false;
};

struct Via {
  Span transport;  // UDP, TCP, TLS, SCTP, WS ...
  Span host;
  uint16_t port = 0;
  Span branch;
  Span received;
  bool rport = false;
  Span rport_value;
  // RFC 7339 overload control
  Span oc, oc_algo, oc_validity, oc_seq;
};

struct Credentials {  // Authorization, Proxy-Authorization
  Span username, realm, nonce, uri, response;
  bool present = false;
};

struct Challenge {  // WWW-Authenticate, Proxy-Authenticate
  Span realm, nonce;
  bool present = false;
};

struct SecurityMechanism {  // RFC 3329 Security-Client / -Server / -Verify (first value)
  Span mechanism, alg, ealg;
  uint32_t spi_c = 0, spi_s = 0;
  uint16_t port_c = 0, port_s = 0;
  bool present = false;
};

struct SipMessage {
  SipKind kind = SipKind::request;
  // Start line.
  SipMethod method = SipMethod::none;
  Span method_text;
  SipUri request_uri;
  uint16_t status = 0;
  Span reason_phrase;
  // Headers.
  Via top_via;
  uint8_t via_count = 0;  // Via values, over all Via headers
  NameAddr from, to;
  Span call_id;
  uint32_t cseq = 0;
  SipMethod cseq_method = SipMethod::none;
  Span cseq_method_text;
  NameAddr contact;  // the first Contact value
  bool contact_star = false;
  int32_t contact_expires = -1;
  int32_t expires = -1;
  int16_t max_forwards = -1;
  int32_t content_length = -1;
  Span content_type;
  Span user_agent, server;
  Credentials authorization, proxy_authorization;
  Challenge www_authenticate, proxy_authenticate;
  int32_t retry_after = -1;
  bool has_route = false, has_record_route = false;
  SecurityMechanism security_client, security_server, security_verify;
  uint16_t header_count = 0;
  Span headers;  // from the first header line to the end of the empty line
  Span body;
};

static_assert(std::is_trivially_copyable_v<SipMessage>, "tokenize resets it with memcpy");

struct SipLimits {
  uint16_t max_message_bytes = 16384;  // Kamailio's sanity module uses similar bounds
  uint16_t max_header_bytes = 2048;
  uint16_t max_headers_bytes = 8192;
  uint16_t max_headers = 128;
};

struct SipVerdict {
  bool ok;        // a valid message or a keepalive
  Reason reason;  // when !ok
};

// Reads `payload` (one UDP datagram's payload, reassembled) into `message`. With
// `headers_only`, a body cut short is accepted (the first fragment of a datagram the filter
// forwards without judging it, read to learn from its headers).
SipVerdict tokenize(std::string_view payload, SipMessage& message, const SipLimits& limits = {},
                    bool headers_only = false);

}  // namespace sipshield
