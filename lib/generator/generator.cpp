#include "generator/generator.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>
#include <functional>
#include <queue>
#include <random>

#include <fmt/format.h>

#include "generator/sip_text.hpp"
#include "packet/pcap_file.hpp"

namespace sipshield {
namespace {

constexpr uint64_t kSecond = 1'000'000;  // generator time is in microseconds
constexpr uint64_t kTimerA = 500'000;    // RFC 3261 T1: first retransmission of a request
constexpr std::string_view kServerAgent = "Kamailio (5.6.3 (x86_64/linux))";
constexpr std::string_view kAllow = "INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, REFER, MESSAGE";
// RFC 1123 date (RFC 3261 20.17), always GMT.
std::string http_date(uint64_t epoch_s) {
  const time_t t = static_cast<time_t>(epoch_s);
  tm utc{};
  gmtime_r(&t, &utc);
  char buf[64];
  strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  return buf;
}

constexpr std::string_view kTokenChars =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

struct User {
  uint32_t id;
  std::string ext;
  Endpoint address;
  bool compact;
  bool newcomer;
  std::string_view agent;
  uint64_t rtt_us;
  uint32_t cseq = 1;
  std::string register_call_id;
  std::string from_tag;
  bool registered = false;
  uint16_t next_ip_id;
};

struct Event {
  uint64_t time;
  uint64_t seq;
  std::function<void()> run;
  bool operator>(const Event& o) const { return time != o.time ? time > o.time : seq > o.seq; }
};

// A SIP request's identity, copied into its responses.
struct Transaction {
  std::string via, from, to, call_id, cseq;
};

class Simulation {
 public:
  Simulation(const Scenario& s, FrameSink& sink) : s_(s), sink_(sink), rng_(s.seed) {}

  uint64_t run() {
    make_users();
    for (auto& f : s_.floods) start_flood(f);
    while (!queue_.empty()) {
      Event e = queue_.top();
      queue_.pop();
      if (e.time > end_) continue;
      now_ = e.time;
      e.run();
    }
    return frames_;
  }

 private:
  // ---- plumbing -------------------------------------------------------------------------

  void at(uint64_t time, std::function<void()> fn) {
    if (time <= end_) queue_.push({time, seq_++, std::move(fn)});
  }
  double uniform(double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng_); }
  bool chance(double p) { return uniform(0, 1) < p; }
  uint64_t jitter(double seconds, double spread = 0.1) {
    return static_cast<uint64_t>(seconds * uniform(1 - spread, 1 + spread) * kSecond);
  }
  uint64_t exponential(double mean_seconds) {
    return static_cast<uint64_t>(std::exponential_distribution<double>(1 / mean_seconds)(rng_) *
                                 kSecond) +
           1;
  }
  std::string token(size_t n) { return random_token(rng_, n, kTokenChars); }
  std::string branch() { return "z9hG4bK" + token(16); }

  const Endpoint& server_for(const IpAddress& a) const {
    for (const auto& srv : s_.servers)
      if (srv.address.is_v4() == a.is_v4()) return srv;
    return s_.servers.front();
  }

  void emit(const Endpoint& src, const Endpoint& dst, const std::string& payload,
            const std::string& label, uint64_t flow, bool toward_server, uint16_t ip_id) {
    FrameOptions o;
    o.mtu = s_.mtu;
    o.ip_id = ip_id;
    for (auto& bytes : build_udp(src, dst, payload, o)) {
      GeneratedFrame f;
      f.time_us = s_.epoch_s * kSecond + now_;
      f.bytes = std::move(bytes);
      f.label = label;
      f.flow = flow;
      f.toward_server = toward_server;
      sink_.frame(f);
      ++frames_;
    }
  }
  void from_user(User& u, const std::string& payload, const std::string& label, uint64_t flow) {
    emit(u.address, server_for(u.address.address), payload, label, flow, true, u.next_ip_id++);
  }
  void to_user(User& u, const std::string& payload, const std::string& label, uint64_t flow) {
    emit(server_for(u.address.address), u.address, payload, label, flow, false, server_ip_id_++);
  }

  std::string label(const User& u, std::string_view activity) const {
    return fmt::format("legit_{}{}", u.newcomer ? "newcomer_" : "", activity);
  }

  // ---- users ----------------------------------------------------------------------------

