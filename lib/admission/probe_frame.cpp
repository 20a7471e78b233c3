#include "admission/probe_frame.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <span>

#include "packet/builder.hpp"

namespace sipshield {
namespace {

// "a.b.c.d" or "[v6]" into `out` (at least 48 bytes); returns the length.
size_t host_text(const IpAddress& a, char* out) {
  if (a.is_v4()) {
    inet_ntop(AF_INET, &a.bytes[12], out, 16);
    return std::strlen(out);
  }
  out[0] = '[';
  inet_ntop(AF_INET6, a.bytes.data(), out + 1, 46);
  const size_t n = std::strlen(out);
  out[n] = ']';
  out[n + 1] = '\0';
  return n + 1;
}

struct Writer {
  char* out;
  size_t at = 0;
  Writer& text(std::string_view s) {
    std::memcpy(out + at, s.data(), s.size());
    at += s.size();
    return *this;
  }
  Writer& number(unsigned v) {
    char digits[8];
    size_t n = 0;
    do digits[n++] = static_cast<char>('0' + v % 10);
    while ((v /= 10) != 0);
    while (n) out[at++] = digits[--n];
    return *this;
  }
};

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

}  // namespace

size_t write_probe_text(char* out, const IpAddress& client, uint16_t client_port,
                        const IpAddress& service, uint16_t service_port,
                        const ProbeCookie::Text& cookie) {
  char c[48], s[48];
  const std::string_view ch(c, host_text(client, c)), sh(s, host_text(service, s));
  const std::string_view token(cookie.data(), cookie.size());
  Writer w{out};
  w.text("OPTIONS sip:").text(ch).text(":").number(client_port).text(" SIP/2.0\r\n");
  w.text("Via: SIP/2.0/UDP ").text(sh).text(":").number(service_port).text(";branch=");
  w.text(ProbeCookie::kBranchPrefix).text(token).text("\r\n");
  w.text("Max-Forwards: 70\r\n");
  w.text("From: <sip:probe@").text(sh).text(">;tag=ssp").text(token.substr(0, 8)).text("\r\n");
  w.text("To: <sip:").text(ch).text(":").number(client_port).text(">\r\n");
  w.text("Call-ID: ssp-").text(token).text("\r\n");
  w.text("CSeq: 1 OPTIONS\r\n");
  w.text("Content-Length: 0\r\n\r\n");
  return w.at;
}

std::string probe_answer_text(std::string_view probe) {
  std::string answer = "SIP/2.0 200 OK\r\n";
  for (const std::string_view name : {"Via", "From", "To", "Call-ID", "CSeq"}) {
    for (size_t at = probe.find("\r\n"); at != std::string_view::npos;
         at = probe.find("\r\n", at + 2)) {
      const std::string_view line = probe.substr(at + 2, probe.find("\r\n", at + 2) - at - 2);
      if (line.size() <= name.size() + 1 || !line.starts_with(name) || line[name.size()] != ':')
        continue;
      answer.append(line).append(name == "To" ? ";tag=ua\r\n" : "\r\n");
      break;
    }
  }
  return answer + "Content-Length: 0\r\n\r\n";
}

size_t rewrite_as_probe(uint8_t* frame, const PacketMeta& meta, std::string_view payload) {
  if (!meta.has_udp || meta.is_fragment || payload.size() > meta.payload_length) return 0;
  const unsigned l3 = meta.l3_offset, l4 = meta.l4_offset;
  if (meta.ip_version == 6 && l4 != l3 + 40) return 0;
  uint8_t mac[6];  // back to the neighbour it came from
  std::memcpy(mac, frame, 6);
  std::memcpy(frame, frame + 6, 6);
  std::memcpy(frame + 6, mac, 6);
  const auto udp_length = static_cast<uint16_t>(8 + payload.size());
  if (meta.ip_version == 4) {
    uint8_t* ip = frame + l3;
    const unsigned header = (ip[0] & 0x0f) * 4u;
    uint8_t a[4];
    std::memcpy(a, ip + 12, 4);
    std::memcpy(ip + 12, ip + 16, 4);
    std::memcpy(ip + 16, a, 4);
    put16(ip + 2, static_cast<uint16_t>(header + udp_length));
    put16(ip + 6, 0);  // not fragmented
    ip[8] = 64;
    put16(ip + 10, 0);
    put16(ip + 10, ipv4_header_checksum(ip, header));
  } else {
    uint8_t* ip = frame + l3;
    uint8_t a[16];
    std::memcpy(a, ip + 8, 16);
    std::memcpy(ip + 8, ip + 24, 16);
    std::memcpy(ip + 24, a, 16);
    put16(ip + 4, udp_length);
    ip[7] = 64;
  }
  uint8_t* udp = frame + l4;
  put16(udp, meta.dst_port);
  put16(udp + 2, meta.src_port);
  put16(udp + 4, udp_length);
  put16(udp + 6, 0);
  std::memcpy(udp + 8, payload.data(), payload.size());
  put16(udp + 6, udp_checksum(meta.dst, meta.src, std::span<const uint8_t>(udp, udp_length)));
  return l4 + udp_length;
}

}  // namespace sipshield
