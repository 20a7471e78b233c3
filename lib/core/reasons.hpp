// The one list of verdict reasons. Every frame the filter sees ends with an action (pass or drop)
// and exactly one of these reasons; the enum, the counter arrays and the names in reports and
// verdict files are all generated from this list, so a reason cannot exist in one and not the
// other.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace sipshield {

// X(name, description)
#define SIPSHIELD_REASONS(X)                                                                     \
  /* classification: why a frame was not judged further */                                       \
  X(non_ip, "not IPv4/IPv6 (ARP, LLDP, ...): crosses untouched")                                 \
  X(not_protected, "IP traffic not addressed to a protected service: configured default")        \
  X(from_inside, "sent by the protected side: always forwarded")                                 \
  X(admitted, "addressed to a protected service and admitted by the policy")                     \
  X(sip_keepalive, "RFC 5626 keepalive (CRLF, double CRLF, STUN binding request)")               \
  /* L2 */                                                                                       \
  X(frame_segmented, "frame spans several mbuf segments: larger than the port's data room")      \
  X(eth_truncated, "frame shorter than an Ethernet header")                                      \
  X(vlan_truncated, "VLAN tag cut short")                                                        \
  X(vlan_too_deep, "more than two VLAN tags")                                                    \
  /* IPv4 */                                                                                     \
  X(ipv4_truncated, "IPv4 header cut short")                                                     \
  X(ipv4_bad_version, "EtherType IPv4 but version field is not 4")                               \
  X(ipv4_bad_ihl, "IPv4 header length below 20 bytes or beyond the total length")                \
  X(ipv4_bad_total_length, "IPv4 total length beyond the frame or below the header")             \
  X(ipv4_bad_checksum, "IPv4 header checksum wrong")                                             \
  /* IPv6 */                                                                                     \
  X(ipv6_truncated, "IPv6 header cut short")                                                     \
  X(ipv6_bad_version, "EtherType IPv6 but version field is not 6")                               \
  X(ipv6_bad_payload_length, "IPv6 payload length beyond the frame")                             \
  X(ipv6_ext_truncated, "IPv6 extension header cut short")                                       \
  X(ipv6_too_many_ext, "IPv6 extension header chain longer than the parser walks")               \
  /* UDP */                                                                                      \
  X(udp_truncated, "UDP header cut short")                                                       \
  X(udp_bad_length, "UDP length field disagrees with the IP payload")                            \
  /* fragments */                                                                                \
  X(frag_tiny, "first fragment too small to hold the UDP header (RFC 1858)")                     \
  X(frag_bad_length, "non-final fragment not a multiple of 8 bytes, or empty")                   \
  X(frag_too_big, "fragments reach beyond 65535 bytes")                                          \
  X(frag_too_many, "datagram needs more fragments than configured")                              \
  X(frag_overlap, "fragments overlap (RFC 5722): whole datagram dropped")                        \
  X(frag_duplicate, "exact duplicate of a fragment already held")                                \
  X(frag_inconsistent, "fragments disagree on the datagram's end")                               \
  X(frag_timeout, "datagram not complete within the reassembly timeout")                         \
  X(frag_evicted, "datagram evicted for a newer one: reassembly table full")                     \
  X(frag_source_quota, "source holds its quota of incomplete datagrams")                         \
  X(frag_incomplete, "datagram still incomplete when the replay or daemon ended")                \
  /* SIP (RFC 3261 syntax as the tokenizer reads it) */                                          \
  X(sip_message_too_long, "SIP message longer than sip.max_message_bytes")                       \
  X(sip_bad_start_line, "request or status line not as RFC 3261 7.1/7.2 writes it")              \
  X(sip_bad_version, "SIP version other than SIP/2.0")                                           \
  X(sip_bad_status, "status code outside 100-699")                                               \
  X(sip_bad_request_uri, "Request-URI without a scheme, in <>, or with escaped headers")         \
  X(sip_control_bytes, "NUL or control bytes in the start line or headers")                      \
  X(sip_bad_header_line, "header line without a name and colon")                                 \
  X(sip_header_too_long, "one header (with folding) longer than sip.max_header_bytes")           \
  X(sip_headers_too_long, "header section longer than sip.max_headers_bytes")                    \
  X(sip_too_many_headers, "more header lines than sip.max_headers")                              \
  X(sip_no_end_of_headers, "no empty line ends the headers")                                     \
  X(sip_missing_via, "no Via header")                                                            \
  X(sip_missing_from, "no From header")                                                          \
  X(sip_missing_to, "no To header")                                                              \
  X(sip_missing_call_id, "no Call-ID header")                                                    \
  X(sip_missing_cseq, "no CSeq header")                                                          \
  X(sip_bad_via, "Via not SIP/2.0/transport sent-by[;params]")                                   \
  X(sip_bad_name_addr, "From, To or Contact unparsable: unbalanced quotes or <>, bad name")      \
  X(sip_bad_cseq, "CSeq number missing, not decimal or at least 2^31")                           \
  X(sip_cseq_method_mismatch, "CSeq method differs from the request method")                     \
  X(sip_bad_content_length, "Content-Length not a decimal number, or given twice differently")   \
  X(sip_content_length_overflow, "datagram shorter than its Content-Length (RFC 3261 18.3)")     \
  X(sip_duplicate_header, "a single-value header (Call-ID, CSeq, From, To) given twice")         \
  X(sip_bad_max_forwards, "Max-Forwards not a number from 0 to 255")                             \
  X(sip_bad_date, "Date not in RFC 1123 form with GMT")                                          \
  /* signatures */                                                                               \
  X(sip_signature, "a drop or ban signature rule matched (the verdict names the rule)")          \
  /* per-source policy */                                                                        \
  X(denied_prefix, "the source is in a deny prefix")                                             \
  X(operator_banned, "the source is in a prefix an operator banned (sipshield-ctl ban)")         \
  X(source_banned, "the source is banned (signature, demerits)")                                 \
  X(rate_limited, "the source exceeds its tier's meter for this method class")                   \
  X(untrusted_budget, "the service's budget for sources without trust is spent, for this rank")  \
  X(address_rate_limited, "the untrusted sources of this address (all ports) exceed its meter")  \
  X(port_rotating, "an address sending from ever new ports, none coming back: bots' own budget") \
  X(aor_rate_limited, "REGISTERs for this address of record exceed its meter")                   \
  X(aor_locked, "this address of record is locked after repeated refusals (brute force)")        \
  X(nonce_mismatch, "credentials with a nonce other than the one the server last sent there")    \
  X(no_dialog, "ACK, BYE, CANCEL or in-dialog request matching no transaction or dialog")        \
  X(unsolicited_response, "response to no request the servers sent to that address")             \
  X(unverified, "first contact held until it answers a probe (mode always, or in a surge)")      \
  X(probe_answer, "a client's answer to a return-routability probe: consumed, source verified")  \
  X(probe_cookie_invalid, "answer to a probe whose cookie does not verify: forged or expired")   \
  /* IMS Gm: ESP to a protected P-CSCF (esp.enabled) */                                          \
  X(esp_checked, "ESP of a known SA, not replayed, ICV checked if keyed; inner not classified")  \
  X(esp_malformed, "ESP too short for its header and ICV, or a bad trailer or inner UDP")        \
  X(esp_unknown_spi, "ESP with an SPI no SA has for this destination and source")                \
  X(esp_replayed, "ESP sequence number seen before, older than the window, or zero")             \
  X(esp_bad_icv, "ESP whose ICV does not verify with its SA's key: forged or corrupted")         \
  /* causes of a ban that are not verdicts */                                                    \
  X(auth_failure, "the servers refused the source's credentials (403)")