  void make_users() {
    const auto& spec = s_.users;
    end_ = static_cast<uint64_t>(s_.duration_s * kSecond);
    uint32_t v4_host = 1, v6_host = 1;
    uint32_t shared_left = 0;
    Endpoint shared{};
    const uint32_t total = spec.count + spec.newcomers;
    for (uint32_t i = 0; i < total; ++i) {
      User u;
      u.id = i;
      u.ext = std::to_string(1000 + i);
      u.newcomer = i >= spec.count;
      u.compact = chance(spec.compact_share);
      u.agent = user_agents()[rng_() % user_agents().size()];
      u.rtt_us = static_cast<uint64_t>(uniform(10'000, 40'000));
      u.from_tag = token(10);
      u.register_call_id = token(22) + "@" + u.ext;
      u.next_ip_id = static_cast<uint16_t>(rng_());
      if (shared_left > 0) {  // another phone behind the same NAT address
        // A NAT maps each phone to its own high port.
        u.address = {shared.address, static_cast<uint16_t>(40000 + 2 * (rng_() % 10000))};
        --shared_left;
      } else {
        const bool v6 = chance(spec.ipv6_share);
        IpAddress a = v6 ? spec.ipv6_prefix.address : spec.ipv4_prefix.address;
        const uint32_t host = v6 ? v6_host++ : v4_host++;
        for (int b = 0; b < 4; ++b) a.bytes[15 - b] |= static_cast<uint8_t>(host >> (8 * b));
        u.address = {a, 5060};
        if (chance(spec.nat_share)) {
          shared = u.address;
          shared_left = 1 + static_cast<uint32_t>(rng_() % 3);
        }
      }
      users_.push_back(u);
    }
    // Regular users register during the warm-up; newcomers while the floods run.
    double flood_start = s_.duration_s / 2, flood_end = s_.duration_s;
    if (!s_.floods.empty()) {
      flood_start = s_.duration_s;
      flood_end = 0;
      for (const auto& f : s_.floods) {
        flood_start = std::min(flood_start, f.start_s);
        flood_end = std::max(flood_end, std::min(s_.duration_s, f.start_s + f.duration_s));
      }
    }
    for (auto& u : users_) {
      const double first = u.newcomer ? uniform(flood_start, std::max(flood_start, flood_end - 1))
                                      : uniform(0, std::max(0.001, spec.warmup_s));
      at(static_cast<uint64_t>(first * kSecond), [this, &u] { register_user(u); });
    }
  }

  Transaction request_ids(User& u, const std::string& call_id, const std::string& method,
                          const std::string& to_tag = {}) {
    Transaction t;
    t.via = fmt::format("SIP/2.0/UDP {};branch={};rport", hostport(u.address), branch());
    t.from = fmt::format("<sip:{}@{}>;tag={}", u.ext, s_.domain, u.from_tag);
    t.to = fmt::format("<sip:{}@{}>{}", u.ext, s_.domain, to_tag.empty() ? "" : ";tag=" + to_tag);
    t.call_id = call_id;
    t.cseq = fmt::format("{} {}", u.cseq++, method);
    return t;
  }

  std::string response(const Transaction& t, const std::string& status, bool compact,
                       const std::string& to_tag,
                       std::vector<std::pair<std::string, std::string>> extra = {},
                       std::string body = {}) {
    SipText r("SIP/2.0 " + status, compact);
    r.header("Via", t.via)
        .header("From", t.from)
        .header("To", t.to.find(";tag=") == std::string::npos && !to_tag.empty()
                          ? t.to + ";tag=" + to_tag
                          : t.to)
        .header("Call-ID", t.call_id)
        .header("CSeq", t.cseq);
    for (auto& [k, v] : extra) r.header(k, v);
    r.header("Server", kServerAgent);
    if (!body.empty()) r.body("application/sdp", std::move(body));
    return r.str();
  }

  // A request's start line and the headers that identify its transaction (RFC 3261 8.1.1).
  static SipText request_head(std::string start_line, const Transaction& t, bool compact) {
    SipText m(std::move(start_line), compact);
    m.header("Via", t.via)
        .header("Max-Forwards", "70")
        .header("From", t.from)
        .header("To", t.to)
        .header("Call-ID", t.call_id)
        .header("CSeq", t.cseq);
    return m;
  }

  std::string digest(const User& u, std::string_view header_realm_nonce_uri) {
    return fmt::format("Digest username=\"{}\", {}, response=\"{}\", algorithm=MD5", u.ext,
                       header_realm_nonce_uri, random_hex(rng_, 32));
  }

