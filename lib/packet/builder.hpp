// Builds well-formed Ethernet/IPv4/IPv6/UDP frames, fragmented or not: the test suites, the demo
// scenario and the traffic generator all make frames here, so every one of them is valid by
// construction and a test breaks exactly the bytes it means to break.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/ip_address.hpp"

namespace sipshield {

struct Endpoint {
  IpAddress address;
  uint16_t port = 5060;
};

struct FrameOptions {
  std::array<uint8_t, 6> src_mac{0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  std::array<uint8_t, 6> dst_mac{0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
  std::vector<uint16_t> vlans;  // outermost first; the first of two uses the 802.1ad EtherType
  uint8_t hop_limit = 64;
  uint32_t ip_id = 1;   // IPv4 identification, or IPv6 fragment identification
  uint16_t mtu = 1500;  // larger IP packets are fragmented
};

using Frame = std::vector<uint8_t>;

// One UDP datagram as one frame, or as fragments when it exceeds the MTU. The family follows
// the addresses (both must be of one family).
std::vector<Frame> build_udp(const Endpoint& src, const Endpoint& dst,
                             std::span<const uint8_t> payload, const FrameOptions& options = {});
std::vector<Frame> build_udp(const Endpoint& src, const Endpoint& dst, std::string_view payload,
                             const FrameOptions& options = {});

// An IP packet of protocol `proto` around the L4 bytes `l4`: one frame, or fragments when it
// exceeds the MTU (an ESP packet a test has signed, for instance).
std::vector<Frame> build_ip(const IpAddress& src, const IpAddress& dst, uint8_t proto,
                            std::span<const uint8_t> l4, const FrameOptions& options = {});

// One transport-mode ESP packet (RFC 4303) carrying a UDP datagram in the clear, as with
// ealg=null (TS 33.203): SPI, sequence number, the UDP header and payload, padding, pad length,
// next header 17, then `icv_length` zero bytes where the ICV goes. The caller computes the ICV
// over [esp_offset, icv_offset) of the frame and writes it at icv_offset. Not fragmented.
struct EspFrame {
  Frame frame;
  size_t esp_offset = 0;  // the ESP header
  size_t esp_length = 0;  // to the end of the ICV (the frame may be padded beyond)
  size_t icv_offset = 0;
};
EspFrame build_esp(const Endpoint& src, const Endpoint& dst, uint32_t spi, uint32_t seq,
                   std::span<const uint8_t> udp_payload, size_t icv_length,
                   const FrameOptions& options = {});

// A non-IP frame (ARP request) for pass-through checks.
Frame build_arp_request(const IpAddress& sender, const IpAddress& target,
                        const FrameOptions& options = {});

// Offset of the IP header in frames that build_udp made with `options`.
unsigned l3_offset(const FrameOptions& options);

// The UDP checksum (RFC 768: over the IPv4 or IPv6 pseudo-header and `udp`, header included,
// its checksum field zero); never 0 (0xffff instead).
uint16_t udp_checksum(const IpAddress& src, const IpAddress& dst, std::span<const uint8_t> udp);

// Recomputes the IPv4 header checksum of a frame (after a test edits the header).
void refresh_ipv4_checksum(Frame& frame, unsigned l3_offset);

}  // namespace sipshield
