#include "sip/message_json.hpp"

#include <nlohmann/json.hpp>

namespace sipshield {
namespace {

using nlohmann::json;

struct Writer {
  std::string_view msg;
  // Span text as a JSON string, control bytes shown as '?'. Dump with
  // error_handler_t::replace: a header may hold bytes that are not UTF-8.
  json text(Span s) const {
    std::string out;
    for (char c : s.in(msg)) out += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
    return out;
  }
  void put(json& j, const char* key, Span s) const {
    if (!s.empty()) j[key] = text(s);
  }
  json uri(const SipUri& u) const {
    json j = json::object();
    put(j, "uri", u.whole);
    put(j, "user", u.user);
    put(j, "host", u.host);
    j["port"] = u.port;
    if (u.has_headers) j["has_headers"] = true;
    return j;
  }
  json name_addr(const NameAddr& n) const {
    json j = uri(n.uri);
    put(j, "display", n.display);
    put(j, "tag", n.tag);
    return j;
  }
  json security(const SecurityMechanism& s) const {
    json j = json::object();
    put(j, "mechanism", s.mechanism);
    put(j, "alg", s.alg);
    put(j, "ealg", s.ealg);
    j["spi_c"] = s.spi_c;
    j["spi_s"] = s.spi_s;
    j["port_c"] = s.port_c;
    j["port_s"] = s.port_s;
    return j;
  }
};

}  // namespace

json sip_message_json(std::string_view payload, const SipMessage& m, const SipVerdict& v) {
  const Writer w{payload};
  json j = json::object();
  j["verdict"] = !v.ok ? "malformed" : m.kind == SipKind::keepalive ? "keepalive" : "valid";
  if (!v.ok) {
    j["reason"] = std::string(reason_name(v.reason));
    j["reason_description"] = std::string(reason_description(v.reason));
    return j;
  }
  if (m.kind == SipKind::keepalive) return j;
  j["kind"] = m.kind == SipKind::request ? "request" : "response";
  if (m.kind == SipKind::request) {
    j["method"] = std::string(method_name(m.method));
    w.put(j, "method_text", m.method_text);
    j["request_uri"] = w.uri(m.request_uri);
  } else {
    j["status"] = m.status;
    j["reason_phrase"] = w.text(m.reason_phrase);
  }
  json via = json::object();
  via["count"] = m.via_count;
  w.put(via, "transport", m.top_via.transport);
  w.put(via, "host", m.top_via.host);
  via["port"] = m.top_via.port;
  w.put(via, "branch", m.top_via.branch);
  w.put(via, "received", m.top_via.received);
  via["rport"] = m.top_via.rport;
  w.put(via, "rport_value", m.top_via.rport_value);
  w.put(via, "oc", m.top_via.oc);
  w.put(via, "oc_algo", m.top_via.oc_algo);
  w.put(via, "oc_validity", m.top_via.oc_validity);
  w.put(via, "oc_seq", m.top_via.oc_seq);
  j["via"] = via;
  j["from"] = w.name_addr(m.from);
  j["to"] = w.name_addr(m.to);
  w.put(j, "call_id", m.call_id);
  j["cseq"] = {{"number", m.cseq}, {"method", std::string(method_name(m.cseq_method))}};
  if (m.contact_star) j["contact"] = "*";
  if (m.contact.present) {
    j["contact"] = w.name_addr(m.contact);
    if (m.contact_expires >= 0) j["contact"]["expires"] = m.contact_expires;
  }
  if (m.expires >= 0) j["expires"] = m.expires;
  if (m.max_forwards >= 0) j["max_forwards"] = m.max_forwards;
  if (m.content_length >= 0) j["content_length"] = m.content_length;
  w.put(j, "content_type", m.content_type);
  w.put(j, "user_agent", m.user_agent);
  w.put(j, "server", m.server);
  for (const auto& [key, c] : {std::pair{"authorization", &m.authorization},
                               std::pair{"proxy_authorization", &m.proxy_authorization}}) {
    if (!c->present) continue;
    json a = json::object();
    w.put(a, "username", c->username);
    w.put(a, "realm", c->realm);
    w.put(a, "nonce", c->nonce);
    w.put(a, "uri", c->uri);
    w.put(a, "response", c->response);
    j[key] = a;
  }
  for (const auto& [key, c] : {std::pair{"www_authenticate", &m.www_authenticate},
                               std::pair{"proxy_authenticate", &m.proxy_authenticate}}) {
    if (!c->present) continue;
    json a = json::object();
    w.put(a, "realm", c->realm);
    w.put(a, "nonce", c->nonce);
    j[key] = a;
  }
  if (m.retry_after >= 0) j["retry_after"] = m.retry_after;
  j["route"] = m.has_route;
  j["record_route"] = m.has_record_route;
  for (const auto& [key, s] : {std::pair{"security_client", &m.security_client},
                               std::pair{"security_server", &m.security_server},
                               std::pair{"security_verify", &m.security_verify}})
    if (s->present) j[key] = w.security(*s);
  j["header_count"] = m.header_count;
  j["body_length"] = m.body.length;
  return j;
}

}  // namespace sipshield