  void register_user(User& u) {
    const uint64_t flow = next_flow_++;
    const std::string lbl = label(u, u.registered ? "reregister" : "register");
    const auto expires = s_.users.register_expires_s;
    auto build = [this, &u, expires](const Transaction& t, const std::string& authorization) {
      SipText m = request_head(fmt::format("REGISTER sip:{} SIP/2.0", s_.domain), t, u.compact);
      m.header("Contact", fmt::format("<sip:{}@{};transport=udp>;+sip.instance=\"<urn:uuid:{}>\"",
                                      u.ext, hostport(u.address), u.register_call_id.substr(0, 8)))
          .header("Expires", std::to_string(expires))
          .header("Allow", kAllow)
          .header("User-Agent", u.agent);
      if (!authorization.empty()) m.header("Authorization", authorization);
      return m.str();
    };
    const Transaction first = request_ids(u, u.register_call_id, "REGISTER");
    const std::string request = build(first, {});
    from_user(u, request, lbl, flow);
    uint64_t t = now_;
    if (chance(s_.users.loss)) {  // the challenge is lost: timer A fires
      t += kTimerA;
      at(t, [this, &u, request, lbl, flow] { from_user(u, request, lbl, flow); });
    }
    const std::string nonce = random_hex(rng_, 32);
    t += u.rtt_us / 2 + 1000;
    at(t, [=, this, &u] {
      to_user(
          u,
          response(first, "401 Unauthorized", false, token(10),
                   {{"WWW-Authenticate",
                     fmt::format("Digest realm=\"{}\", nonce=\"{}\", algorithm=MD5, qop=\"auth\"",
                                 s_.domain, nonce)}}),
          lbl, flow);
    });
    t += u.rtt_us / 2 + 2000;
    at(t, [=, this, &u] {
      const Transaction second = request_ids(u, u.register_call_id, "REGISTER");
      from_user(u,
                build(second, digest(u, fmt::format("realm=\"{}\", nonce=\"{}\", uri=\"sip:{}\", "
                                                    "qop=auth, nc=00000001, cnonce=\"{}\"",
                                                    s_.domain, nonce, s_.domain, token(8)))),
                lbl, flow);
      at(now_ + u.rtt_us / 2 + 1000, [=, this, &u] {
        to_user(u,
                response(second, "200 OK", false, token(10),
                         {{"Contact", fmt::format("<sip:{}@{};transport=udp>;expires={}", u.ext,
                                                  hostport(u.address), expires)},
                          {"Date", http_date(s_.epoch_s + now_ / kSecond)}}),
                lbl, flow);
        if (!u.registered) start_activity(u);
        u.registered = true;
        at(now_ + jitter(expires / 2.0), [this, &u] { register_user(u); });
      });
    });
  }

  void start_activity(User& u) {
    const auto& spec = s_.users;
    if (spec.keepalive_interval_s > 0)
      at(now_ + jitter(spec.keepalive_interval_s, 0.5), [this, &u] { keepalive(u); });
    if (spec.server_ping_interval_s > 0)
      at(now_ + jitter(spec.server_ping_interval_s, 0.5), [this, &u] { server_ping(u); });
    if (spec.calls_per_user_per_hour > 0)
      at(now_ + exponential(3600 / spec.calls_per_user_per_hour), [this, &u] { call(u); });
  }

  void keepalive(User& u) {  // RFC 5626 4.4.1: CRLFCRLF ping, CRLF pong
    const uint64_t flow = next_flow_++;
    from_user(u, "\r\n\r\n", label(u, "keepalive"), flow);
    at(now_ + u.rtt_us, [=, this, &u] { to_user(u, "\r\n", label(u, "keepalive"), flow); });
    at(now_ + jitter(s_.users.keepalive_interval_s), [this, &u] { keepalive(u); });
  }

  void server_ping(User& u) {
    const uint64_t flow = next_flow_++;
    const Endpoint& srv = server_for(u.address.address);
    Transaction t;
    t.via = fmt::format("SIP/2.0/UDP {};branch={}", hostport(srv), branch());
    t.from = fmt::format("<sip:pinger@{}>;tag={}", s_.domain, token(10));
    t.to = fmt::format("<sip:{}@{}>", u.ext, hostport(u.address));
    t.call_id = token(20) + "@" + host_text(srv.address);
    t.cseq = "10 OPTIONS";
    SipText m = request_head(fmt::format("OPTIONS sip:{}@{} SIP/2.0", u.ext, hostport(u.address)),
                             t, false);
    m.header("User-Agent", kServerAgent);
    to_user(u, m.str(), label(u, "ping"), flow);
    at(now_ + u.rtt_us, [=, this, &u] {
      from_user(u,
                response(t, "200 OK", u.compact, token(8),
                         {{"Allow", std::string(kAllow)}, {"User-Agent", std::string(u.agent)}}),
                label(u, "ping"), flow);
    });
    at(now_ + jitter(s_.users.server_ping_interval_s), [this, &u] { server_ping(u); });
  }

