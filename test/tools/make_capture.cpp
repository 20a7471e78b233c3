// Writes the integration tests' captures. Frames come from the project's frame builder, then
// tests break exactly the bytes they mean to break.
//   make-capture clean PREFIX   SIP both ways, v4 and v6, fragmented and not, VLAN, ARP
//   make-capture mixed PREFIX   clean plus every malformed shape, fragment attacks and strays
// Writes PREFIX-outside.pcap (client side), PREFIX-inside.pcap (server side) and
// PREFIX-both.pcap (the two merged by time, as a tap on the link would see them).
#include <algorithm>
#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "packet/builder.hpp"
#include "packet/parse.hpp"
#include "packet/pcap_file.hpp"

using namespace sipshield;

namespace {

struct Timed {
  uint64_t time_us;
  Frame frame;
  bool from_outside;
};

class Capture {
 public:
  void add(bool outside, const std::vector<Frame>& frames, uint64_t gap_us = 100) {
    for (const auto& f : frames) frames_.push_back({t_ += gap_us, f, outside});
  }
  void add(bool outside, const Frame& f, uint64_t gap_us = 100) {
    add(outside, std::vector<Frame>{f}, gap_us);
  }
  void write(const std::string& prefix) const {
    PcapWriter out(prefix + "-outside.pcap"), in(prefix + "-inside.pcap"),
        both(prefix + "-both.pcap");
    for (const auto& f : frames_) {
      (f.from_outside ? out : in).write(f.time_us, f.frame);
      both.write(f.time_us, f.frame);
    }
  }
  uint64_t t_ = 1'700'000'000'000'000;

 private:
  std::vector<Timed> frames_;
};

Endpoint ep(const char* a, uint16_t port = 5060) {
  return {*IpAddress::parse(a), port};
}

std::string sip_request(const char* method, const std::string& user, size_t body = 0) {
  std::string msg = fmt::format(
      "{0} sip:{1}@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.1.1:5062;branch=z9hG4bK{1}\r\n"
      "Max-Forwards: 70\r\nFrom: <sip:{1}@example.test>;tag=1\r\nTo: <sip:{1}@example.test>\r\n"
      "Call-ID: {1}@198.18.1.1\r\nCSeq: 1 {0}\r\nContent-Length: {2}\r\n\r\n",
      method, user, body);
  msg.append(body, 'v');
  return msg;
}

void clean(Capture& c) {
  const Endpoint server4 = ep("198.18.0.10"), server6 = ep("2001:db8::10");
  FrameOptions small_mtu;
  small_mtu.mtu = 1280;
  for (int i = 0; i < 20; ++i) {
    const auto user = fmt::format("alice{}", i);
    FrameOptions o;
    o.ip_id = 100 + i;
    const Endpoint client4 = ep(fmt::format("198.18.1.{}", 1 + i).c_str(), 5062);
    const Endpoint client6 = ep(fmt::format("2001:db8:1::{}", 1 + i).c_str(), 5062);
    c.add(true, build_udp(client4, server4, sip_request("REGISTER", user), o));
    c.add(false, build_udp(server4, client4, "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", o));
    c.add(true, build_udp(client6, server6, sip_request("OPTIONS", user), o));
    FrameOptions frag = small_mtu;
    frag.ip_id = 1000 + i;
    c.add(true, build_udp(client4, server4, sip_request("INVITE", user, 2500), frag));
    c.add(true, build_udp(client6, server6, sip_request("INVITE", user, 3000), frag));
    c.add(false, build_udp(server6, client6, sip_request("BYE", user, 2000), frag));
  }
  FrameOptions tagged;
  tagged.vlans = {100, 200};
  c.add(true,
        build_udp(ep("198.18.1.50", 5062), server4, sip_request("OPTIONS", "tagged"), tagged));
  c.add(true, build_arp_request(*IpAddress::parse("198.18.1.1"), server4.address));
  c.add(false, build_arp_request(server4.address, *IpAddress::parse("198.18.1.1")));
}

void put16(Frame& f, size_t at, unsigned v) {
  f[at] = static_cast<uint8_t>(v >> 8);
  f[at + 1] = static_cast<uint8_t>(v);
}

void attacks(Capture& c) {
  const Endpoint server4 = ep("198.18.0.10"), server6 = ep("2001:db8::10");
  const Endpoint attacker = ep("198.18.66.6", 40000);
  const Frame base = build_udp(attacker, server4, sip_request("OPTIONS", "x"))[0];
  // Malformed headers, one of each.
  c.add(true, Frame(base.begin(), base.begin() + 10));
  Frame v = base;
  v[14] = 0x55;
  c.add(true, v);
  Frame ihl = base;
  ihl[14] = 0x43;
  refresh_ipv4_checksum(ihl, 14);
  c.add(true, ihl);
  Frame total = base;
  put16(total, 16, 0x4000);
  refresh_ipv4_checksum(total, 14);
  c.add(true, total);
  Frame checksum = base;
  checksum[24] ^= 0x5a;
  c.add(true, checksum);
  Frame udp_len = base;
  put16(udp_len, 14 + 20 + 4, 4000);
  c.add(true, udp_len);
  Frame six = build_udp(ep("2001:db8:66::6", 40000), server6, "junk")[0];
  put16(six, 14 + 4, 3000);
  c.add(true, six);
  FrameOptions deep;
  deep.vlans = {1, 2, 3};
  c.add(true, build_udp(attacker, server4, "deep", deep));
  // Fragment attacks: incomplete datagrams, overlaps, duplicates.
  FrameOptions f;
  f.mtu = 576;
  for (uint32_t i = 0; i < 200; ++i) {
    f.ip_id = 5000 + i;
    const auto src = ep(fmt::format("198.19.{}.{}", i / 250, i % 250 + 1).c_str(), 40000);
    c.add(true, build_udp(src, server4, sip_request("INVITE", "flood", 1200), f)[0], 10);
  }
  f.ip_id = 7000;
  auto overlap = build_udp(attacker, server4, sip_request("INVITE", "ovl", 1200), f);
  const unsigned second_offset = (overlap[1][20] << 8 | overlap[1][21]) & 0x1fff;
  put16(overlap[1], 14 + 6, 0x2000 | (second_offset - 1));  // 8 bytes back into the first
  refresh_ipv4_checksum(overlap[1], 14);
  c.add(true, overlap);
  f.ip_id = 7001;
  auto dup = build_udp(ep("198.18.1.77", 5062), server4, sip_request("INVITE", "dup", 1200), f);
  c.add(true, {dup[0], dup[0], dup[1], dup[2]});
  // Not for a protected service.
  c.add(true,
        build_udp(ep("198.18.1.5", 5062), ep("198.18.0.99"), sip_request("OPTIONS", "other")));
  c.add(true, build_udp(ep("198.18.1.5", 5062), ep("198.18.0.10", 53), "dns?"));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (std::string(argv[1]) != "clean" && std::string(argv[1]) != "mixed")) {
    std::fprintf(stderr, "usage: make-capture clean|mixed PREFIX\n");
    return 2;
  }
  Capture c;
  clean(c);
  if (std::string(argv[1]) == "mixed") {
    attacks(c);
    clean(c);  // legitimate traffic after the attack too
  }
  c.write(argv[2]);
  return 0;
}
