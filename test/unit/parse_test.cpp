// L2-L4 parse: every well-formed shape it must read, and every malformed one it must name.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>

#include "support.hpp"

using namespace sipshield;
using test::ep;
using test::parse;

namespace {

constexpr unsigned kL3 = 14;  // IP header offset of an untagged frame

Frame udp4(size_t payload = 64) {
  return build_udp(ep("198.18.0.1", 5062), ep("198.18.0.10"), test::bytes_of(payload))[0];
}
Frame udp6(size_t payload = 64) {
  return build_udp(ep("2001:db8::1", 5062), ep("2001:db8::10"), test::bytes_of(payload))[0];
}

// Inserts an IPv6 extension header of `type` right after the fixed header.
void insert_ipv6_ext(Frame& f, uint8_t type, std::vector<uint8_t> ext) {
  ext[0] = f[kL3 + 6];
  f[kL3 + 6] = type;
  f.insert(f.begin() + kL3 + 40, ext.begin(), ext.end());
  const unsigned payload = (f[kL3 + 4] << 8 | f[kL3 + 5]) + static_cast<unsigned>(ext.size());
  f[kL3 + 4] = static_cast<uint8_t>(payload >> 8);
  f[kL3 + 5] = static_cast<uint8_t>(payload);
}

std::vector<uint8_t> dest_options() {
  return {0, 0, 1, 4, 0, 0, 0, 0};
}  // PadN, 8 bytes

// Why a frame whose headers lie as in `whole` is dropped once cut to n bytes, short of its end.
Reason cut_reason(uint32_t n, const PacketMeta& whole) {
  const bool v4 = whole.ip_version == 4;
  if (n < 14) return Reason::eth_truncated;
  if (n < whole.l3_offset) return Reason::vlan_truncated;
  if (n < whole.l3_offset + (v4 ? 20u : 40u))
    return v4 ? Reason::ipv4_truncated : Reason::ipv6_truncated;
  return v4 ? Reason::ipv4_bad_total_length : Reason::ipv6_bad_payload_length;
}

Reason drop_reason(const Frame& f) {
  PacketMeta meta;
  const auto outcome = parse(f, meta);
  REQUIRE_FALSE(outcome.ok);
  return outcome.reason;
}

}  // namespace

TEST_CASE("IPv4 UDP: addresses, ports and payload", "[parse]") {
  const Frame f = udp4(100);
  PacketMeta meta;
  REQUIRE(parse(f, meta).ok);
  CHECK(meta.ip_version == 4);
  CHECK(meta.src == test::ip("198.18.0.1"));
  CHECK(meta.dst == test::ip("198.18.0.10"));
  CHECK(meta.has_udp);
  CHECK(meta.src_port == 5062);
  CHECK(meta.dst_port == 5060);
  CHECK(meta.payload_offset == kL3 + 28);
  CHECK(meta.payload_length == 100);
  CHECK_FALSE(meta.is_fragment);
}

TEST_CASE("Ethernet padding after a short IP packet is not payload", "[parse]") {
  const Frame f = udp4(4);  // 46 bytes, padded to 60
  REQUIRE(f.size() == 60);
  PacketMeta meta;
  REQUIRE(parse(f, meta).ok);
  CHECK(meta.payload_length == 4);
}

TEST_CASE("IPv4 options are skipped", "[parse]") {
  Frame f = udp4(32);
  // Grow the header by 4 bytes of NOP options (IHL 6) and fix lengths and checksum.
  f.insert(f.begin() + kL3 + 20, {1, 1, 1, 0});
  f[kL3] = 0x46;
  const unsigned total = (f[kL3 + 2] << 8 | f[kL3 + 3]) + 4;
  f[kL3 + 2] = static_cast<uint8_t>(total >> 8);
  f[kL3 + 3] = static_cast<uint8_t>(total);
  refresh_ipv4_checksum(f, kL3);
  PacketMeta meta;
  REQUIRE(parse(f, meta).ok);
  CHECK(meta.l4_offset == kL3 + 24);
  CHECK(meta.dst_port == 5060);
  CHECK(meta.payload_length == 32);
}