  void call(User& caller) {
    at(now_ + exponential(3600 / s_.users.calls_per_user_per_hour),
       [this, &caller] { call(caller); });
    std::vector<User*> callees;
    for (auto& u : users_)
      if (u.registered && u.id != caller.id &&
          u.address.address.is_v4() == caller.address.address.is_v4())
        callees.push_back(&u);
    if (callees.empty()) return;
    User& callee = *callees[rng_() % callees.size()];
    const uint64_t flow = next_flow_++;
    const std::string lbl = label(caller, "call");
    const std::string call_id = token(24) + "@" + host_text(caller.address.address);
    const bool large = chance(s_.users.large_sdp_share);
    const std::string offer =
        sdp(caller.address.address, static_cast<uint16_t>(10000 + 2 * (rng_() % 5000)),
            rng_() % 1000000000, large);
    const Endpoint& srv = server_for(caller.address.address);
    const std::string to_uri = fmt::format("sip:{}@{}", callee.ext, s_.domain);

    auto invite = [=, &caller](const Transaction& t, const std::string& auth) {
      SipText m = request_head(fmt::format("INVITE {} SIP/2.0", to_uri), t, caller.compact);
      m.header("Contact", fmt::format("<sip:{}@{}>", caller.ext, hostport(caller.address)))
          .header("Allow", kAllow)
          .header("Supported", "replaces, timer")
          .header("User-Agent", caller.agent);
      if (!auth.empty()) m.header("Proxy-Authorization", auth);
      m.body("application/sdp", offer);
      return m.str();
    };
    Transaction first = request_ids(caller, call_id, "INVITE");
    first.to = fmt::format("<{}>", to_uri);
    const std::string first_invite = invite(first, {});
    from_user(caller, first_invite, lbl, flow);
    uint64_t t = now_;
    if (chance(s_.users.loss)) {
      t += kTimerA;
      at(t, [=, this, &caller] { from_user(caller, first_invite, lbl, flow); });
    }
    const std::string nonce = random_hex(rng_, 32);
    const std::string tag407 = token(10);
    t += caller.rtt_us / 2 + 1000;
    at(t, [=, this, &caller] {
      to_user(caller,
              response(first, "407 Proxy Authentication Required", false, tag407,
                       {{"Proxy-Authenticate",
                         fmt::format("Digest realm=\"{}\", nonce=\"{}\", algorithm=MD5", s_.domain,
                                     nonce)}}),
              lbl, flow);
    });
    t += caller.rtt_us / 2 + 500;
    at(t, [=, this, &caller] {  // ACK for the 407: same branch, To with the 407's tag
      SipText ack(fmt::format("ACK {} SIP/2.0", to_uri), caller.compact);
      ack.header("Via", first.via)
          .header("Max-Forwards", "70")
          .header("From", first.from)
          .header("To", first.to + ";tag=" + tag407)
          .header("Call-ID", call_id)
          .header("CSeq", first.cseq.substr(0, first.cseq.find(' ')) + " ACK")
          .header("User-Agent", caller.agent);
      from_user(caller, ack.str(), lbl, flow);
    });
    t += 1000;
    at(t, [=, this, &caller, &callee] {
      Transaction second = request_ids(caller, call_id, "INVITE");
      second.to = fmt::format("<{}>", to_uri);
      from_user(caller,
                invite(second, digest(caller, fmt::format("realm=\"{}\", nonce=\"{}\", uri=\"{}\"",
                                                          s_.domain, nonce, to_uri))),
                lbl, flow);
      connect_call(caller, callee, second, srv, lbl, flow, offer);
    });
  }

