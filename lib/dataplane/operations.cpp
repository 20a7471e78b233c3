#include "dataplane/operations.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "signatures/rules.hpp"

namespace sipshield {
namespace {

std::string source_key(const IpAddress& ip, uint16_t port) {
  return ip.is_v4() ? fmt::format("{}:{}", ip.to_string(), port)
                    : fmt::format("[{}]:{}", ip.to_string(), port);
}

// "90s", "15m", "2h", "1d" or plain seconds; nullopt when not one of those.
std::optional<uint64_t> duration_s(const std::string& text) {
  if (text.empty()) return std::nullopt;
  uint64_t unit = 1;
  std::string digits = text;
  switch (text.back()) {
    case 's':
      unit = 1;
      digits.pop_back();
      break;
    case 'm':
      unit = 60;
      digits.pop_back();
      break;
    case 'h':
      unit = 3600;
      digits.pop_back();
      break;
    case 'd':
      unit = 86400;
      digits.pop_back();
      break;
    default:
      break;
  }
  if (digits.empty() || digits.size() > 9 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  const uint64_t s = std::stoull(digits) * unit;
  return s > 0 ? std::optional(s) : std::nullopt;
}

std::string text_field(const nlohmann::json& request, const char* key) {
  const auto it = request.find(key);
  if (it == request.end() || !it->is_string())
    throw std::runtime_error(fmt::format("\"{}\" (a string) is required", key));
  return it->get<std::string>();
}

// A source's standing in words, for trust show and top.
std::string describe(const Mitigation::Standing& s) {
  return s.banned_ms    ? fmt::format("banned for {} s more", s.banned_ms / 1000)
         : s.trusted_ms ? fmt::format("trusted for {} s more (a registration or an echoed nonce)",
                                      s.trusted_ms / 1000)
         : s.verified   ? std::string("untrusted, verified (answered a probe)")
                        : fmt::format("untrusted ({} message(s), {} demerit(s){})", s.messages,
                                      s.demerits, s.probation ? ", in the probation area" : "");
}

IpPrefix prefix_field(const nlohmann::json& request) {
  const std::string text = text_field(request, "prefix");
  const auto prefix = IpPrefix::parse(text);
  if (!prefix)
    throw std::runtime_error(fmt::format(
        "\"{}\" is not an address or prefix (198.18.0.7, 198.18.0.0/24, 2001:db8::/64)", text));
  return *prefix;
}

}  // namespace

uint64_t wall_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

Operations::Operations(const Config& config, std::vector<std::unique_ptr<Worker>>& workers,
                       TableReload& tables, Hooks hooks)
    : config_(config), workers_(workers), tables_(tables), hooks_(std::move(hooks)) {
  if (!config.control.socket.empty()) socket_.emplace(config.control.socket, config.control.group);
  next_snapshot_ms_ = wall_ms() + uint64_t{config.snapshot.interval_s} * 1000;
}

void Operations::run_on_workers(const Worker::ControlTask& task) {
  ++task_generation_;
  for (auto& w : workers_) {
    if (!running_) {
      w->post(&task, task_generation_);
      w->serve_control();
      continue;
    }
    w->post(&task, task_generation_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!w->done(task_generation_)) {
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error(fmt::format("worker {} did not answer within 2 s", w->queue()));
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
}

std::vector<Mitigation::Standing> Operations::proven_sources() {
  std::vector<Mitigation::Standing> all;
  run_on_workers([&](Pipeline& p, uint32_t now_ms) { p.mitigation().proven_sources(all, now_ms); });
  return all;
}

std::string Operations::restore_snapshot() {
  if (config_.snapshot.file.empty()) return "";
  std::vector<std::string> services;
  for (const auto& s : config_.protected_services) services.push_back(s.to_string());
  const uint64_t now = wall_ms();
  std::string why_not;
  const auto snapshot = read_snapshot(
      config_.snapshot.file, now, uint64_t{config_.snapshot.max_age_s} * 1000, services, why_not);
  if (!snapshot) return "state snapshot not loaded: " + why_not;
  if (workers_.front()->pipeline().uses_packet_timestamps())
    return "state snapshot not loaded: the packet clock (a capture's time) is not the wall time "
           "the snapshot counts in (set \"clock\": \"tsc\")";
  size_t trusted = 0, banned = 0, refused = 0;
  for (const auto& s : snapshot->sources) {
    Mitigation::Standing standing;
    standing.ip = s.ip;
    standing.port = s.port;
    const auto left = [now](uint64_t until) {
      return until > now ? static_cast<uint32_t>(std::min<uint64_t>(until - now, UINT32_MAX / 2))
                         : 0u;
    };
    standing.trusted_ms = left(s.trusted_until_ms);
    standing.banned_ms = left(s.banned_until_ms);
    if (!standing.trusted_ms && !standing.banned_ms) continue;
    // The worker RSS will send this source to is the NIC's to choose: every worker learns it.
    bool stored = true;
    for (auto& w : workers_)
      stored = w->pipeline_for_control().mitigation().restore(standing, w->now_ms()) && stored;
    if (!stored) ++refused;
    (standing.banned_ms ? banned : trusted)++;
  }
  size_t bans = 0;
  for (const auto& b : snapshot->operator_bans)
    if (b.until_s * 1000 > now && operator_bans_.add(b)) ++bans;
  for (const auto& p : snapshot->operator_allows) operator_allows_.add({p, 0, kForever, "allow"});
  if (bans || !snapshot->operator_allows.empty()) offer_bans();
  return fmt::format(
      "state snapshot loaded from {} (written {} s ago): {} trusted and {} banned source(s){}, {} "
      "operator ban(s), {} operator allow(s)",
      config_.snapshot.file, (now - std::min(now, snapshot->written_ms)) / 1000, trusted, banned,
      refused ? fmt::format(" ({} found no room)", refused) : "", bans,
      snapshot->operator_allows.size());
}

void Operations::offer_bans() {
  if (hooks_.settle_tables) hooks_.settle_tables();
  tables_.offer_operator_lists(operator_bans_.prefixes(), operator_allows_.prefixes(), workers_);
  if (!running_)
    for (auto& w : workers_) w->take_offered_tables();
  if (hooks_.settle_tables) hooks_.settle_tables();
}

void Operations::unban_event(const IpPrefix& prefix, uint64_t now_ms) {
  hooks_.event(operator_ban_json(now_ms * 1'000'000, "operator-unban", prefix.to_string(), 0, ""),
               "operator-unban");
}

void Operations::write_snapshot_now() {
  Snapshot s;
  s.written_ms = wall_ms();
  for (const auto& service : config_.protected_services)
    s.protected_services.push_back(service.to_string());
  // Every worker may hold the same source (restored into all, or RSS moved it): the longest
  // standing of each is kept.
  std::map<std::string, SnapshotSource> merged;
  for (const auto& p : proven_sources()) {
    auto& out = merged[source_key(p.ip, p.port)];
    out.ip = p.ip;
    out.port = p.port;
    if (p.trusted_ms)
      out.trusted_until_ms = std::max(out.trusted_until_ms, s.written_ms + p.trusted_ms);
    if (p.banned_ms)
      out.banned_until_ms = std::max(out.banned_until_ms, s.written_ms + p.banned_ms);
  }
  for (auto& [key, source] : merged) s.sources.push_back(source);
  s.operator_bans = operator_bans_.list();
  s.operator_allows = operator_allows_.prefixes();
  write_snapshot(config_.snapshot.file, s);
}

void Operations::tick() {
  if (socket_) socket_->serve([this](const nlohmann::json& request) { return handle(request); });
  const uint64_t now = wall_ms();
  if (now >= next_prune_ms_) {  // bans that ran out (their unban event comes only if they return)
    std::erase_if(ban_causes_, [now](const auto& b) { return b.second.until_ms <= now; });
    next_prune_ms_ = now + 1000;
  }
  if (const auto expired = operator_bans_.expire(now / 1000); !expired.empty()) {
    offer_bans();
    for (const auto& b : expired) unban_event(b.prefix, now);
  }
  if (!config_.snapshot.file.empty() && config_.snapshot.interval_s && now >= next_snapshot_ms_) {
    next_snapshot_ms_ = now + uint64_t{config_.snapshot.interval_s} * 1000;
    try {
      write_snapshot_now();
    } catch (const std::exception& e) {
      fmt::print(stderr, "sipshield: {}\n", e.what());
    }
  }
}

void Operations::final_snapshot() {
  if (config_.snapshot.file.empty()) return;
  try {
    write_snapshot_now();
    fmt::print(stderr, "sipshield: state snapshot written to {}\n", config_.snapshot.file);
  } catch (const std::exception& e) {
    fmt::print(stderr, "sipshield: {}\n", e.what());
  }
}

void Operations::note(const Event& e) {
  if (e.type == EventType::source_unbanned) {
    ban_causes_.erase(source_key(e.ip, e.port));
  } else if (e.type == EventType::source_banned && ban_causes_.size() < kMaxBanCauses) {
    // The ban's end on the wall clock (the event's time may be a capture's): for the count.
    ban_causes_[source_key(e.ip, e.port)] = {std::string(reason_name(e.reason)),
                                             e.rule ? e.rule->id : "", e.time_ns / 1'000'000,
                                             wall_ms() + uint64_t{e.seconds} * 1000};
  }
}

nlohmann::json Operations::handle(const nlohmann::json& request) {
  const std::string command = request["command"].get<std::string>();
  if (command == "stats") return hooks_.stats();
  if (command == "bans") return bans();
  if (command == "ban") return ban(request);
  if (command == "unban") return unban(request);
  if (command == "trust-show") return trust_show(request);
  if (command == "reload") {
    const std::string error = hooks_.reload();
    if (!error.empty()) return {{"error", "reload refused, the running config stays: " + error}};
    return {{"reloaded", true}, {"in_force", tables_.in_force()}};
  }
  if (command == "allow-add" || command == "allow-del")
    return allow(request, command == "allow-add");
  if (command == "top") return top(request);
  if (command == "capture") return capture(request);
  if (command == "capture-status") return capture_status();
  if (command == "snapshot") {
    if (config_.snapshot.file.empty()) return {{"error", "no snapshot.file in the config"}};
    write_snapshot_now();
    return {{"written", config_.snapshot.file}};
  }
  return {{"error", fmt::format("unknown command \"{}\" (stats, bans, ban, unban, trust-show, "
                                "top, capture, capture-status, reload, snapshot)",
                                command)}};
}

nlohmann::json Operations::bans() {
  const uint64_t now = wall_ms();
  nlohmann::json sources = nlohmann::json::array();
  std::map<std::string, const Mitigation::Standing*> unique;
  const auto proven = proven_sources();
  for (const auto& p : proven)
    if (p.banned_ms) unique.emplace(source_key(p.ip, p.port), &p);
  for (const auto& [key, p] : unique) {
    nlohmann::json ban = {{"source", key}, {"until", (now + p->banned_ms) / 1000}};
    if (const auto it = ban_causes_.find(key); it != ban_causes_.end()) {
      ban["reason"] = it->second.reason;
      if (!it->second.rule.empty()) ban["rule"] = it->second.rule;
      ban["since"] = it->second.since_ms / 1000;
    } else {
      ban["reason"] = "not recorded";
    }
    sources.push_back(ban);
  }
  nlohmann::json allows = nlohmann::json::array();
  for (const auto& p : operator_allows_.prefixes()) allows.push_back(p.to_string());
  return {{"sources", sources},
          {"operator", operator_bans_.to_json()},
          {"operator_allows", allows},
          {"now", now / 1000}};
}

nlohmann::json Operations::ban(const nlohmann::json& request) {
  const IpPrefix prefix = prefix_field(request);
  const std::string length = text_field(request, "for");
  const auto seconds = duration_s(length);
  if (!seconds)
    throw std::runtime_error(
        fmt::format("--for \"{}\": a duration (90s, 15m, 2h, 1d, or seconds)", length));
  const std::string why = text_field(request, "why");
  if (why.empty()) throw std::runtime_error("--why: say why (it goes into the event and the list)");
  const uint64_t now = wall_ms() / 1000;
  if (!operator_bans_.add({prefix, now, now + *seconds, why}))
    throw std::runtime_error(
        fmt::format("{} operator bans already: lift some first", OperatorBans::kMax));
  offer_bans();
  hooks_.event(operator_ban_json(now * 1'000'000'000, "operator-ban", prefix.to_string(),
                                 now + *seconds, why),
               "operator-ban");
  return {{"banned", prefix.to_string()}, {"until", now + *seconds}, {"why", why}};
}

nlohmann::json Operations::allow(const nlohmann::json& request, bool add) {
  const IpPrefix prefix = prefix_field(request);
  const uint64_t now = wall_ms();
  if (add) {
    if (!operator_allows_.add({prefix, now / 1000, kForever, "allow"}))
      throw std::runtime_error(
          fmt::format("{} operator allows already: remove some first", OperatorBans::kMax));
  } else if (!operator_allows_.remove(prefix)) {
    throw std::runtime_error(
        fmt::format("no operator allow of {} (allow lists them: bans shows "
                    "bans, trust show a source's prefixes)",
                    prefix.to_string()));
  }
  offer_bans();
  hooks_.event(operator_ban_json(now * 1'000'000, add ? "operator-allow" : "operator-allow-removed",
                                 prefix.to_string(), 0, ""),
               add ? "operator-allow" : "operator-allow-removed");
  nlohmann::json list = nlohmann::json::array();
  for (const auto& p : operator_allows_.prefixes()) list.push_back(p.to_string());
  return {{"operator_allows", list}};
}

nlohmann::json Operations::unban(const nlohmann::json& request) {
  const IpPrefix prefix = prefix_field(request);
  const bool operator_ban = operator_bans_.remove(prefix);
  if (operator_ban) {
    offer_bans();
    unban_event(prefix, wall_ms());
  }
  size_t lifted = 0;
  run_on_workers(
      [&](Pipeline& p, uint32_t now_ms) { lifted += p.mitigation().unban(prefix, now_ms); });
  return {{"unbanned", prefix.to_string()},
          {"operator_ban_lifted", operator_ban},
          {"source_bans_lifted", lifted}};
}

nlohmann::json Operations::trust_show(const nlohmann::json& request) {
  const IpPrefix prefix = prefix_field(request);
  std::optional<uint16_t> port;
  if (request.contains("port")) port = request["port"].get<uint16_t>();
  std::vector<Mitigation::Standing> found;
  run_on_workers(
      [&](Pipeline& p, uint32_t now_ms) { p.mitigation().sources_in(prefix, found, now_ms, 256); });
  nlohmann::json sources = nlohmann::json::array();
  std::map<std::string, nlohmann::json> unique;
  for (const auto& s : found) {
    if (port && s.port != *port) continue;
    unique[source_key(s.ip, s.port)] = {{"source", source_key(s.ip, s.port)},
                                        {"standing", describe(s)},
                                        {"trusted_s", s.trusted_ms / 1000},
                                        {"banned_s", s.banned_ms / 1000},
                                        {"demerits", s.demerits},
                                        {"messages", s.messages},
                                        {"verified", s.verified}};
  }
  for (auto& [key, s] : unique) sources.push_back(s);
  nlohmann::json prefixes = nlohmann::json::array();
  for (const auto& b : operator_bans_.list())
    if (b.prefix.contains(prefix.address))
      prefixes.push_back(fmt::format("operator ban {}: {}", b.prefix.to_string(), b.why));
  for (const auto& a : operator_allows_.list())
    if (a.prefix.contains(prefix.address))
      prefixes.push_back(fmt::format("operator allow {}", a.prefix.to_string()));
  for (const auto& [list, name] :
       {std::pair{&tables_.allow(), "allow"}, std::pair{&tables_.deny(), "deny"}})
    for (const auto& p : *list)
      if (p.contains(prefix.address))
        prefixes.push_back(fmt::format("{} prefix {}", name, p.to_string()));
  return {{"prefix", prefix.to_string()}, {"sources", sources}, {"prefixes", prefixes}};
}

void Operations::drain_drop_samples() {
  DropSample sample;
  const uint64_t now_s = wall_ms() / 1000;
  for (auto& w : workers_) {
    while (w->drop_samples().next(sample)) {
      const uint32_t captured = std::min<uint32_t>(sample.length, DropSample::kSnapBytes);
      PacketMeta meta;
      parse_frame(sample.bytes.data(), captured, meta);
      if (meta.ip_version)
        top_talkers_.add(source_key(meta.src, meta.src_port), meta.src, meta.src_port,
                         sample.reason, sample.weight, now_s);
      if (!capture_ || capture_->frames >= capture_->max_frames) continue;
      const uint64_t time_ns = sample.time_ns + to_wall_ns_;
      capture_->pcap->write(time_ns / 1000, std::span(sample.bytes.data(), captured));
      nlohmann::json line = {{"frame", ++capture_->frames},
                             {"reason", std::string(reason_name(sample.reason))},
                             {"stands_for", sample.weight},
                             {"length", sample.length},
                             {"worker", w->queue()}};
      if (sample.rule != kNoRule) line["rule"] = tables_.rule_id(sample.rule);
      capture_->index << line.dump() << "\n";
    }
  }
}

void Operations::second() {
  const uint64_t now = wall_ms();
  top_talkers_.second(now / 1000);
  if (capture_ && now >= capture_->until_ms) end_capture();
  const uint32_t every_s = config_.alarms.top_talkers_s;
  if (!every_s || now < next_top_event_ms_) return;
  next_top_event_ms_ = now + uint64_t{every_s} * 1000;
  const auto talkers = top_talkers_.top(10);
  nlohmann::json list = nlohmann::json::array();
  for (const auto& t : talkers)
    if (t.last_second)
      list.push_back({{"source", t.source},
                      {"dropped_per_s", t.last_second},
                      {"reason", std::string(reason_name(t.top_reason))}});
  if (list.empty()) return;  // nothing dropped: nothing to say
  hooks_.event(top_talkers_json(now * 1'000'000, list), "top-talkers");
}

std::vector<std::string> Operations::standings(const std::vector<TopTalkers::Talker>& talkers) {
  std::vector<std::string> out(talkers.size());
  run_on_workers([&](Pipeline& p, uint32_t now_ms) {
    for (size_t i = 0; i < talkers.size(); ++i)
      if (out[i].empty())
        if (const auto s = p.mitigation().standing(talkers[i].ip, talkers[i].port, now_ms))
          out[i] = describe(*s);
  });
  for (auto& s : out)
    if (s.empty()) s = "not in the tables (judged before any state: prefix, L2-L4 or SIP syntax)";
  return out;
}

nlohmann::json Operations::top(const nlohmann::json& request) {
  const size_t n = request.contains("count") ? request["count"].get<size_t>() : 20;
  const auto talkers = top_talkers_.top(std::min<size_t>(n, 1000));
  const auto standing = standings(talkers);
  nlohmann::json sources = nlohmann::json::array();
  for (size_t i = 0; i < talkers.size(); ++i)
    sources.push_back({{"source", talkers[i].source},
                       {"dropped_per_s", talkers[i].last_second},
                       {"dropped", talkers[i].total},
                       {"reason", std::string(reason_name(talkers[i].top_reason))},
                       {"standing", standing[i]}});
  return {{"sources", sources},
          {"note", "drops are estimated from sampled copies (about 200 a second per worker)"}};
}

nlohmann::json Operations::capture(const nlohmann::json& request) {
  if (capture_)
    throw std::runtime_error(fmt::format("a capture into {} runs until {}", capture_->file,
                                         rfc3339(capture_->until_ms / 1000)));
  const std::string file = text_field(request, "file");
  if (file.empty() || file[0] != '/')
    throw std::runtime_error(fmt::format("\"{}\": the capture file needs an absolute path", file));
  const auto seconds = request.value("seconds", uint64_t{10});
  if (seconds < 1 || seconds > 3600)
    throw std::runtime_error(fmt::format("--seconds {}: from 1 to 3600", seconds));
  Capture c;
  try {
    c.pcap = std::make_unique<PcapWriter>(file);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("cannot write {}: {}", file, e.what()));
  }
  c.index.open(file + ".jsonl");
  if (!c.index) throw std::runtime_error(fmt::format("cannot write {}.jsonl", file));
  c.file = file;
  c.until_ms = wall_ms() + seconds * 1000;
  c.max_frames = request.value("max_frames", uint64_t{100000});
  capture_ = std::move(c);
  // More copies while it runs, still bounded per worker and second.
  for (auto& w : workers_) w->drop_samples().set_per_second(kCapturePerSecond);
  return capture_status();
}

void Operations::end_capture() {
  capture_->pcap->flush();
  capture_->index.flush();
  last_capture_.file = capture_->file;
  last_capture_.frames = capture_->frames;
  last_capture_.until_ms = capture_->until_ms;
  capture_.reset();
  for (auto& w : workers_) w->drop_samples().set_per_second(kSamplesPerSecond);
}

nlohmann::json Operations::capture_status() const {
  const Capture& c = capture_ ? *capture_ : last_capture_;
  return {{"capturing", capture_.has_value()},
          {"file", c.file},
          {"index", c.file.empty() ? "" : c.file + ".jsonl"},
          {"frames", c.frames},
          {"until", c.until_ms / 1000}};
}

}  // namespace sipshield