enum class Reason : uint8_t {
#define SIPSHIELD_REASON_ENUM(name, desc) name,
  SIPSHIELD_REASONS(SIPSHIELD_REASON_ENUM)
#undef SIPSHIELD_REASON_ENUM
};

inline constexpr std::size_t kReasonCount = 0
#define SIPSHIELD_REASON_COUNT(name, desc) +1
    SIPSHIELD_REASONS(SIPSHIELD_REASON_COUNT)
#undef SIPSHIELD_REASON_COUNT
    ;

inline constexpr std::array<std::string_view, kReasonCount> kReasonNames = {
#define SIPSHIELD_REASON_NAME(name, desc) #name,
    SIPSHIELD_REASONS(SIPSHIELD_REASON_NAME)
#undef SIPSHIELD_REASON_NAME
};

inline constexpr std::array<std::string_view, kReasonCount> kReasonDescriptions = {
#define SIPSHIELD_REASON_DESC(name, desc) desc,
    SIPSHIELD_REASONS(SIPSHIELD_REASON_DESC)
#undef SIPSHIELD_REASON_DESC
};

constexpr std::string_view reason_name(Reason r) {
  return kReasonNames[static_cast<size_t>(r)];
}
constexpr std::string_view reason_description(Reason r) {
  return kReasonDescriptions[static_cast<size_t>(r)];
}

enum class Action : uint8_t { pass, drop };

constexpr std::string_view action_name(Action a) {
  return a == Action::pass ? "pass" : "drop";
}

inline constexpr uint16_t kNoRule = 0xffff;

struct Verdict {
  Action action;
  Reason reason;
  uint16_t rule = kNoRule;  // the signature rule that decided or was hit, if any
};

}  // namespace sipshield