  void connect_call(User& caller, User& callee, const Transaction& inv, const Endpoint& srv,
                    const std::string& lbl, uint64_t flow, const std::string& offer) {
    const std::string to_tag = token(10);
    const std::string callee_leg_branch = branch();
    const std::string record_route = fmt::format("<sip:{};lr>", hostport(srv));
    const std::string to_uri = inv.to.substr(1, inv.to.size() - 2);
    const std::string server_via =
        fmt::format("SIP/2.0/UDP {};branch={}", hostport(srv), callee_leg_branch);
    uint64_t t = now_ + 1000;
    at(t,
       [=, this, &caller] { to_user(caller, response(inv, "100 Trying", false, {}), lbl, flow); });
    t += 500;
    const std::string answer = sdp(callee.address.address, 20000, rng_() % 1000000000, false);
    // The proxy's INVITE to the callee: its own Via on top, Record-Route, the caller's SDP.
    Transaction leg = inv;
    leg.via = server_via + "\r\nVia: " + inv.via;
    at(t, [=, this, &callee] {
      SipText m(fmt::format("INVITE sip:{}@{} SIP/2.0", callee.ext, hostport(callee.address)),
                false);
      m.header("Via", server_via)
          .header("Via", inv.via)
          .header("Record-Route", record_route)
          .header("Max-Forwards", "69")
          .header("From", inv.from)
          .header("To", inv.to)
          .header("Call-ID", inv.call_id)
          .header("CSeq", inv.cseq)
          .header("Contact", fmt::format("<sip:{}@{}>", caller.ext, hostport(caller.address)))
          .body("application/sdp", offer);
      to_user(callee, m.str(), lbl, flow);
    });
    t += callee.rtt_us;
    at(t, [=, this, &callee] {
      from_user(
          callee,
          response(leg, "180 Ringing", callee.compact, to_tag,
                   {{"Record-Route", record_route},
                    {"Contact", fmt::format("<sip:{}@{}>", callee.ext, hostport(callee.address))}}),
          lbl, flow);
    });
    t += 1000;
    at(t, [=, this, &caller] {
      to_user(caller, response(inv, "180 Ringing", false, to_tag, {{"Record-Route", record_route}}),
              lbl, flow);
    });
    t += jitter(3, 0.5);
    at(t, [=, this, &callee] {
      from_user(
          callee,
          response(leg, "200 OK", callee.compact, to_tag,
                   {{"Record-Route", record_route},
                    {"Contact", fmt::format("<sip:{}@{}>", callee.ext, hostport(callee.address))}},
                   answer),
          lbl, flow);
    });
    t += 1000;
    at(t, [=, this, &caller] {
      to_user(
          caller,
          response(inv, "200 OK", false, to_tag,
                   {{"Record-Route", record_route},
                    {"Contact", fmt::format("<sip:{}@{}>", callee.ext, hostport(callee.address))}},
                   answer),
          lbl, flow);
    });
    t += caller.rtt_us;
    const std::string cseq_number = inv.cseq.substr(0, inv.cseq.find(' '));
    const std::string dialog_to = inv.to + ";tag=" + to_tag;
    at(t, [=, this, &caller, &callee] {
      SipText ack(fmt::format("ACK sip:{}@{} SIP/2.0", callee.ext, hostport(callee.address)),
                  caller.compact);
      ack.header("Via",
                 fmt::format("SIP/2.0/UDP {};branch={};rport", hostport(caller.address), branch()))
          .header("Route", record_route)
          .header("Max-Forwards", "70")
          .header("From", inv.from)
          .header("To", dialog_to)
          .header("Call-ID", inv.call_id)
          .header("CSeq", cseq_number + " ACK");
      from_user(caller, ack.str(), lbl, flow);
      SipText fwd(fmt::format("ACK sip:{}@{} SIP/2.0", callee.ext, hostport(callee.address)),
                  false);
      fwd.header("Via", fmt::format("SIP/2.0/UDP {};branch={}", hostport(srv), branch()))
          .header("Max-Forwards", "69")
          .header("From", inv.from)
          .header("To", dialog_to)
          .header("Call-ID", inv.call_id)
          .header("CSeq", cseq_number + " ACK");
      at(now_ + 500, [=, this, &callee] { to_user(callee, fwd.str(), lbl, flow); });
    });
    t += jitter(s_.users.call_duration_s, 0.5);
    // The caller hangs up: BYE through the proxy, 200 OK back.
    at(t, [=, this, &caller, &callee] {
      Transaction bye;
      bye.via = fmt::format("SIP/2.0/UDP {};branch={};rport", hostport(caller.address), branch());
      bye.from = inv.from;
      bye.to = dialog_to;
      bye.call_id = inv.call_id;
      bye.cseq = fmt::format("{} BYE", caller.cseq++);
      SipText m(fmt::format("BYE sip:{}@{} SIP/2.0", callee.ext, hostport(callee.address)),
                caller.compact);
      m.header("Via", bye.via)
          .header("Route", record_route)
          .header("Max-Forwards", "70")
          .header("From", bye.from)
          .header("To", bye.to)
          .header("Call-ID", bye.call_id)
          .header("CSeq", bye.cseq)
          .header("User-Agent", caller.agent);
      from_user(caller, m.str(), lbl, flow);
      Transaction leg_bye = bye;
      const std::string proxy_via =
          fmt::format("SIP/2.0/UDP {};branch={}", hostport(srv), branch());
      leg_bye.via = proxy_via + "\r\nVia: " + bye.via;
      at(now_ + 500, [=, this, &callee] {
        SipText f(fmt::format("BYE sip:{}@{} SIP/2.0", callee.ext, hostport(callee.address)),
                  false);
        f.header("Via", proxy_via)
            .header("Via", bye.via)
            .header("Max-Forwards", "69")
            .header("From", bye.from)
            .header("To", bye.to)
            .header("Call-ID", bye.call_id)
            .header("CSeq", bye.cseq);
        to_user(callee, f.str(), lbl, flow);
      });
      at(now_ + 500 + callee.rtt_us, [=, this, &callee] {
        from_user(callee, response(leg_bye, "200 OK", callee.compact, {}), lbl, flow);
      });
      at(now_ + 1500 + callee.rtt_us,
         [=, this, &caller] { to_user(caller, response(bye, "200 OK", false, {}), lbl, flow); });
    });
  }

  // ---- floods ---------------------------------------------------------------------------

  struct Attacker {
    std::vector<Endpoint> sources;
    double next_us = 0;  // exact send time; events fire at its whole microsecond
    uint32_t next_extension = 100;
    uint16_t ip_id = 1;
  };

