#include "policy/mitigation.hpp"

#include <algorithm>
#include <bit>

namespace sipshield {

MethodClass method_class(const SipMessage& m) {
  if (m.kind == SipKind::response) return MethodClass::response;
  switch (m.method) {
    case SipMethod::REGISTER:
      return MethodClass::register_;
    case SipMethod::INVITE:
      return MethodClass::invite;
    case SipMethod::OPTIONS:
      return MethodClass::options;
    default:
      return MethodClass::other;
  }
}

Mitigation::Mitigation(const PolicyConfig& config, const KeyedHash& hash, size_t services,
                       FamiliarPrefixes* familiar)
    : config_(config),
      table_(config.max_sources, config.idle_s * 1000, config.stray_idle_s * 1000, hash),
      probation_(config.probation_sources, config.idle_s * 1000, config.stray_idle_s * 1000, hash,
                 WhenFull::evict),
      dialogs_(config.max_dialogs, hash),
      verified_(config.probe_mode == ProbeMode::never ? 0 : config.verified_max, hash),
      own_familiar_(familiar ? nullptr
                             : std::make_unique<FamiliarPrefixes>(
                                   config.familiar_prefixes, config.familiar_ipv4_length,
                                   config.familiar_ipv6_length, hash)),
      familiar_(familiar ? familiar : own_familiar_.get()),
      aors_(std::bit_ceil(std::max<uint32_t>(config.aor_slots, 1))),
      budgets_(std::max<size_t>(services, 1),
               Budget{0, uint32_t{config.untrusted_budget_burst} * 64}),
      newcomer_budgets_(budgets_.size(), Budget{0, uint32_t{config.newcomer_budget.burst} * 64}),
      familiar_budgets_(budgets_.size(), Budget{0, uint32_t{config.familiar_budget.burst} * 64}),
      verified_budgets_(budgets_.size(), Budget{0, uint32_t{config.verified_budget.burst} * 64}),
      bot_budgets_(budgets_.size(), Budget{0, uint32_t{config.bot_budget.burst} * 64}),
      controls_(budgets_.size()),
      first_contacts_(2 * budgets_.size()),
      pending_(config.budget_target_ms ? 4096 : 0) {}

void Mitigation::reconfigure(const PolicyConfig& next, size_t services) {
  config_ = next;
  table_.set_idle(next.idle_s * 1000, next.stray_idle_s * 1000);
  probation_.set_idle(next.idle_s * 1000, next.stray_idle_s * 1000);
  const size_t n = std::max<size_t>(services, 1);
  // New services' buckets start full, as at start; the others keep their tokens (a lower
  // burst caps them at the next refill).
  budgets_.resize(n, Budget{0, uint32_t{next.untrusted_budget_burst} * 64});
  newcomer_budgets_.resize(n, Budget{0, uint32_t{next.newcomer_budget.burst} * 64});
  familiar_budgets_.resize(n, Budget{0, uint32_t{next.familiar_budget.burst} * 64});
  verified_budgets_.resize(n, Budget{0, uint32_t{next.verified_budget.burst} * 64});
  bot_budgets_.resize(n, Budget{0, uint32_t{next.bot_budget.burst} * 64});
  controls_.resize(n);
  first_contacts_.resize(2 * n);
  pending_.resize(next.budget_target_ms ? 4096 : 0);
  for (Pending& p : pending_)
    if (p.service >= n) p = Pending{};  // a request to a service no longer protected
}

SourceEntry* Mitigation::source(const PacketMeta& meta, uint64_t hash, uint32_t now_ms) {
  SourceEntry* s = lookup({meta.src, meta.src_port, {}}, hash, now_ms);
  if (!s) return s;
  s->last_seen_ms = now_ms;
  if (s->messages < UINT8_MAX) ++s->messages;
  if (s->banned_until_ms && !before(now_ms, s->banned_until_ms)) {  // the ban ran out
    s->banned_until_ms = 0;
    record(EventType::source_unbanned, *s);
  }
  return s;
}

SourceEntry* Mitigation::prove(SourceEntry* s, uint32_t now_ms) {
  if (!s || !probation_.owns(s)) return s;
  SourceEntry* proven = table_.find_or_insert({s->ip, s->port, {}}, now_ms);
  if (!proven) return s;
  const uint32_t next = proven->next;  // the proven table's chain, not the probation area's
  *proven = *s;
  proven->next = next;
  probation_.erase(s);
  return proven;
}

SourceEntry* Mitigation::ban(SourceEntry* s, uint32_t seconds, uint32_t now_ms, Reason cause,
                             const Rule* rule) {
  s = prove(s, now_ms);  // a flood of first contacts must not evict a ban
  if (!s) return s;
  const bool already = banned(s, now_ms);
  s->banned_until_ms = (now_ms + seconds * 1000) | 1;  // never 0: 0 means "not banned"
  s->trusted_until_ms = 0;
  s->demerits = 0;
  if (!already) record(EventType::source_banned, *s, cause, rule, seconds);
  return s;
}

void Mitigation::record(EventType type, const SourceEntry& s, Reason cause, const Rule* rule,
                        uint32_t seconds) {
  if (!events_) return;
  Event e;
  e.time_ns = now_ns_;
  e.type = type;
  e.reason = cause;
  e.rule = rule;
  e.ip = s.ip;
  e.port = s.port;
  e.seconds = seconds;
  events_->record(e);
}

SourceEntry* Mitigation::demerit(SourceEntry* s, uint16_t points, uint32_t now_ms, Reason cause) {
  if (!s || points == 0) return s;
  if (now_ms - s->demerit_window_ms >= config_.demerit_window_s * 1000) {
    s->demerit_window_ms = now_ms;
    s->demerits = 0;
  }
  s->demerits = static_cast<uint16_t>(std::min<uint32_t>(UINT16_MAX, s->demerits + points));
  if (s->demerits >= config_.demerit_threshold) return ban(s, config_.ban_s, now_ms, cause);
  // A trusted source that misbehaves is demoted first: untrusted meters, scans and budget.
  if (config_.demote_threshold && s->demerits >= config_.demote_threshold && trusted(s, now_ms)) {
    s->trusted_until_ms = 0;
    record(EventType::source_demoted, *s, cause);
  }
  return s;
}

namespace {

// Token buckets, meters and budgets alike, count in 1/64 message units: a bucket refills by
// elapsed time up to its cap, and a message takes 64 while more than `floor` remains.
uint64_t refilled(uint64_t tokens, uint32_t elapsed_ms, uint64_t rate_per_s, uint64_t cap) {
  return std::min<uint64_t>(cap, tokens + uint64_t{elapsed_ms} * rate_per_s * 64 / 1000);
}
bool take_one(uint64_t& tokens, uint64_t floor = 0) {
  if (tokens < floor + 64) return false;
  tokens -= 64;
  return true;
}

}  // namespace

bool Mitigation::take(uint16_t& tokens, uint32_t elapsed_ms, const MeterProfile& p) const {
  uint64_t t = refilled(tokens, elapsed_ms, p.rate_per_s, uint64_t{p.burst} * 64);
  const bool ok = take_one(t);
  tokens = static_cast<uint16_t>(t);
  return ok;
}

bool Mitigation::meter(SourceEntry& e, size_t cls, const TierProfile& tier, uint32_t now_ms) const {
  const uint32_t elapsed = now_ms - e.meter_ms;
  e.meter_ms = now_ms;
  bool ok = true;
  for (size_t c = 0; c < kMethodClasses; ++c) {
    // Every bucket refills; only this message's class spends.
    if (c == cls) {
      ok = take(e.tokens[c], elapsed, tier.classes[c]);
    } else {
      e.tokens[c] = static_cast<uint16_t>(refilled(e.tokens[c], elapsed, tier.classes[c].rate_per_s,
                                                   uint64_t{tier.classes[c].burst} * 64));
    }
  }
  return ok;
}

SourceEntry* Mitigation::address_entry(const PacketMeta& meta, uint64_t hash, const SourceEntry* s,
                                       uint32_t now_ms) {
  SourceEntry* a = lookup({meta.src, 0, {}}, hash, now_ms);
  if (!a) return a;
  a->last_seen_ms = now_ms;  // in use: kept while its sources are busy
  if (a->messages < UINT8_MAX) ++a->messages;
  if (now_ms - a->demerit_window_ms >= config_.bot_window_s * 1000) {
    a->demerit_window_ms = now_ms;
    a->ports = {};
  }
  uint8_t& count = !s || s->messages <= 1 ? a->ports.fresh : a->ports.returning;
  if (count < UINT8_MAX) ++count;
  return a;
}

Pace Mitigation::pace(const SourceEntry* s, uint32_t now_ms, const SourceEntry* address) const {
  if (rotates_ports(address, now_ms)) return Pace::bot;
  if (!s) return Pace::newcomer;  // the table is full: judged without history
  if (s->demerits > 0 && now_ms - s->demerit_window_ms < config_.demerit_window_s * 1000)
    return Pace::bursty;
  // Known for a little less than RFC 3261's T1 (500 ms): a client whose request was dropped
  // retransmits after T1 and already ranks polite; a spoofed source never comes back.
  constexpr uint64_t kPoliteAfterMs = 400;
  const uint64_t age_ms = now_ms - s->first_seen_ms;
  if (age_ms >= kPoliteAfterMs &&
      s->messages <= 1 + (age_ms * config_.polite_rate_per_s + 999) / 1000)
    return Pace::polite;
  return familiar_->familiar(s->ip, now_ms) ? Pace::familiar : Pace::newcomer;
}

// A budget bucket: a message may take a token only while it holds more than `floor`.
bool Mitigation::refill_and_take(Budget& b, uint64_t rate_per_s, uint64_t cap, uint64_t floor,
                                 uint32_t now_ms) {
  uint64_t t = refilled(b.tokens, now_ms - b.ms, rate_per_s, cap);
  b.ms = now_ms;
  const bool ok = take_one(t, floor);
  b.tokens = static_cast<uint32_t>(t);
  return ok;
}

uint64_t Mitigation::portion(uint64_t value, uint64_t percent, size_t service) const {
  const uint64_t share = shares_ ? shares_->share(worker_, service) : BudgetShares::kWhole;
  return value * percent * share / (100ull * BudgetShares::kWhole);
}

// Ranked shedding: when a flood drains the budget to the newcomers' floor, polite sources still
// find tokens between that floor and zero; first contacts are also held to their own bucket.
bool Mitigation::spend_budget(size_t service, Pace pace, uint32_t now_ms) {
  const uint64_t percent = budget_percent(now_ms, service);
  const uint64_t burst =
      std::max<uint64_t>(1, portion(config_.untrusted_budget_burst, percent, service));
  const uint64_t floor_percent = pace == Pace::polite     ? 0
                                 : pace == Pace::familiar ? config_.floor_familiar_percent
                                 : pace == Pace::newcomer ? config_.floor_newcomer_percent
                                                          : config_.floor_bursty_percent;  // bots
  // Whole messages in the floor: a burst of 1 still admits.
  const uint64_t floor = burst * floor_percent / 100 * 64;
  Budget& main = budgets_[service];
  if (!refill_and_take(main, portion(config_.untrusted_budget_pps, percent, service), burst * 64,
                       floor, now_ms))
    return false;
  if (pace == Pace::polite) return true;
  // First contacts also need a token of their own bucket: one for familiar prefixes, one for
  // the rest, so that a flood forged from either side cannot starve the other; port-rotating
  // bots share a small one of their own.
  const bool familiar = pace == Pace::familiar, bot = pace == Pace::bot;
  Budget& first = bot        ? bot_budgets_[service]
                  : familiar ? familiar_budgets_[service]
                             : newcomer_budgets_[service];
  const MeterProfile& profile = bot        ? config_.bot_budget
                                : familiar ? config_.familiar_budget
                                           : config_.newcomer_budget;
  const uint64_t first_cap = std::max<uint64_t>(1, portion(profile.burst, percent, service)) * 64;
  const uint64_t first_rate = portion(profile.rate_per_s, percent, service);
  if (refill_and_take(first, first_rate, first_cap, 0, now_ms)) return true;
  main.tokens += 64;  // not admitted: the main bucket keeps its token
  return false;
}

Verdict Mitigation::admit(SourceEntry* s, SourceEntry* address, const SipMessage& m,
                          std::string_view text, int service, uint32_t now_ms, bool verified) {
  bool is_trusted = trusted(s, now_ms);
  // Echoing a nonce the server sent to this very address proves the source receives there; any
  // other nonce, once the server has challenged (or refused) it, is a guess: digest crackers
  // send credentials with nonces of their own.
  if (s && !is_trusted && s->nonce_hash) {
    const Span nonce =
        !m.authorization.nonce.empty() ? m.authorization.nonce : m.proxy_authorization.nonce;
    if (!nonce.empty()) {
      if (nonce_hash(nonce.in(text)) != s->nonce_hash) {
        demerit(s, config_.demerits_auth_failure, now_ms, Reason::nonce_mismatch);
        return {Action::drop, Reason::nonce_mismatch};
      }
      s->trusted_until_ms = (now_ms + config_.nonce_trust_s * 1000) | 1;
      s->tokens.fill(UINT16_MAX);  // a new tier starts with its full burst
      s = prove(s, now_ms);
      is_trusted = true;
    }
  }
  const auto cls = static_cast<size_t>(method_class(m));
  if (s && !meter(*s, cls, is_trusted ? config_.trusted : config_.untrusted, now_ms)) {
    demerit(s, config_.demerits_rate_limited, now_ms, Reason::rate_limited);
    return {Action::drop, Reason::rate_limited};
  }
  if (!is_trusted && address && address != s && !meter(*address, cls, config_.per_address, now_ms))
    return {Action::drop, Reason::address_rate_limited};
  // A verified source proved it receives at its address: a lock that forged REGISTERs naming
  // its AOR have set must not shut it out (the lock would be a targeted lockout tool).
  if (!is_trusted && !verified && cls == static_cast<size_t>(MethodClass::register_) &&
      !m.to.uri.host.empty()) {
    AorState& a = aor(m, text);
    if (a.locked_until_ms && before(now_ms, a.locked_until_ms))
      return {Action::drop, Reason::aor_locked};
    const uint32_t elapsed = now_ms - a.meter_ms;
    a.meter_ms = now_ms;
    if (!take(a.tokens, elapsed, config_.aor_register))
      return {Action::drop, Reason::aor_rate_limited};
  }
  const size_t budget = static_cast<size_t>(std::max(service, 0)) % budgets_.size();
  if (!is_trusted && shares_) shares_->note_demand(worker_, budget);
  if (!is_trusted && verified) {  // a bucket of its own, which no forged source can spend
    const uint64_t percent = budget_percent(now_ms, budget);
    const auto& b = config_.verified_budget;
    if (!refill_and_take(verified_budgets_[budget], portion(b.rate_per_s, percent, budget),
                         std::max<uint64_t>(1, portion(b.burst, percent, budget)) * 64, 0, now_ms))
      return {Action::drop, Reason::untrusted_budget};
  } else if (!is_trusted) {
    const Pace rank = pace(s, now_ms, address);
    const bool spent = spend_budget(budget, rank, now_ms);
    bump(budget_by_rank_[static_cast<size_t>(rank)][spent ? 0 : 1]);
    if (!spent)
      return {Action::drop, rank == Pace::bot ? Reason::port_rotating : Reason::untrusted_budget};
  }
  return {Action::pass, Reason::admitted};
}

std::optional<Reason> Mitigation::check_dialog(const PacketMeta& meta, const SipMessage& m,
                                               std::string_view text, uint32_t now_ms) {
  if (!started_) {
    started_ = true;
    start_ms_ = now_ms;
  }
  const bool in_dialog_request =
      m.kind == SipKind::request && (m.method == SipMethod::ACK || m.method == SipMethod::CANCEL ||
                                     m.method == SipMethod::BYE || !m.to.tag.empty());
  if (m.kind != SipKind::response && !in_dialog_request) return std::nullopt;
  if (dialogs_.find(dialog_key(meta.src, m, text), now_ms)) return std::nullopt;
  if (now_ms - start_ms_ < config_.grace_s * 1000) return std::nullopt;
  return m.kind == SipKind::response ? Reason::unsolicited_response : Reason::no_dialog;
}

void Mitigation::note_admitted(const PacketMeta& meta, const SipMessage& m, std::string_view text,
                               uint32_t now_ms, int service) {
  if (m.kind == SipKind::request && !pending_.empty() && m.method != SipMethod::ACK) {
    const uint64_t key = transaction_key(meta.src, m, text);
    Pending& p = pending_[key & (pending_.size() - 1)];
    // A request still unanswered after the target is a sample too, of at least its age: a
    // server that drops what it cannot take (a full socket queue) must not look fast.
    if (p.key && now_ms - p.ms > config_.budget_target_ms) sample(p, now_ms);
    p = {key, now_ms, static_cast<uint32_t>(std::max(service, 0))};
  }
  if (m.kind == SipKind::request) {
    if ((m.method == SipMethod::INVITE || m.method == SipMethod::SUBSCRIBE) && m.to.tag.empty())
      dialogs_.touch(dialog_key(meta.src, m, text), now_ms, config_.transaction_s * 1000);
  } else if (m.cseq_method == SipMethod::INVITE && m.status >= 200 && m.status < 300) {
    dialogs_.touch(dialog_key(meta.src, m, text), now_ms, config_.dialog_s * 1000);
  }
}

Mitigation::AorState& Mitigation::aor(const SipMessage& m, std::string_view text) {
  const uint64_t h = dialogs_.call_id_hash(m.to.uri.user.in(text)) * 31 +
                     dialogs_.call_id_hash(m.to.uri.host.in(text));
  return aors_[h & (aors_.size() - 1)];
}

uint64_t Mitigation::transaction_key(const IpAddress& client, const SipMessage& m,
                                     std::string_view text) const {
  // Keyed parts, mixed: a collision only loses a sample.
  return table_.hash_of({client, 0, {}}) ^
         dialogs_.call_id_hash(m.call_id.in(text)) * 0x9e3779b97f4a7c15ULL ^ m.cseq;
}

bool Mitigation::first_contact_surge(size_t service, Pace pace, uint32_t now_ms) {
  constexpr uint32_t kWindowMs = 100;
  const bool familiar = pace == Pace::familiar;
  Arrivals& a = first_contacts_[(service % budgets_.size()) * 2 + familiar];
  if (now_ms - a.window_ms >= kWindowMs) {
    a.previous = now_ms - a.window_ms < 2 * kWindowMs ? a.count : 0;
    a.count = 0;
    a.window_ms = now_ms;
  }
  ++a.count;
  const MeterProfile& bucket = familiar ? config_.familiar_budget : config_.newcomer_budget;
  const uint64_t allowed = portion(bucket.rate_per_s, 100, service) * kWindowMs / 1000;
  return std::max(a.count, a.previous) > allowed;
}

void Mitigation::sample(Pending& p, uint32_t now_ms) {
  Control& c = controls_[p.service % controls_.size()];
  const uint32_t sample_x16 = std::min<uint32_t>(now_ms - p.ms, 600'000) * 16;
  c.latency_x16 = c.samples ? c.latency_x16 - c.latency_x16 / 8 + sample_x16 / 8 : sample_x16;
  ++c.samples;
  ++c.interval_samples;
  p.key = 0;
}

void Mitigation::give_up_unanswered(uint32_t now_ms, unsigned budget) {
  if (pending_.empty()) return;
  for (unsigned n = 0; n < budget; ++n) {
    Pending& p = pending_[pending_hand_];
    pending_hand_ = (pending_hand_ + 1) & (pending_.size() - 1);
    if (p.key && now_ms - p.ms > config_.budget_target_ms) sample(p, now_ms);
  }
}

Mitigation::BudgetState Mitigation::budget_state(size_t service) const {
  const Control& c = controls_[service % controls_.size()];
  return {c.percent, c.latency_x16 / 16, c.samples};
}

uint32_t Mitigation::budget_percent(uint32_t now_ms, size_t service) {
  Control& c = controls_[service];
  if (config_.budget_target_ms && now_ms - c.interval_ms >= config_.budget_interval_ms) {
    // One step of the control loop: multiplicative decrease when the servers are slow or said
    // 503, additive increase when they answered fast; no answers measured: no change.
    const uint32_t before_step = c.percent;
    const bool slow = c.interval_samples && c.latency_x16 > config_.budget_target_ms * 16;
    if (c.overloaded || slow) {
      c.percent = std::max<uint32_t>(config_.budget_min_percent,
                                     c.percent * (100u - config_.budget_decrease_percent) / 100);
    } else if (c.interval_samples) {
      c.percent = std::min<uint32_t>(100, c.percent + config_.budget_increase_percent);
    }
    if (c.percent != before_step && events_) {
      Event e;
      e.time_ns = now_ns_;
      e.type = EventType::budget_changed;
      e.service = static_cast<uint16_t>(service);
      e.budget_percent = static_cast<uint16_t>(c.percent);
      e.latency_ms = c.latency_x16 / 16;
      e.budget_cause = c.overloaded ? Event::BudgetCause::overloaded
                       : slow       ? Event::BudgetCause::slow
                                    : Event::BudgetCause::fast;
      events_->record(e);
    }
    c.interval_ms = now_ms;
    c.interval_samples = 0;
    c.overloaded = false;
  }
  uint32_t percent = c.percent;
  if (retry_after_until_ms_ && before(now_ms, retry_after_until_ms_))
    percent = std::min<uint32_t>(percent, config_.overload_budget_percent);
  if (oc_until_ms_ && before(now_ms, oc_until_ms_))
    percent = std::min<uint32_t>(percent, 100u - oc_drop_percent_);
  return percent;
}

void Mitigation::learn(const PacketMeta& meta, const SipMessage& m, std::string_view text,
                       uint32_t now_ms) {
  if (m.kind == SipKind::response && !pending_.empty()) {
    // The first answer to a request the filter admitted: a sample of the servers' response time.
    const uint64_t key = transaction_key(meta.dst, m, text);
    Pending& p = pending_[key & (pending_.size() - 1)];
    if (p.key == key && key) sample(p, now_ms);
    if (m.status == 503)
      for (Control& c : controls_) c.overloaded = true;  // the servers say so: shrink
  }
  if (m.kind == SipKind::response) {
    // RFC 3261 21.5.4: 503 with Retry-After: the server asks for a pause. RFC 7339: a Via `oc`
    // value asks upstream to drop that share of its requests for oc-validity milliseconds.
    if (m.status == 503 && m.retry_after > 0)
      retry_after_until_ms_ =
          (now_ms + std::min<uint32_t>(uint32_t(m.retry_after), config_.overload_max_s) * 1000) | 1;
    // Decimal digits only, no allocation: nullopt for anything else.
    const auto digits = [](std::string_view t) -> std::optional<uint64_t> {
      if (t.empty() || t.size() > 9) return std::nullopt;
      uint64_t v = 0;
      for (char c : t) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<uint64_t>(c - '0');
      }
      return v;
    };
    if (const auto oc = digits(m.top_via.oc.in(text))) {
      const uint64_t validity = digits(m.top_via.oc_validity.in(text)).value_or(500);  // RFC 7339
      oc_drop_percent_ = static_cast<uint8_t>(std::min<uint64_t>(*oc, 95));  // never shut out all
      oc_until_ms_ = (now_ms + static_cast<uint32_t>(std::min<uint64_t>(
                                   validity, config_.overload_max_s * 1000ull))) |
                     1;
    }
  }
  if (m.kind == SipKind::request) {
    // The servers expect the client's answers, and in-dialog requests after an INVITE.
    const DialogKey leg = dialog_key(meta.dst, m, text);
    dialogs_.touch(
        leg, now_ms,
        (m.method == SipMethod::INVITE ? config_.dialog_s : config_.transaction_s) * 1000);
    // The servers hang up: the leg lasts only as long as the client's answer may take.
    if (m.method == SipMethod::BYE) dialogs_.end(leg, now_ms, config_.transaction_s * 1000);
    return;
  }
  if (m.cseq_method == SipMethod::INVITE && m.status >= 200 && m.status < 300)
    dialogs_.touch(dialog_key(meta.dst, m, text), now_ms, config_.dialog_s * 1000);
  // A final answer to the client's BYE ends the call; without this a leg would hold its entry
  // for dialog_s after the call, and a busy server's calls would fill the table.
  if (m.cseq_method == SipMethod::BYE && m.status >= 200)
    dialogs_.end(dialog_key(meta.dst, m, text), now_ms, config_.transaction_s * 1000);
  const SourceKey client{meta.dst, meta.dst_port, {}};
  if (m.cseq_method == SipMethod::REGISTER && m.status >= 200 && m.status < 300) {
    // The registrar accepted this client: trust it for the expiry it granted, in the table of
    // proven sources (its probation entry, if any, is done with).
    SourceEntry* s = table_.find_or_insert(client, now_ms);
    if (!s) return;
    if (SourceEntry* p = probation_.find(client)) probation_.erase(p);
    const int32_t expires = m.contact_expires >= 0 ? m.contact_expires
                            : m.expires >= 0       ? m.expires
                                                   : 3600;
    s->trusted_until_ms =
        expires == 0
            ? 0
            : (now_ms + std::min<uint32_t>(uint32_t(expires), config_.trust_max_s) * 1000) | 1;
    if (expires != 0)
      familiar_->learn(meta.dst, (now_ms + config_.familiar_keep_s * 1000) | 1, now_ms);
    s->demerits = 0;
    s->tokens.fill(UINT16_MAX);  // a new tier starts with its full burst
    return;
  }
  if (m.cseq_method == SipMethod::REGISTER &&
      (m.status == 401 || m.status == 403 || m.status == 407) && !m.to.uri.host.empty()) {
    AorState& a = aor(m, text);
    if (now_ms - a.window_ms >= config_.aor_window_s * 1000) {
      a.window_ms = now_ms;
      a.failures = 0;
    }
    if (++a.failures >= config_.aor_failures) {
      a.locked_until_ms = (now_ms + config_.aor_lock_s * 1000) | 1;
      a.failures = 0;
    }
  }
  if (m.status == 401 || m.status == 407) {
    const Challenge& c = m.status == 401 ? m.www_authenticate : m.proxy_authenticate;
    if (c.nonce.empty()) return;
    // A challenge proves nothing yet (the server answers forged sources too): it stays where
    // the client's entry is, the probation area for a first contact.
    if (SourceEntry* s = lookup(client, table_.hash_of(client), now_ms))
      s->nonce_hash = nonce_hash(c.nonce.in(text));
    return;
  }
  if (m.status == 403) {
    SourceEntry* s = find(client);
    // Refused: only a fresh challenge (a request without credentials first) may follow.
    if (s) s->nonce_hash = kRefusedNonce;
    demerit(s, config_.demerits_auth_failure, now_ms, Reason::auth_failure);
  }
}

uint32_t Mitigation::nonce_hash(std::string_view nonce) {  // FNV-1a: a tag, not a secret; odd
  uint32_t h = 2166136261u;
  for (char c : nonce) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
  return h | 1;
}

namespace {

uint32_t remaining_ms(uint32_t until_ms, uint32_t now_ms) {
  return until_ms && before(now_ms, until_ms) ? until_ms - now_ms : 0;
}

}  // namespace

void Mitigation::proven_sources(std::vector<Standing>& out, uint32_t now_ms) {
  for (SourceTable* t : {&table_, &probation_})
    t->for_each([&](SourceEntry& e) {
      if (e.port && (trusted(&e, now_ms) || banned(&e, now_ms)))
        out.push_back(standing_of(e, now_ms, t == &probation_));
    });
}

void Mitigation::sources_in(const IpPrefix& prefix, std::vector<Standing>& out, uint32_t now_ms,
                            size_t limit) {
  for (SourceTable* t : {&table_, &probation_})
    t->for_each([&](SourceEntry& e) {
      if (e.port && out.size() < limit && prefix.contains(e.ip))
        out.push_back(standing_of(e, now_ms, t == &probation_));
    });
}

Mitigation::Standing Mitigation::standing_of(const SourceEntry& e, uint32_t now_ms,
                                             bool probation) {
  Standing s;
  s.ip = e.ip;
  s.port = e.port;
  s.trusted_ms = remaining_ms(e.trusted_until_ms, now_ms);
  s.banned_ms = remaining_ms(e.banned_until_ms, now_ms);
  s.demerits = e.demerits;
  s.messages = e.messages;
  s.probation = probation;
  s.verified = verified_.verified(e.ip, e.port, table_.hash_of_entry(e), now_ms);
  return s;
}

std::optional<Mitigation::Standing> Mitigation::standing(const IpAddress& ip, uint16_t port,
                                                         uint32_t now_ms) {
  const SourceKey key{ip, port, {}};
  if (SourceEntry* e = table_.find(key)) return standing_of(*e, now_ms, false);
  if (SourceEntry* e = probation_.find(key)) return standing_of(*e, now_ms, true);
  return std::nullopt;
}

size_t Mitigation::unban(const IpPrefix& prefix, uint32_t now_ms) {
  size_t lifted = 0;
  for (SourceTable* t : {&table_, &probation_})
    t->for_each([&](SourceEntry& e) {
      if (!e.port || !banned(&e, now_ms) || !prefix.contains(e.ip)) return;
      e.banned_until_ms = 0;
      e.demerits = 0;
      record(EventType::source_unbanned, e, Reason::admitted);
      ++lifted;
    });
  return lifted;
}

bool Mitigation::restore(const Standing& s, uint32_t now_ms) {
  const SourceKey key{s.ip, s.port, {}};
  SourceEntry* e = table_.find_or_insert(key, now_ms);
  if (!e) return false;
  if (SourceEntry* p = probation_.find(key)) probation_.erase(p);
  const auto extend = [now_ms](uint32_t& until_ms, uint32_t ms) {
    if (ms && remaining_ms(until_ms, now_ms) < ms) until_ms = (now_ms + ms) | 1;
  };
  extend(e->trusted_until_ms, s.trusted_ms);
  extend(e->banned_until_ms, s.banned_ms);
  if (banned(e, now_ms)) e->trusted_until_ms = 0;
  if (e->messages == 0) e->messages = std::max<uint8_t>(s.messages, 1);
  e->first_seen_ms = now_ms;
  e->last_seen_ms = now_ms;
  e->tokens.fill(UINT16_MAX);
  if (trusted(e, now_ms))
    familiar_->learn(s.ip, (now_ms + config_.familiar_keep_s * 1000) | 1, now_ms);
  return true;
}

}  // namespace sipshield