TEST_CASE("802.1Q and QinQ tags are walked", "[parse]") {
  FrameOptions one, two;
  one.vlans = {100};
  two.vlans = {100, 200};
  for (const auto* o : {&one, &two}) {
    const Frame f = build_udp(ep("198.18.0.1"), ep("198.18.0.10"), "x", *o)[0];
    PacketMeta meta;
    REQUIRE(parse(f, meta).ok);
    CHECK(meta.vlan_count == o->vlans.size());
    CHECK(meta.l3_offset == l3_offset(*o));
    CHECK(meta.dst_port == 5060);
  }
  // The pre-standard QinQ EtherType 0x9100 as the outer tag.
  Frame legacy = build_udp(ep("198.18.0.1"), ep("198.18.0.10"), "x", two)[0];
  legacy[12] = 0x91;
  legacy[13] = 0x00;
  PacketMeta meta;
  REQUIRE(parse(legacy, meta).ok);
  CHECK(meta.vlan_count == 2);
  CHECK(meta.dst_port == 5060);
}

TEST_CASE("non-IP frames parse as non-IP", "[parse]") {
  const Frame arp = build_arp_request(test::ip("198.18.0.1"), test::ip("198.18.0.10"));
  PacketMeta meta;
  REQUIRE(parse(arp, meta).ok);
  CHECK(meta.ip_version == 0);
}

TEST_CASE("IPv6 UDP, with extension headers before UDP", "[parse]") {
  Frame f = udp6(50);
  insert_ipv6_ext(f, 60, dest_options());
  insert_ipv6_ext(f, 43, {0, 0, 0, 0, 0, 0, 0, 0});  // routing, no segments left
  insert_ipv6_ext(f, 0, dest_options());             // hop-by-hop first
  PacketMeta meta;
  REQUIRE(parse(f, meta).ok);
  CHECK(meta.ip_version == 6);
  CHECK(meta.src == test::ip("2001:db8::1"));
  CHECK(meta.l4_offset == kL3 + 40 + 24);
  CHECK(meta.dst_port == 5060);
  CHECK(meta.payload_length == 50);
}

TEST_CASE("an IPv6 atomic fragment is not a fragment (RFC 6946)", "[parse]") {
  Frame f = udp6(20);
  insert_ipv6_ext(f, 44, {0, 0, 0, 0, 0, 0, 0, 7});
  PacketMeta meta;
  REQUIRE(parse(f, meta).ok);
  CHECK_FALSE(meta.is_fragment);
  CHECK(meta.has_udp);
  CHECK(meta.payload_length == 20);
}

TEST_CASE("fragments: first, middle and last of IPv4 and IPv6", "[parse]") {
  FrameOptions o;
  o.mtu = 600;
  o.ip_id = 0xbeef;
  for (const char* family : {"v4", "v6"}) {
    const bool v4 = family == std::string("v4");
    const auto frags =
        build_udp(v4 ? ep("198.18.0.1") : ep("2001:db8::1"),
                  v4 ? ep("198.18.0.10") : ep("2001:db8::10"), test::bytes_of(1500), o);
    REQUIRE(frags.size() == 3);
    uint32_t expected_offset = 0;
    for (size_t i = 0; i < frags.size(); ++i) {
      PacketMeta meta;
      REQUIRE(parse(frags[i], meta).ok);
      CHECK(meta.is_fragment);
      CHECK(meta.frag_id == 0xbeef);
      CHECK(meta.frag_offset == expected_offset);
      CHECK(meta.more_fragments == (i + 1 < frags.size()));
      CHECK(meta.has_udp == (i == 0));  // only the first carries the UDP header
      CHECK(meta.l4_proto == kProtoUdp);
      expected_offset += meta.frag_data_length;
    }
    CHECK(expected_offset == 1508);  // UDP header + payload
  }
}

TEST_CASE("malformed L2", "[parse][malformed]") {
  CHECK(drop_reason(Frame(13, 0)) == Reason::eth_truncated);
  Frame cut_tag = udp4();
  cut_tag[12] = 0x81;
  cut_tag[13] = 0x00;
  cut_tag.resize(16);
  CHECK(drop_reason(cut_tag) == Reason::vlan_truncated);
  FrameOptions three;
  three.vlans = {1, 2, 3};
  CHECK(drop_reason(build_udp(ep("198.18.0.1"), ep("198.18.0.10"), "x", three)[0]) ==
        Reason::vlan_too_deep);
}