  Endpoint random_in(const IpPrefix& p) {
    IpAddress a = p.address;
    for (unsigned bit = p.length; bit < 128; ++bit)
      if (rng_() & 1) a.bytes[bit / 8] |= static_cast<uint8_t>(0x80u >> (bit % 8));
    return {a, static_cast<uint16_t>(1024 + rng_() % 64000)};
  }

  void start_flood(const FloodSpec& f) {
    auto attacker = std::make_shared<Attacker>();
    for (uint32_t i = 0; i < f.sources; ++i)
      attacker->sources.push_back(random_in(f.source_prefix));
    attacker->ip_id = static_cast<uint16_t>(rng_());
    const uint64_t start = static_cast<uint64_t>(f.start_s * kSecond);
    const uint64_t stop = start + static_cast<uint64_t>(f.duration_s * kSecond);
    at(start, [this, &f, attacker, stop] { flood_packet(f, attacker, stop); });
  }

  void flood_packet(const FloodSpec& f, const std::shared_ptr<Attacker>& a, uint64_t stop) {
    Endpoint src = f.spoofed ? random_in(f.source_prefix) : a->sources[rng_() % a->sources.size()];
    if (f.rotate_ports) src.port = static_cast<uint16_t>(1024 + rng_() % 64000);
    const Endpoint& dst = server_for(src.address);
    // Spoofed floods get their own label: the issue sets them a different bar.
    const std::string lbl =
        fmt::format("atk_{}{}", flood_kind_name(f.kind), f.spoofed ? "_spoofed" : "");
    const uint64_t flow = next_flow_++;
    const uint16_t ip_id = a->ip_id++;
    const std::string ext = std::to_string(1000 + rng_() % 9000);
    auto send = [&](const std::string& payload) {
      emit(src, dst, payload, lbl, flow, true, ip_id);
    };
    switch (f.kind) {
      case FloodKind::register_flood:
      case FloodKind::invite_flood:
      case FloodKind::options_flood: {
        const char* method = f.kind == FloodKind::register_flood ? "REGISTER"
                             : f.kind == FloodKind::invite_flood ? "INVITE"
                                                                 : "OPTIONS";
        send(attack_request(method, src, ext, f.kind == FloodKind::invite_flood));
        break;
      }
      case FloodKind::scanner:
        send_scan(f, a, src, dst, lbl, flow, ip_id);
        break;
      case FloodKind::malformed:
        send(malformed(src, ext));
        break;
      case FloodKind::orphan: {
        const char* methods[] = {"BYE", "CANCEL", "ACK"};
        const std::string method = methods[rng_() % 3];
        SipText m(fmt::format("{} sip:{}@{} SIP/2.0", method, ext, s_.domain), false);
        m.header("Via", fmt::format("SIP/2.0/UDP {};branch={}", hostport(src), branch()))
            .header("Max-Forwards", "70")
            .header("From",
                    fmt::format("<sip:{}@{}>;tag={}", 1000 + rng_() % 9000, s_.domain, token(8)))
            .header("To", fmt::format("<sip:{}@{}>;tag={}", ext, s_.domain, token(8)))
            .header("Call-ID", token(24))
            .header("CSeq", fmt::format("{} {}", 1 + rng_() % 100, method));
        send(m.str());
        break;
      }
      case FloodKind::unsolicited_response: {
        const char* statuses[] = {"200 OK", "180 Ringing", "183 Session Progress", "486 Busy Here"};
        Transaction t;
        t.via = fmt::format("SIP/2.0/UDP {};branch={}", hostport(dst), branch());
        t.from = fmt::format("<sip:{}@{}>;tag={}", ext, s_.domain, token(8));
        t.to = fmt::format("<sip:{}@{}>", 1000 + rng_() % 9000, s_.domain);
        t.call_id = token(24);
        t.cseq = "1 INVITE";
        send(response(t, statuses[rng_() % 4], false, token(8)));
        break;
      }
      case FloodKind::first_fragment: {
        FrameOptions o;
        o.mtu = s_.mtu;
        o.ip_id = ip_id;
        auto frames = build_udp(
            src, dst, attack_request("INVITE", src, ext, true) + std::string(s_.mtu + 200u, 'a'),
            o);
        GeneratedFrame g{s_.epoch_s * kSecond + now_, std::move(frames.front()), lbl, flow, true};
        sink_.frame(g);
        ++frames_;
        break;
      }
      case FloodKind::non_sip: {
        std::string junk(20 + rng_() % 380, '\0');
        for (auto& c : junk) c = static_cast<char>(rng_());
        send(junk);
        break;
      }
      case FloodKind::bruteforce:
        send_bruteforce(src, dst, lbl, flow, ip_id);
        break;
    }
    // Keep the exact (fractional) schedule so the rate holds above 1 packet per microsecond.
    if (a->next_us < double(now_)) a->next_us = double(now_);
    a->next_us += 1e6 / f.rate_pps * uniform(0.5, 1.5);
    const auto next = static_cast<uint64_t>(a->next_us);
    if (next < stop) at(std::max(next, now_), [this, &f, a, stop] { flood_packet(f, a, stop); });
  }

