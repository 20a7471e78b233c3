#include "packet/parse.hpp"

#include <cstring>

namespace sipshield {
namespace {

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr uint16_t kEtherVlan = 0x8100;
constexpr uint16_t kEtherQinQ = 0x88a8;
constexpr uint16_t kEtherQinQLegacy = 0x9100;

constexpr uint8_t kIpv6HopByHop = 0;
constexpr uint8_t kIpv6Routing = 43;
constexpr uint8_t kIpv6Fragment = 44;
constexpr uint8_t kIpv6DestOptions = 60;

constexpr ParseOutcome ok() {
  return {true, Reason::non_ip};
}
constexpr ParseOutcome drop(Reason r) {
  return {false, r};
}

// Parses the UDP header at l4 (l4_avail bytes of this datagram's IP payload follow it).
ParseOutcome parse_udp(const uint8_t* frame, uint16_t l4_offset, uint32_t l4_avail,
                       PacketMeta& meta) {
  if (l4_avail < 8) return drop(meta.is_fragment ? Reason::frag_tiny : Reason::udp_truncated);
  const uint8_t* udp = frame + l4_offset;
  meta.has_udp = true;
  meta.l4_offset = l4_offset;
  meta.src_port = load_be16(udp);
  meta.dst_port = load_be16(udp + 2);
  meta.udp_length = load_be16(udp + 4);
  if (meta.is_fragment) return ok();  // the length is checked against the reassembled datagram
  if (meta.udp_length < 8 || meta.udp_length > l4_avail) return drop(Reason::udp_bad_length);
  meta.payload_offset = static_cast<uint16_t>(l4_offset + 8);
  meta.payload_length = static_cast<uint16_t>(meta.udp_length - 8);
  return ok();
}

// Stateless checks every fragment must pass before it may take reassembly state.
ParseOutcome check_fragment(const PacketMeta& meta) {
  if (meta.more_fragments && (meta.frag_data_length == 0 || meta.frag_data_length % 8 != 0))
    return drop(Reason::frag_bad_length);
  if (meta.frag_offset + meta.frag_data_length > 65535) return drop(Reason::frag_too_big);
  return ok();
}

ParseOutcome parse_ipv4(const uint8_t* frame, uint32_t len, PacketMeta& meta,
                        ChecksumState checksum) {
  const uint32_t avail = len - meta.l3_offset;
  if (avail < 20) return drop(Reason::ipv4_truncated);
  const uint8_t* ip = frame + meta.l3_offset;
  if ((ip[0] >> 4) != 4) return drop(Reason::ipv4_bad_version);
  const unsigned header_len = (ip[0] & 0x0fu) * 4u;
  if (header_len < 20) return drop(Reason::ipv4_bad_ihl);
  if (header_len > avail) return drop(Reason::ipv4_truncated);
  const unsigned total_len = load_be16(ip + 2);
  if (total_len < header_len) return drop(Reason::ipv4_bad_ihl);
  if (total_len > avail) return drop(Reason::ipv4_bad_total_length);
  if (checksum == ChecksumState::bad ||
      (checksum == ChecksumState::unknown && ipv4_header_checksum(ip, header_len) != 0))
    return drop(Reason::ipv4_bad_checksum);

  meta.ip_version = 4;
  meta.l4_proto = ip[9];
  meta.src = IpAddress::from_v4(ip + 12);
  meta.dst = IpAddress::from_v4(ip + 16);

  const uint16_t flags_offset = load_be16(ip + 6);
  const uint16_t l4_offset = static_cast<uint16_t>(meta.l3_offset + header_len);
  const uint32_t l4_avail = total_len - header_len;
  meta.more_fragments = (flags_offset & 0x2000u) != 0;
  meta.frag_offset = (flags_offset & 0x1fffu) * 8u;
  meta.is_fragment = meta.more_fragments || meta.frag_offset != 0;
  if (meta.is_fragment) {
    meta.frag_id = load_be16(ip + 4);
    meta.frag_data_offset = l4_offset;
    meta.frag_data_length = static_cast<uint16_t>(l4_avail);
    if (auto r = check_fragment(meta); !r.ok) return r;
    if (meta.frag_offset != 0) return ok();
  }
  meta.l4_offset = l4_offset;
  meta.l4_length = static_cast<uint16_t>(l4_avail);
  if (meta.l4_proto != kProtoUdp) return ok();
  return parse_udp(frame, l4_offset, l4_avail, meta);
}

ParseOutcome parse_ipv6(const uint8_t* frame, uint32_t len, PacketMeta& meta) {
  const uint32_t avail = len - meta.l3_offset;
  if (avail < 40) return drop(Reason::ipv6_truncated);
  const uint8_t* ip = frame + meta.l3_offset;
  if ((ip[0] >> 4) != 6) return drop(Reason::ipv6_bad_version);
  const uint32_t payload_len = load_be16(ip + 4);
  // A zero payload length announces a jumbogram (RFC 2675): not on SIP links, and unbounded.
  if (payload_len == 0 || payload_len + 40 > avail) return drop(Reason::ipv6_bad_payload_length);

  meta.ip_version = 6;
  meta.src = IpAddress::from_v6(ip + 8);
  meta.dst = IpAddress::from_v6(ip + 24);

  const uint32_t end = meta.l3_offset + 40 + payload_len;  // end of this packet's IP payload
  uint32_t offset = meta.l3_offset + 40u;
  uint8_t next = ip[6];
  for (unsigned count = 0;; ++count) {
    if (next != kIpv6HopByHop && next != kIpv6Routing && next != kIpv6DestOptions &&
        next != kIpv6Fragment)
      break;
    if (count == kMaxIpv6ExtHeaders) return drop(Reason::ipv6_too_many_ext);
    const uint8_t* ext = frame + offset;
    if (next == kIpv6Fragment) {
      if (offset + 8 > end) return drop(Reason::ipv6_ext_truncated);
      const uint16_t offset_flags = load_be16(ext + 2);
      const uint32_t frag_offset = offset_flags & 0xfff8u;
      const bool more = (offset_flags & 1u) != 0;
      next = ext[0];
      offset += 8;
      if (frag_offset == 0 && !more) continue;  // atomic fragment (RFC 6946): not a fragment
      meta.is_fragment = true;
      meta.more_fragments = more;
      meta.frag_offset = frag_offset;
      meta.frag_id = load_be32(ext + 4);
      meta.frag_data_offset = static_cast<uint16_t>(offset);
      meta.frag_data_length = static_cast<uint16_t>(end - offset);
      if (auto r = check_fragment(meta); !r.ok) return r;
      if (frag_offset != 0) {
        meta.l4_proto = next;
        return ok();
      }
      continue;
    }
    if (offset + 2 > end) return drop(Reason::ipv6_ext_truncated);
    const uint32_t ext_len = (ext[1] + 1u) * 8u;
    if (offset + ext_len > end) return drop(Reason::ipv6_ext_truncated);
    next = ext[0];
    offset += ext_len;
  }
  meta.l4_proto = next;
  if (meta.is_fragment) {
    if (offset - meta.frag_data_offset > 255) return drop(Reason::frag_tiny);
    meta.frag_first_skip = static_cast<uint8_t>(offset - meta.frag_data_offset);
  }
  meta.l4_offset = static_cast<uint16_t>(offset);
  meta.l4_length = static_cast<uint16_t>(end - offset);
  if (next != kProtoUdp) return ok();
  return parse_udp(frame, static_cast<uint16_t>(offset), end - offset, meta);
}

}  // namespace

uint16_t ipv4_header_checksum(const uint8_t* header, unsigned length) {
  uint32_t sum = 0;
  for (unsigned i = 0; i + 1 < length; i += 2) sum += load_be16(header + i);
  while (sum >> 16) sum = (sum & 0xffffu) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffffu);
}

ParseOutcome parse_frame(const uint8_t* frame, uint32_t len, PacketMeta& meta,
                         ChecksumState ipv4_checksum) {
  meta = PacketMeta{};
  if (len < 14) return drop(Reason::eth_truncated);
  uint32_t offset = 12;
  uint16_t ether_type = load_be16(frame + offset);
  while (ether_type == kEtherVlan || ether_type == kEtherQinQ || ether_type == kEtherQinQLegacy) {
    if (meta.vlan_count == kMaxVlanTags) return drop(Reason::vlan_too_deep);
    if (offset + 6 > len) return drop(Reason::vlan_truncated);
    ++meta.vlan_count;
    offset += 4;
    ether_type = load_be16(frame + offset);
  }
  meta.l3_offset = static_cast<uint16_t>(offset + 2);
  if (ether_type == kEtherIpv4) return parse_ipv4(frame, len, meta, ipv4_checksum);
  if (ether_type == kEtherIpv6) return parse_ipv6(frame, len, meta);
  return ok();  // non-IP: crosses untouched
}

}  // namespace sipshield