TEST_CASE("malformed IPv4", "[parse][malformed]") {
  Frame f = udp4();
  SECTION("cut inside the header") {
    f.resize(kL3 + 19);
    CHECK(drop_reason(f) == Reason::ipv4_truncated);
  }
  SECTION("version not 4") {
    f[kL3] = 0x65;
    CHECK(drop_reason(f) == Reason::ipv4_bad_version);
  }
  SECTION("IHL below 5") {
    f[kL3] = 0x44;
    CHECK(drop_reason(f) == Reason::ipv4_bad_ihl);
  }
  SECTION("options longer than the frame") {
    f[kL3] = 0x4f;
    f.resize(kL3 + 40);
    CHECK(drop_reason(f) == Reason::ipv4_truncated);
  }
  SECTION("total length below the header") {
    f[kL3 + 2] = 0;
    f[kL3 + 3] = 16;
    refresh_ipv4_checksum(f, kL3);
    CHECK(drop_reason(f) == Reason::ipv4_bad_ihl);
  }
  SECTION("total length beyond the frame") {
    f[kL3 + 2] = 0x05;
    refresh_ipv4_checksum(f, kL3);
    CHECK(drop_reason(f) == Reason::ipv4_bad_total_length);
  }
  SECTION("wrong header checksum") {
    f[kL3 + 10] ^= 0xff;
    CHECK(drop_reason(f) == Reason::ipv4_bad_checksum);
  }
  SECTION("a checksum the NIC found bad") {
    PacketMeta meta;
    const auto outcome =
        parse_frame(f.data(), static_cast<uint32_t>(f.size()), meta, ChecksumState::bad);
    CHECK_FALSE(outcome.ok);
    CHECK(outcome.reason == Reason::ipv4_bad_checksum);
  }
  SECTION("a checksum the NIC verified is not recomputed") {
    f[kL3 + 10] ^= 0xff;
    PacketMeta meta;
    CHECK(parse_frame(f.data(), static_cast<uint32_t>(f.size()), meta, ChecksumState::good).ok);
  }
}

TEST_CASE("malformed IPv6", "[parse][malformed]") {
  Frame f = udp6();
  SECTION("cut inside the header") {
    f.resize(kL3 + 39);
    CHECK(drop_reason(f) == Reason::ipv6_truncated);
  }
  SECTION("version not 6") {
    f[kL3] = 0x40;
    CHECK(drop_reason(f) == Reason::ipv6_bad_version);
  }
  SECTION("payload length beyond the frame") {
    f[kL3 + 4] = 0x7f;
    CHECK(drop_reason(f) == Reason::ipv6_bad_payload_length);
  }
  SECTION("payload length zero (jumbogram)") {
    f[kL3 + 4] = f[kL3 + 5] = 0;
    CHECK(drop_reason(f) == Reason::ipv6_bad_payload_length);
  }
  SECTION("extension header running past the payload") {
    insert_ipv6_ext(f, 60, dest_options());
    f[kL3 + 40 + 1] = 200;  // claims 1608 bytes
    CHECK(drop_reason(f) == Reason::ipv6_ext_truncated);
  }
  SECTION("fragment header cut short") {
    Frame g = udp6(0);
    g[kL3 + 6] = 44;
    g[kL3 + 4] = 0;
    g[kL3 + 5] = 4;  // only 4 bytes of payload: half a fragment header
    CHECK(drop_reason(g) == Reason::ipv6_ext_truncated);
  }
  SECTION("too many extension headers") {
    for (int i = 0; i < 9; ++i) insert_ipv6_ext(f, 60, dest_options());
    CHECK(drop_reason(f) == Reason::ipv6_too_many_ext);
  }
}

TEST_CASE("malformed UDP", "[parse][malformed]") {
  SECTION("IP payload shorter than a UDP header") {
    Frame f = udp4(0);
    f[kL3 + 3] = 24;  // total length 24: 4 bytes of UDP
    refresh_ipv4_checksum(f, kL3);
    CHECK(drop_reason(f) == Reason::udp_truncated);
  }
  SECTION("UDP length beyond the IP payload") {
    Frame f = udp4(10);
    f[kL3 + 20 + 5] = 200;
    CHECK(drop_reason(f) == Reason::udp_bad_length);
  }
  SECTION("UDP length below 8") {
    Frame f = udp6(10);
    f[kL3 + 40 + 4] = 0;
    f[kL3 + 40 + 5] = 7;
    CHECK(drop_reason(f) == Reason::udp_bad_length);
  }
}