  std::string attack_request(const char* method, const Endpoint& src, const std::string& ext,
                             bool with_sdp) {
    const bool is_register = std::string_view(method) == "REGISTER";
    SipText m(is_register ? fmt::format("REGISTER sip:{} SIP/2.0", s_.domain)
                          : fmt::format("{} sip:{}@{} SIP/2.0", method, ext, s_.domain),
              false);
    const std::string tag = token(8);
    m.header("Via", fmt::format("SIP/2.0/UDP {};branch={};rport", hostport(src), branch()))
        .header("Max-Forwards", "70")
        .header("From", fmt::format("<sip:{}@{}>;tag={}",
                                    is_register ? ext : std::to_string(1000 + rng_() % 9000),
                                    s_.domain, tag))
        .header("To", fmt::format("<sip:{}@{}>", ext, s_.domain))
        .header("Call-ID", token(24) + "@" + host_text(src.address))
        .header("CSeq", fmt::format("1 {}", method))
        .header("Contact", fmt::format("<sip:{}@{}>", ext, hostport(src)))
        .header("User-Agent", user_agents()[rng_() % user_agents().size()]);
    if (is_register) m.header("Expires", "3600");
    if (with_sdp) m.body("application/sdp", sdp(src.address, 4000, rng_() % 100000, false));
    return m.str();
  }

  // SIPVicious: svmap sweeps with OPTIONS, svwar enumerates extensions with REGISTER, svcrack
  // guesses passwords; the default form says User-Agent friendly-scanner, the compact form
  // (-c) uses compact headers and no User-Agent.
  void send_scan(const FloodSpec& f, const std::shared_ptr<Attacker>& a, const Endpoint& src,
                 const Endpoint& dst, const std::string& lbl, uint64_t flow, uint16_t ip_id) {
    if (f.style == "invite") return send_toll_fraud_invite(a, src, dst, lbl, flow, ip_id);
    const bool compact = f.style == "compact";
    const std::string tool_branch = fmt::format("z9hG4bK-{}", rng_() % 4000000000u);
    const std::string_view method =
        f.style == "svwar" || f.style == "svcrack" ? "REGISTER" : "OPTIONS";
    const std::string ext = std::to_string(a->next_extension++);
    // The probe's identity; the registrar's answer copies it (RFC 3261 8.2.6.2).
    const Transaction probe{
        fmt::format("SIP/2.0/UDP {};branch={};rport", hostport(src), tool_branch),
        fmt::format("\"{}\"<sip:{}@1.1.1.1>;tag={}", ext, ext, random_hex(rng_, 16)),
        fmt::format("\"{}\"<sip:{}@1.1.1.1>", ext, ext), std::to_string(rng_() % 10000000000ull),
        fmt::format("1 {}", method)};
    SipText m(fmt::format("{} sip:{}@{} SIP/2.0", method, ext, host_text(dst.address)), compact);
    m.header("Via", probe.via)
        .header("Max-Forwards", "70")
        .header("From", probe.from)
        .header("To", probe.to);
    if (!compact) m.header("User-Agent", "friendly-scanner");
    m.header("Call-ID", probe.call_id)
        .header("Contact", "sip:123@1.1.1.1")
        .header("CSeq", fmt::format("1 {}", method));
    if (f.style == "svcrack")
      m.header("Authorization",
               fmt::format("Digest username=\"{}\",realm=\"{}\",nonce=\"{}\","
                           "uri=\"sip:{}\",response=\"{}\"",
                           ext, s_.domain, random_hex(rng_, 16), s_.domain, random_hex(rng_, 32)));
    m.header("Accept", "application/sdp");
    emit(src, dst, m.str(), lbl, flow, true, ip_id);
    if (method == "REGISTER") {  // the registrar answers each probe
      emit(dst, src, response(probe, "404 Not Found", false, token(8)), lbl, flow, false,
           server_ip_id_++);
    }
  }

