// The one list of verdict reasons. Every frame the filter sees ends with an action (pass or drop)
// and exactly one of these reasons; the enum, the counter arrays and the names in reports and
// verdict files are all generated from this list, so a reason cannot exist in one and not the
// other.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sipshield {

// X(name, description)
#define SIPSHIELD_REASONS(X)                                                                \
  /* classification: why a frame was not judged further */                                  \
  X(non_ip, "not IPv4/IPv6 (ARP, LLDP, ...): crosses untouched")                            \
  X(not_protected, "IP traffic not addressed to a protected service: configured default")   \
  X(from_inside, "sent by the protected side: always forwarded")                            \
  X(admitted, "addressed to a protected service and admitted by the policy")                \
  /* L2 */                                                                                  \
  X(frame_segmented, "frame spans several mbuf segments: larger than the port's data room") \
  X(eth_truncated, "frame shorter than an Ethernet header")                                 \
  X(vlan_truncated, "VLAN tag cut short")                                                   \
  X(vlan_too_deep, "more than two VLAN tags")                                               \
  /* IPv4 */                                                                                \
  X(ipv4_truncated, "IPv4 header cut short")                                                \
  X(ipv4_bad_version, "EtherType IPv4 but version field is not 4")                          \
  X(ipv4_bad_ihl, "IPv4 header length below 20 bytes or beyond the total length")           \
  X(ipv4_bad_total_length, "IPv4 total length beyond the frame or below the header")        \
  X(ipv4_bad_checksum, "IPv4 header checksum wrong")                                        \
  /* IPv6 */                                                                                \
  X(ipv6_truncated, "IPv6 header cut short")                                                \
  X(ipv6_bad_version, "EtherType IPv6 but version field is not 6")                          \
  X(ipv6_bad_payload_length, "IPv6 payload length beyond the frame")                        \
  X(ipv6_ext_truncated, "IPv6 extension header cut short")                                  \
  X(ipv6_too_many_ext, "IPv6 extension header chain longer than the parser walks")          \
  /* UDP */                                                                                 \
  X(udp_truncated, "UDP header cut short")                                                  \
  X(udp_bad_length, "UDP length field disagrees with the IP payload")                       \
  /* fragments */                                                                           \
  X(frag_tiny, "first fragment too small to hold the UDP header (RFC 1858)")                \
  X(frag_bad_length, "non-final fragment not a multiple of 8 bytes, or empty")              \
  X(frag_too_big, "fragments reach beyond 65535 bytes")                                     \
  X(frag_too_many, "datagram needs more fragments than configured")                         \
  X(frag_overlap, "fragments overlap (RFC 5722): whole datagram dropped")                   \
  X(frag_duplicate, "exact duplicate of a fragment already held")                           \
  X(frag_inconsistent, "fragments disagree on the datagram's end")                          \
  X(frag_timeout, "datagram not complete within the reassembly timeout")                    \
  X(frag_evicted, "datagram evicted for a newer one: reassembly table full")                \
  X(frag_source_quota, "source holds its quota of incomplete datagrams")                    \
  X(frag_incomplete, "datagram still incomplete when the replay or daemon ended")

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

inline std::optional<Reason> reason_from_name(std::string_view name) {
  for (size_t i = 0; i < kReasonCount; ++i)
    if (kReasonNames[i] == name) return static_cast<Reason>(i);
  return std::nullopt;
}

enum class Action : uint8_t { pass, drop };

constexpr std::string_view action_name(Action a) {
  return a == Action::pass ? "pass" : "drop";
}

struct Verdict {
  Action action;
  Reason reason;
};

}  // namespace sipshield