TEST_CASE("malformed fragments are refused before taking state", "[parse][malformed]") {
  FrameOptions o;
  o.mtu = 600;
  const auto frags4 = build_udp(ep("198.18.0.1"), ep("198.18.0.10"), test::bytes_of(1500), o);
  SECTION("a first fragment of 4 bytes") {
    Frame f = frags4[0];
    f[kL3 + 2] = 0;
    f[kL3 + 3] = 20 + 4;
    refresh_ipv4_checksum(f, kL3);
    f.resize(kL3 + 24);
    CHECK(drop_reason(f) == Reason::frag_bad_length);
  }
  SECTION("non-final fragment not a multiple of 8 bytes") {
    Frame f = frags4[0];
    const unsigned total = (f[kL3 + 2] << 8 | f[kL3 + 3]) - 3;
    f[kL3 + 2] = static_cast<uint8_t>(total >> 8);
    f[kL3 + 3] = static_cast<uint8_t>(total);
    refresh_ipv4_checksum(f, kL3);
    CHECK(drop_reason(f) == Reason::frag_bad_length);
  }
  SECTION("fragment reaching beyond 65535 bytes") {
    Frame f = frags4[2];
    f[kL3 + 6] = 0x1f;  // offset 8191 * 8
    f[kL3 + 7] = 0xff;
    refresh_ipv4_checksum(f, kL3);
    CHECK(drop_reason(f) == Reason::frag_too_big);
  }
  SECTION("tiny first IPv6 fragment: extension headers leave no room for UDP (RFC 1858)") {
    auto frags6 = build_udp(ep("2001:db8::1"), ep("2001:db8::10"), test::bytes_of(1500), o);
    Frame f = frags6[0];
    f.resize(kL3 + 40 + 8 + 8);  // fixed header, fragment header, 8 bytes of destination options
    f[kL3 + 40] = 60;
    const auto opts = dest_options();
    std::copy(opts.begin(), opts.end(), f.begin() + kL3 + 48);
    f[kL3 + 48] = kProtoUdp;
    f[kL3 + 4] = 0;
    f[kL3 + 5] = 16;
    CHECK(drop_reason(f) == Reason::frag_tiny);
  }
}

TEST_CASE("a frame cut before its IP packet ends is dropped without reading past it",
          "[parse][malformed]") {
  // The length fields are checked against the frame before anything behind them is read. Each
  // prefix sits in an exact-size heap buffer: ASan catches a read past it.
  FrameOptions qinq, fragmented;
  qinq.vlans = {100, 200};
  fragmented.mtu = 600;
  Frame v6_ext = udp6(100);
  insert_ipv6_ext(v6_ext, 60, dest_options());
  const std::pair<const char*, Frame> frames[] = {
      {"IPv4", udp4(100)},
      {"IPv4 in QinQ",
       build_udp(ep("198.18.0.1"), ep("198.18.0.10"), test::bytes_of(100), qinq)[0]},
      {"IPv6 with destination options", v6_ext},
      {"first IPv6 fragment",
       build_udp(ep("2001:db8::1"), ep("2001:db8::10"), test::bytes_of(1500), fragmented)[0]},
  };
  for (const auto& [name, frame] : frames) {
    INFO(name);
    PacketMeta whole;
    REQUIRE(parse(frame, whole).ok);
    for (uint32_t n = 0; n < frame.size(); ++n) {
      INFO("cut to " << n << " of " << frame.size() << " bytes");
      const auto exact = std::make_unique<uint8_t[]>(n);
      std::copy_n(frame.begin(), n, exact.get());
      PacketMeta meta;
      const auto outcome = parse_frame(exact.get(), n, meta);
      REQUIRE_FALSE(outcome.ok);
      CHECK(reason_name(outcome.reason) == reason_name(cut_reason(n, whole)));
    }
  }
}

TEST_CASE("IP that is not UDP is read as such, never as UDP", "[parse]") {
  // TCP to port 5060 must reach the default action, not the SIP stages.
  Frame tcp4 = udp4(40);
  tcp4[kL3 + 9] = 6;
  refresh_ipv4_checksum(tcp4, kL3);
  Frame tcp6 = udp6(40);
  tcp6[kL3 + 6] = 6;
  for (const Frame* f : {&tcp4, &tcp6}) {
    PacketMeta meta;
    REQUIRE(parse(*f, meta).ok);
    CHECK(meta.ip_version == (f == &tcp4 ? 4 : 6));
    CHECK(meta.l4_proto == 6);
    CHECK_FALSE(meta.has_udp);
    CHECK(meta.dst_port == 0);
    CHECK(meta.payload_length == 0);
  }
}
