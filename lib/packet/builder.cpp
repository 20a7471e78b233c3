#include "packet/builder.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "packet/parse.hpp"

namespace sipshield {
namespace {

void put16(Frame& f, size_t at, uint16_t v) {
  f[at] = static_cast<uint8_t>(v >> 8);
  f[at + 1] = static_cast<uint8_t>(v);
}
void put32(Frame& f, size_t at, uint32_t v) {
  put16(f, at, static_cast<uint16_t>(v >> 16));
  put16(f, at + 2, static_cast<uint16_t>(v));
}

Frame l2_header(const FrameOptions& o, uint16_t ether_type) {
  Frame f(12);
  std::memcpy(f.data(), o.dst_mac.data(), 6);
  std::memcpy(f.data() + 6, o.src_mac.data(), 6);
  for (size_t i = 0; i < o.vlans.size(); ++i) {
    const uint16_t tpid = (i == 0 && o.vlans.size() > 1) ? 0x88a8 : 0x8100;
    f.resize(f.size() + 4);
    put16(f, f.size() - 4, tpid);
    put16(f, f.size() - 2, o.vlans[i] & 0x0fff);
  }
  f.resize(f.size() + 2);
  put16(f, f.size() - 2, ether_type);
  return f;
}

}  // namespace

uint16_t udp_checksum(const IpAddress& src, const IpAddress& dst, std::span<const uint8_t> udp) {
  uint32_t sum = 0;
  auto add_bytes = [&sum](const uint8_t* p, size_t n) {
    for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
    if (n % 2) sum += static_cast<uint32_t>(p[n - 1] << 8);
  };
  if (src.is_v4()) {
    add_bytes(&src.bytes[12], 4);
    add_bytes(&dst.bytes[12], 4);
  } else {
    add_bytes(src.bytes.data(), 16);
    add_bytes(dst.bytes.data(), 16);
  }
  sum += kProtoUdp + static_cast<uint32_t>(udp.size());
  add_bytes(udp.data(), udp.size());
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  const auto c = static_cast<uint16_t>(~sum);
  return c == 0 ? 0xffff : c;
}

unsigned l3_offset(const FrameOptions& options) {
  return 14 + 4 * static_cast<unsigned>(options.vlans.size());
}

void refresh_ipv4_checksum(Frame& frame, unsigned l3) {
  const unsigned header_len = (frame[l3] & 0x0f) * 4u;
  put16(frame, l3 + 10, 0);
  put16(frame, l3 + 10, ipv4_header_checksum(frame.data() + l3, header_len));
}

std::vector<Frame> build_ip(const IpAddress& src, const IpAddress& dst, uint8_t proto,
                            std::span<const uint8_t> l4, const FrameOptions& o) {
  const bool v4 = src.is_v4();
  const unsigned ip_header = v4 ? 20 : 40;
  const unsigned frag_header = v4 ? 0 : 8;
  std::vector<Frame> frames;
  const bool fragment = ip_header + l4.size() > o.mtu;
  // Each fragment carries a multiple of 8 bytes except the last.
  const size_t chunk = fragment ? (o.mtu - ip_header - frag_header) / 8 * 8 : l4.size();
  for (size_t offset = 0; offset < l4.size(); offset += chunk) {
    const size_t len = std::min(chunk, l4.size() - offset);
    const bool more = offset + len < l4.size();
    Frame f = l2_header(o, v4 ? 0x0800 : 0x86dd);
    const size_t l3 = f.size();
    if (v4) {
      f.resize(l3 + 20);
      f[l3] = 0x45;
      put16(f, l3 + 2, static_cast<uint16_t>(20 + len));
      put16(f, l3 + 4, static_cast<uint16_t>(o.ip_id));
      put16(f, l3 + 6, static_cast<uint16_t>((more ? 0x2000 : 0) | (offset / 8)));
      f[l3 + 8] = o.hop_limit;
      f[l3 + 9] = proto;
      std::memcpy(&f[l3 + 12], &src.bytes[12], 4);
      std::memcpy(&f[l3 + 16], &dst.bytes[12], 4);
      put16(f, l3 + 10, ipv4_header_checksum(&f[l3], 20));
    } else {
      const size_t extra = fragment ? 8 : 0;
      f.resize(l3 + 40 + extra);
      f[l3] = 0x60;
      put16(f, l3 + 4, static_cast<uint16_t>(extra + len));
      f[l3 + 6] = fragment ? 44 : proto;
      f[l3 + 7] = o.hop_limit;
      std::memcpy(&f[l3 + 8], src.bytes.data(), 16);
      std::memcpy(&f[l3 + 24], dst.bytes.data(), 16);
      if (fragment) {
        f[l3 + 40] = proto;
        put16(f, l3 + 42, static_cast<uint16_t>(offset | (more ? 1 : 0)));
        put32(f, l3 + 44, o.ip_id);
      }
    }
    f.insert(f.end(), l4.begin() + static_cast<long>(offset),
             l4.begin() + static_cast<long>(offset + len));
    if (f.size() < 60) f.resize(60);  // Ethernet minimum (without FCS): padding, as on the wire
    frames.push_back(std::move(f));
  }
  return frames;
}

namespace {

Frame udp_datagram(const Endpoint& src, const Endpoint& dst, std::span<const uint8_t> payload) {
  if (src.address.is_v4() != dst.address.is_v4())
    throw std::invalid_argument("build_udp: source and destination of different families");
  if (payload.size() > 65000) throw std::invalid_argument("build_udp: payload too large");
  Frame udp(8 + payload.size());
  put16(udp, 0, src.port);
  put16(udp, 2, dst.port);
  put16(udp, 4, static_cast<uint16_t>(udp.size()));
  std::copy(payload.begin(), payload.end(), udp.begin() + 8);
  put16(udp, 6, udp_checksum(src.address, dst.address, udp));
  return udp;
}

}  // namespace

std::vector<Frame> build_udp(const Endpoint& src, const Endpoint& dst,
                             std::span<const uint8_t> payload, const FrameOptions& o) {
  return build_ip(src.address, dst.address, kProtoUdp, udp_datagram(src, dst, payload), o);
}

EspFrame build_esp(const Endpoint& src, const Endpoint& dst, uint32_t spi, uint32_t seq,
                   std::span<const uint8_t> payload, size_t icv_length, const FrameOptions& o) {
  Frame esp(8);
  put32(esp, 0, spi);
  put32(esp, 4, seq);
  const Frame udp = udp_datagram(src, dst, payload);
  esp.insert(esp.end(), udp.begin(), udp.end());
  // RFC 4303 2.4: padding 1, 2, 3... so that pad length and next header end on 4 bytes.
  const size_t pad = (4 - (esp.size() + 2) % 4) % 4;
  for (size_t i = 1; i <= pad; ++i) esp.push_back(static_cast<uint8_t>(i));
  esp.push_back(static_cast<uint8_t>(pad));
  esp.push_back(kProtoUdp);
  const size_t covered = esp.size();
  esp.resize(covered + icv_length);
  EspFrame out;
  out.frame = build_ip(src.address, dst.address, kProtoEsp, esp, o).at(0);
  out.esp_offset = l3_offset(o) + (src.address.is_v4() ? 20 : 40);
  out.esp_length = esp.size();
  out.icv_offset = out.esp_offset + covered;
  return out;
}

std::vector<Frame> build_udp(const Endpoint& src, const Endpoint& dst, std::string_view payload,
                             const FrameOptions& options) {
  return build_udp(src, dst,
                   std::span(reinterpret_cast<const uint8_t*>(payload.data()), payload.size()),
                   options);
}

Frame build_arp_request(const IpAddress& sender, const IpAddress& target, const FrameOptions& o) {
  FrameOptions broadcast = o;
  broadcast.dst_mac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  Frame f = l2_header(broadcast, 0x0806);
  const size_t at = f.size();
  f.resize(at + 28);
  put16(f, at, 1);  // Ethernet
  put16(f, at + 2, 0x0800);
  f[at + 4] = 6;
  f[at + 5] = 4;
  put16(f, at + 6, 1);  // request
  std::memcpy(&f[at + 8], o.src_mac.data(), 6);
  std::memcpy(&f[at + 14], &sender.bytes[12], 4);
  std::memcpy(&f[at + 24], &target.bytes[12], 4);
  if (f.size() < 60) f.resize(60);
  return f;
}

}  // namespace sipshield
