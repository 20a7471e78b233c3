// The probe itself: a SIP OPTIONS from the protected service back to the source of a request
// (RFC 3261 section 11: a user agent answers OPTIONS), carrying the cookie in its top Via branch
// and Call-ID. It is written over the request's own frame, never longer than it, so a probe can
// neither amplify nor need an allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "admission/probe_cookie.hpp"
#include "packet/parse.hpp"

namespace sipshield {

inline constexpr size_t kProbeTextMax = 512;

// Writes the OPTIONS probe to `out` (at least kProbeTextMax bytes): from `service`:`service_port`
// to `client`:`client_port`. Returns its length.
size_t write_probe_text(char* out, const IpAddress& client, uint16_t client_port,
                        const IpAddress& service, uint16_t service_port,
                        const ProbeCookie::Text& cookie);

// Turns `frame`, the request `meta` describes (a whole UDP datagram), into a frame carrying
// `payload` back to its source: MACs, addresses and ports swapped, lengths and checksums
// rewritten, TTL/hop limit 64. Returns the new frame length, or 0 when the payload is longer than
// the request's (never amplify) or the frame has IPv6 extension headers (never reflected).
size_t rewrite_as_probe(uint8_t* frame, const PacketMeta& meta, std::string_view payload);

// What a user agent answers to a probe (RFC 3261 8.2.6.2: a 200 OK with the Via, From, To,
// Call-ID and CSeq of the OPTIONS, a To tag added): for the offline replay's simulated clients
// and the tests. Off the fast path (allocates).
std::string probe_answer_text(std::string_view probe);

}  // namespace sipshield