  // Toll-fraud scanning as sipcli does it: an INVITE with SDP to an international number
  // (011 + a counted-up number) at the server's address, hoping the proxy routes it out.
  void send_toll_fraud_invite(const std::shared_ptr<Attacker>& a, const Endpoint& src,
                              const Endpoint& dst, const std::string& lbl, uint64_t flow,
                              uint16_t ip_id) {
    const std::string number = fmt::format("011972{}", a->next_extension++);
    const std::string caller = std::to_string(100 + rng_() % 900);
    SipText m(fmt::format("INVITE sip:{}@{} SIP/2.0", number, host_text(dst.address)), false);
    m.header("Via", fmt::format("SIP/2.0/UDP {};branch={};rport", hostport(src), branch()))
        .header("Max-Forwards", "70")
        .header("From", fmt::format("<sip:{}@{}>;tag={}", caller, host_text(dst.address), token(8)))
        .header("To", fmt::format("<sip:{}@{}>", number, host_text(dst.address)))
        .header("Call-ID", token(24))
        .header("CSeq", "1 INVITE")
        .header("Contact", fmt::format("<sip:{}@{}>", caller, hostport(src)))
        .header("User-Agent", "sipcli/v1.8")
        .body("application/sdp", sdp(src.address, 4000, rng_() % 100000, false));
    emit(src, dst, m.str(), lbl, flow, true, ip_id);
  }

  void send_bruteforce(const Endpoint& src, const Endpoint& dst, const std::string& lbl,
                       uint64_t flow, uint16_t ip_id) {
    const std::string ext = "1001";
    Transaction t{fmt::format("SIP/2.0/UDP {};branch={};rport", hostport(src), branch()),
                  fmt::format("<sip:{}@{}>;tag={}", ext, s_.domain, token(8)),
                  fmt::format("<sip:{}@{}>", ext, s_.domain), token(24),
                  fmt::format("{} REGISTER", 1 + rng_() % 1000)};
    SipText m = request_head(fmt::format("REGISTER sip:{} SIP/2.0", s_.domain), t, false);
    m.header("Contact", fmt::format("<sip:{}@{}>", ext, hostport(src)))
        .header("Authorization",
                fmt::format("Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"sip:{}\", "
                            "response=\"{}\", algorithm=MD5",
                            ext, s_.domain, random_hex(rng_, 32), s_.domain, random_hex(rng_, 32)))
        .header("User-Agent", "Zoiper rv2.10.19.5")
        .header("Expires", "3600");
    emit(src, dst, m.str(), lbl, flow, true, ip_id);
    emit(dst, src,
         response(
             t, chance(0.5) ? "403 Forbidden" : "401 Unauthorized", false, token(8),
             {{"WWW-Authenticate", fmt::format("Digest realm=\"{}\", nonce=\"{}\", algorithm=MD5",
                                               s_.domain, random_hex(rng_, 32))}}),
         lbl, flow, false, server_ip_id_++);
  }

  std::string malformed(const Endpoint& src, const std::string& ext) {
    std::string good = attack_request("OPTIONS", src, ext, false);
    switch (rng_() % 8) {
      case 0:
        return good.substr(0, good.size() / 2);  // cut in the headers
      case 1:
        return good.replace(good.find("SIP/2.0"), 7, "SIP/3.0");  // bad version
      case 2:
        return good.replace(good.find("CSeq: 1 OPTIONS"), 15, "CSeq: 1 INVITE");
      case 3:
        return good.replace(good.find("Content-Length: 0"), 17, "Content-Length: 99999");
      case 4:
        good[good.find("Max-Forwards") + 3] = '\0';
        return good;  // NUL byte
      case 5: {
        const auto at = good.find("Call-ID");
        return good.erase(at, good.find("\r\n", at) + 2 - at);  // missing Call-ID
      }
      case 6:
        return good.insert(good.find("\r\n") + 2, "X-Long: " + std::string(3000, 'A') + "\r\n");
      default:
        return "\x16\x03\x01 garbage " + token(40) + "\r\n\r\n";  // not a start line
    }
  }

  const Scenario& s_;
  FrameSink& sink_;
  std::mt19937_64 rng_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> queue_;
  std::vector<User> users_;  // reserved once: events hold references
  uint64_t now_ = 0, end_ = 0, seq_ = 0, next_flow_ = 1, frames_ = 0;
  uint16_t server_ip_id_ = 1;
};

}  // namespace

uint64_t generate(const Scenario& scenario, FrameSink& sink) {
  return Simulation(scenario, sink).run();
}

struct CaptureFiles::Impl {
  PcapWriter pcap;
  std::ofstream labels;
  uint64_t frame = 0;
  explicit Impl(const std::string& prefix)
      : pcap(prefix + ".pcap"), labels(prefix + ".labels.tsv") {
    if (!labels) throw PcapError(fmt::format("cannot write {}.labels.tsv", prefix));
    labels << "frame\tlabel\tflow\tdirection\n";
  }
};

CaptureFiles::CaptureFiles(const std::string& prefix) : impl_(std::make_unique<Impl>(prefix)) {}
CaptureFiles::~CaptureFiles() = default;

void CaptureFiles::frame(const GeneratedFrame& f) {
  impl_->pcap.write(f.time_us, f.bytes);
  impl_->labels << ++impl_->frame << '\t' << f.label << '\t' << f.flow << '\t'
                << (f.toward_server ? "in" : "out") << '\n';
}

}  // namespace sipshield
