#include "generator/sip_text.hpp"

#include <fmt/format.h>

namespace sipshield {
namespace {

std::string_view compact_name(std::string_view name) {
  static constexpr std::pair<std::string_view, std::string_view> kCompact[] = {
      {"Via", "v"},     {"From", "f"},           {"To", "t"},           {"Call-ID", "i"},
      {"Contact", "m"}, {"Content-Length", "l"}, {"Content-Type", "c"}, {"Supported", "k"},
      {"Subject", "s"}, {"Event", "o"},          {"Allow-Events", "u"}, {"Refer-To", "r"},
  };
  for (const auto& [full, small] : kCompact)
    if (full == name) return small;
  return name;
}

}  // namespace

std::string host_text(const IpAddress& a) {
  // fmt rather than "[" + s + "]": GCC 12 at -O3 reports a false -Wrestrict in that operator+.
  return a.is_v4() ? a.to_string() : fmt::format("[{}]", a.to_string());
}

std::string hostport(const Endpoint& e) {
  return fmt::format("{}:{}", host_text(e.address), e.port);
}

std::string random_token(std::mt19937_64& rng, size_t length, std::string_view alphabet) {
  std::string s(length, ' ');
  for (auto& c : s) c = alphabet[rng() % alphabet.size()];
  return s;
}

std::string random_hex(std::mt19937_64& rng, size_t length) {
  return random_token(rng, length, "0123456789abcdef");
}

SipText& SipText::header(std::string_view name, std::string_view value) {
  headers_.emplace_back(compact_ ? compact_name(name) : name, value);
  return *this;
}

SipText& SipText::body(std::string content_type, std::string content) {
  content_type_ = std::move(content_type);
  body_ = std::move(content);
  return *this;
}

std::string SipText::str() const {
  std::string out = start_ + "\r\n";
  for (const auto& [name, value] : headers_) out += fmt::format("{}: {}\r\n", name, value);
  if (!body_.empty())
    out += fmt::format("{}: {}\r\n", compact_ ? "c" : "Content-Type", content_type_);
  out += fmt::format("{}: {}\r\n\r\n", compact_ ? "l" : "Content-Length", body_.size());
  return out + body_;
}

std::string sdp(const IpAddress& media, uint16_t port, uint64_t session_id, bool large) {
  const char* family = media.is_v4() ? "IP4" : "IP6";
  const std::string addr = media.to_string();
  std::string s = fmt::format(
      "v=0\r\no=- {0} {0} IN {1} {2}\r\ns=-\r\nc=IN {1} {2}\r\nt=0 0\r\n"
      "m=audio {3} RTP/AVP 0 8 9 18 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
      "a=rtpmap:9 G722/8000\r\na=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no\r\n"
      "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n",
      session_id, family, addr, port);
  if (!large) return s;
  s += "a=rtcp-mux\r\na=ice-ufrag:8hhY\r\na=ice-pwd:asd88fgpdd777uzjYhagZg\r\n";
  for (int i = 0; i < 4; ++i)
    s += fmt::format(
        "a=crypto:{} AES_CM_128_HMAC_SHA1_80 "
        "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz{:04d}xyzabcdEFGH|2^20|1:32\r\n",
        i + 1, session_id % 10000);
  for (int i = 0; i < 6; ++i)
    s += fmt::format("a=candidate:{} 1 UDP {} {} {} typ host\r\n", i + 1, 2130706431 - i, addr,
                     port + 2 * i);
  s += fmt::format(
      "m=video {} RTP/AVP 96 97 98\r\na=rtpmap:96 H264/90000\r\n"
      "a=fmtp:96 profile-level-id=42e01f;packetization-mode=1\r\na=rtpmap:97 VP8/90000\r\n"
      "a=rtpmap:98 H263-1998/90000\r\na=rtcp-fb:* nack\r\na=rtcp-fb:* nack pli\r\n"
      "a=rtcp-fb:* ccm fir\r\na=sendrecv\r\n",
      port + 100);
  for (int i = 0; i < 6; ++i)
    s += fmt::format("a=candidate:{} 1 UDP {} {} {} typ host\r\n", i + 7, 2130706431 - i, addr,
                     port + 100 + 2 * i);
  return s;
}

const std::vector<std::string_view>& user_agents() {
  static const std::vector<std::string_view> kAgents = {
      "Linphone/5.2.5 (belle-sip/5.2.0)",
      "Zoiper rv2.10.19.5",
      "Yealink SIP-T46S 66.86.0.15",
      "PolycomVVX-VVX_411-UA/6.4.3.5018",
      "Grandstream GXP2170 1.0.11.23",
      "MicroSIP/3.21.3",
      "Bria 6 release 6.5.4 stamp 112400",
      "Cisco-CP8845/12.8.1",
      "snom D785/10.1.141.13",
      "Obihai OBi202 3.2.2 (Build: 5921EX)",
      "Fanvil X4U 2.12.2.4",
      "Jitsi2.10.5550Linux",
  };
  return kAgents;
}

}  // namespace sipshield
