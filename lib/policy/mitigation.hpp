// Per-source judgement of SIP from outside, and what the servers' own answers teach: trust from
// a 200 OK to REGISTER or an echoed challenge nonce, demerits that end in bans, per-class meters
// with a profile per tier, and a shared budget for sources without trust.
// Cost (the meters stage: meters, budgets, the probes' decision, what an admitted message
// teaches; scripts/bench.sh --json, 2026-12-02, one worker, 2.1 GHz EPYC VM): 56-129 cycles a
// message.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "admission/probe_cookie.hpp"
#include "admission/probe_limiter.hpp"
#include "core/reasons.hpp"
#include "core/table_memory.hpp"
#include "packet/parse.hpp"
#include "policy/budget_shares.hpp"
#include "sip/message.hpp"
#include "state/dialog_table.hpp"
#include "state/familiar_prefixes.hpp"
#include "state/source_table.hpp"
#include "state/verified_table.hpp"
#include "telemetry/events.hpp"

namespace sipshield {

struct MeterProfile {
  uint32_t rate_per_s = 1;  // messages per second, sustained
  uint16_t burst = 5;       // messages at once (at most 1000)
};

struct TierProfile {
  std::array<MeterProfile, kMethodClasses> classes;
};

// When the filter sends return-routability probes: never; when the untrusted budget refuses a
// request (under pressure); or to every first contact, which then waits for its answer.
enum class ProbeMode : uint8_t { never, pressure, always };

struct PolicyConfig {
  TierProfile untrusted{{MeterProfile{1, 5}, MeterProfile{1, 5}, MeterProfile{1, 5},
                         MeterProfile{5, 20}, MeterProfile{10, 40}}};
  TierProfile trusted{{MeterProfile{5, 20}, MeterProfile{10, 40}, MeterProfile{5, 20},
                       MeterProfile{50, 200}, MeterProfile{100, 400}}};
  // All sources without trust behind one address (any port) together: catches a flood that
  // rotates source ports, yet never bans (phones behind a NAT are not punished together).
  TierProfile per_address{{MeterProfile{10, 50}, MeterProfile{10, 50}, MeterProfile{10, 50},
                           MeterProfile{50, 200}, MeterProfile{100, 400}}};
  // Per worker and protected service: every message from sources without trust shares it. When
  // it runs low, it is shed lowest rank first: bursty sources (with demerits) may spend only
  // above `floor_bursty_percent` of the burst, young ones above `floor_newcomer_percent`, and
  // sources that kept a polite pace (known for 400 ms or more, at most `polite_rate_per_s`
  // messages a second on average) down to the last token.
  uint32_t untrusted_budget_pps = 500;
  uint16_t untrusted_budget_burst = 1000;
  uint32_t polite_rate_per_s = 2;
  // Sources without a polite history (first contact: possibly spoofed) also spend from this
  // smaller bucket, so a spoofed flood can take at most its share.
  MeterProfile newcomer_budget{250, 500};
  MeterProfile familiar_budget{250, 500};  // the same, for first contacts from familiar prefixes
  uint8_t floor_familiar_percent = 10;
  uint8_t floor_newcomer_percent = 25;
  uint8_t floor_bursty_percent = 50;
  // Prefixes that produced trusted users (a 200 OK to REGISTER) are remembered for
  // `familiar_keep_s`; a young source from one of them ranks `familiar`: above the newcomers'
  // floor, and with a bucket of its own (`familiar_budget`) instead of the newcomers'. 0
  // prefixes: off.
  uint32_t familiar_prefixes = 65536;  // one table, shared by the daemon's workers
  uint8_t familiar_ipv4_length = 24;
  uint8_t familiar_ipv6_length = 48;
  uint32_t familiar_keep_s = 86400;
  // Port-rotating bots: an address whose untrusted messages came, within `bot_window_s`, from at
  // least `bot_fresh_ports` source ports new to the tables, fewer than a quarter of them from
  // ports that came back, ranks `bot`: below every other rank, and also held to `bot_budget`
  // (per worker and service, shared by every such address). Phones behind a NAT keep their
  // ports and come back (a challenge, a retransmission), bots never do. 0 ports: off.
  uint8_t bot_fresh_ports = 4;
  uint32_t bot_window_s = 10;
  MeterProfile bot_budget{10, 20};
  uint16_t demerit_threshold = 20;  // within the window: banned
  uint16_t demote_threshold = 10;  // within the window: a trusted source loses its trust (0: never)
  uint32_t demerit_window_s = 60;
  uint32_t ban_s = 600;
  uint16_t demerits_malformed = 5;
  uint16_t demerits_rate_limited = 1;
  uint16_t demerits_auth_failure = 3;
  uint32_t trust_max_s = 3600;  // a registration's trust lasts its expiry, at most this
  uint32_t nonce_trust_s = 60;  // trust for echoing a nonce the server sent to that address
  // Sources that proved something (trusted, banned, or so promoted) live in a table that never
  // evicts (`max_sources`); every other source, first contacts included, in the probation area
  // (`probation_sources`), which evicts its oldest one-shot entries when full. 0: no probation
  // area, first contacts take room in the first table.
  uint32_t max_sources = 65536;
  uint32_t probation_sources = 262144;
  uint32_t idle_s = 300;
  uint32_t stray_idle_s = 2;  // an entry with one message and no challenge
  uint16_t demerits_no_dialog = 2;
  uint32_t max_dialogs = 65536;  // transaction and dialog legs per worker
  uint32_t transaction_s = 32;   // RFC 3261 timer B (64*T1)
  uint32_t dialog_s = 7200;      // an established call's leg, refreshed by its traffic
  uint32_t grace_s = 0;          // after start: missing state is not enforced (live calls)
  // Per address of record (To user@host of a REGISTER), for sources without trust: a meter, and a
  // lock after repeated challenges and refusals (digest brute force spread over many sources).
  MeterProfile aor_register{2, 10};
  uint16_t aor_failures = 10;  // 401/403/407 answers to REGISTERs for one AOR within the window
  uint32_t aor_window_s = 60;
  uint32_t aor_lock_s = 300;
  uint32_t aor_slots = 65536;  // per worker; AORs that share a slot share its limits
  // Return-routability probes (lib/admission, docs/policy.md): an OPTIONS with a MAC cookie back
  // to a source without trust; a source that answers it is verified for `verified_s`: it spends
  // `verified_budget` (per service, which no forged source can reach) and no AOR lock binds it.
  ProbeMode probe_mode = ProbeMode::pressure;
  ProbeLimits probe_limits;
  ProbeCookieConfig probe_cookie;
  uint32_t verified_s = 300;
  uint32_t verified_max = 65536;  // per worker
  MeterProfile verified_budget{1000, 1000};
  // The untrusted budget follows the servers (AIMD, as TCP and RFC 7415 rate-based overload
  // control do): each interval, if the servers' response time to admitted requests (an EWMA of
  // samples) is above `budget_target_ms` or a 503 came, the budget shrinks to (100 -
  // decrease)% of itself, at least `budget_min_percent`; if they answered fast, it grows back by
  // `budget_increase_percent` points up to 100 %. Per worker and service; trusted traffic never
  // spends it. 0 ms: off.
  uint32_t budget_target_ms = 250;
  uint32_t budget_interval_ms = 500;
  uint8_t budget_min_percent = 5;
  uint8_t budget_decrease_percent = 30;
  uint8_t budget_increase_percent = 5;
  uint8_t overload_budget_percent = 10;  // of the untrusted budget while a 503 Retry-After holds
  uint32_t overload_max_s = 300;         // longest Retry-After honoured
};

MethodClass method_class(const SipMessage& m);

// How a source without trust ranks for the untrusted budget, first served first: `familiar` is
// a young source from an address prefix that has produced trusted users; `bot` a source whose
// address rotates ports (PolicyConfig::bot_fresh_ports).
enum class Pace : uint8_t { polite, familiar, newcomer, bursty, bot };

class Mitigation {
 public:
  // `services`: how many protected services there are, each with its own untrusted budget.
  // `familiar`: the table of familiar prefixes the daemon's workers share; null: one of its own.
  Mitigation(const PolicyConfig& config, const KeyedHash& hash, size_t services = 1,
             FamiliarPrefixes* familiar = nullptr);

  // Before the tokenizer: the source's entry (created if there is room), or null.
  SourceEntry* source(const PacketMeta& meta, uint64_t hash, uint32_t now_ms);
  SourceEntry* source(const PacketMeta& meta, uint32_t now_ms) {
    return source(meta, source_hash(meta), now_ms);
  }
  // Bulk lookups: the pipeline hashes a burst's sources and their addresses, and prefetches
  // before judging any.
  uint64_t source_hash(const PacketMeta& meta) const {
    return table_.hash_of({meta.src, meta.src_port, {}});
  }
  uint64_t address_hash(const PacketMeta& meta) const { return table_.hash_of({meta.src, 0, {}}); }
  void prefetch_buckets(uint64_t source_hash, uint64_t address_hash) const {
    table_.prefetch_bucket(source_hash);
    probation_.prefetch_bucket(source_hash);
    verified_.prefetch_bucket(source_hash);
    table_.prefetch_bucket(address_hash);
    probation_.prefetch_bucket(address_hash);
  }
  void prefetch_entries(uint64_t source_hash, uint64_t address_hash) const {
    table_.prefetch_entry(source_hash);
    probation_.prefetch_entry(source_hash);
    verified_.prefetch_entry(source_hash);
    table_.prefetch_entry(address_hash);
    probation_.prefetch_entry(address_hash);
  }
  bool banned(const SourceEntry* s, uint32_t now_ms) const {
    return s && s->banned_until_ms && before(now_ms, s->banned_until_ms);
  }
  bool trusted(const SourceEntry* s, uint32_t now_ms) const {
    return s && s->trusted_until_ms && before(now_ms, s->trusted_until_ms);
  }
  // Adds demerits; at the threshold within the window, the source is banned (for `cause`).
  // Both return where the source's entry is now: a ban moves it out of the probation area.
  SourceEntry* demerit(SourceEntry* s, uint16_t points, uint32_t now_ms, Reason cause);
  SourceEntry* ban(SourceEntry* s, uint32_t seconds, uint32_t now_ms, Reason cause,
                   const Rule* rule = nullptr);
  // Where bans and unbans are recorded, and the full time of the message being judged.
  void set_events(EventRing* ring) { events_ = ring; }
  // The daemon's workers split each service's budgets by demand (policy/budget_shares.hpp);
  // without this, the pipeline spends them whole (the offline replay, one pipeline).
  void share_budgets(BudgetShares* shares, size_t worker) {
    shares_ = shares;
    worker_ = worker;
  }
  void set_time(uint64_t now_ns) { now_ns_ = now_ns; }
  // The worker's clock at the last message judged, in milliseconds (for reports).
  uint32_t last_ms() const { return static_cast<uint32_t>(now_ns_ / 1'000'000); }
  // After the tokenizer and the signatures: meters and the untrusted budget of the protected
  // `service` (its index). `address` is the aggregate entry of the source's address (port 0), or
  // null.
  // `verified`: the source answered a probe (verified()).
  Verdict admit(SourceEntry* s, SourceEntry* address, const SipMessage& m, std::string_view text,
                int service, uint32_t now_ms, bool verified = false);
  // Return-routability: whether the source answered a probe in time, and marking it so.
  // `hash`: source_hash(meta), which the verified table shares with the source table.
  bool verified(const PacketMeta& meta, uint64_t hash, uint32_t now_ms) {
    return verified_.verified(meta.src, meta.src_port, hash, now_ms);
  }
  bool verify(const PacketMeta& meta, uint32_t now_ms) {
    return verified_.verify(meta.src, meta.src_port, now_ms, config_.verified_s * 1000);
  }
  const VerifiedTable& verified_table() const { return verified_; }
  // `address`: the aggregate entry of the source's address, if known.
  Pace pace(const SourceEntry* s, uint32_t now_ms, const SourceEntry* address = nullptr) const;
  // The aggregate entry of the address of `meta`'s source `s` (port 0: no real source), which
  // counts whether `s` is a port new to the tables or one that came back. `hash`:
  // address_hash(meta).
  SourceEntry* address_entry(const PacketMeta& meta, uint64_t hash, const SourceEntry* s,
                             uint32_t now_ms);
  // Whether the address of aggregate `a` rotates ports as bots do.
  bool rotates_ports(const SourceEntry* a, uint32_t now_ms) const {
    return a && config_.bot_fresh_ports && a->ports.fresh >= config_.bot_fresh_ports &&
           a->ports.returning * 4u < a->ports.fresh &&
           now_ms - a->demerit_window_ms < config_.bot_window_s * 1000;
  }
  // Responses and in-dialog requests must match a leg the servers know of; nullopt: fine.
  std::optional<Reason> check_dialog(const PacketMeta& meta, const SipMessage& m,
                                     std::string_view text, uint32_t now_ms);
  // An admitted message from a client that opens or confirms a leg (INVITE, SUBSCRIBE, 2xx);
  // a request's time is kept to measure the servers' answer (`service`: its index).
  void note_admitted(const PacketMeta& meta, const SipMessage& m, std::string_view text,
                     uint32_t now_ms, int service = 0);
  // A first contact of rank `pace` (newcomer or familiar) for protected service `service`: true
  // while first contacts of that rank arrive faster than their bucket refills (within the
  // current or the last 100 ms). A spoofed flood is then on from that side: in probe mode
  // `pressure`, each such first contact is held until its source answers a probe, instead of
  // spending the bucket the flood would drain.
  bool first_contact_surge(size_t service, Pace pace, uint32_t now_ms);
  // Where the budget control stands for protected service `service`.
  struct BudgetState {
    uint32_t percent;     // of the configured untrusted budget
    uint32_t latency_ms;  // the servers' smoothed response time
    uint64_t samples;     // response times measured since start
  };
  BudgetState budget_state(size_t service) const;
  // Messages from sources without trust that spent the untrusted budget, or found it spent,
  // by rank (Pace): [spent, refused]. Single-writer counters.
  const std::array<std::array<uint64_t, 2>, 5>& budget_by_rank() const { return budget_by_rank_; }
  // A message from the protected side to a client: learn trust, nonces and failures.
  void learn(const PacketMeta& meta, const SipMessage& m, std::string_view text, uint32_t now_ms);
  void expire_step(uint32_t now_ms, unsigned budget) {
    table_.expire_step(now_ms, budget);
    probation_.expire_step(now_ms, budget);
    give_up_unanswered(now_ms, budget * 8);
    dialogs_.expire_step(now_ms, budget);
    verified_.expire_step(now_ms, budget);
  }
  const DialogTable& dialogs() const { return dialogs_; }

  // A reload: the settings of `next` from now on, every entry kept, buckets and controls added
  // or dropped with the number of protected services. Table sizes must not differ (checked by
  // the caller). Between bursts only: it allocates.
  void reconfigure(const PolicyConfig& next, size_t services);

  // Control operations (sipshield-ctl, the state snapshot): run between bursts by the worker
  // that owns the tables, or by the main lcore once the workers have stopped; they walk whole
  // tables, so never on the fast path.
  //
  // A source's standing as the tables hold it: trust and ban, as milliseconds still to run.
  struct Standing {
    IpAddress ip;
    uint16_t port = 0;
    uint32_t trusted_ms = 0;  // 0: not trusted
    uint32_t banned_ms = 0;   // 0: not banned
    uint16_t demerits = 0;
    uint8_t messages = 0;
    bool probation = false;  // still in the probation area
    bool verified = false;   // answered a probe
  };
  // Every source that is trusted or banned at `now_ms`, from both tables.
  void proven_sources(std::vector<Standing>& out, uint32_t now_ms);
  // The sources of `prefix` the tables know of (any standing), at most `limit` of them.
  void sources_in(const IpPrefix& prefix, std::vector<Standing>& out, uint32_t now_ms,
                  size_t limit);
  // The standing of one source, if either table holds it.
  std::optional<Standing> standing(const IpAddress& ip, uint16_t port, uint32_t now_ms);
  // Lifts the bans of the sources in `prefix` (an unban event each); how many were banned.
  size_t unban(const IpPrefix& prefix, uint32_t now_ms);
  // Gives a source the standing a snapshot kept (trust, ban; the longer of what the tables
  // already hold), in the table of proven sources; its prefix becomes familiar again if it is
  // trusted. False when that table is full.
  bool restore(const Standing& s, uint32_t now_ms);

  const SourceTable& table() const { return table_; }
  const SourceTable& probation() const { return probation_; }
  const FamiliarPrefixes& familiar() const { return *familiar_; }
  const PolicyConfig& config() const { return config_; }

 private:
  // The source's entry in either table, or null.
  SourceEntry* find(const SourceKey& key) {
    const uint64_t hash = table_.hash_of(key);
    SourceEntry* e = table_.find(key, hash);
    return e ? e : probation_.find(key, hash);
  }
  // The source's entry: in the table of proven sources, else in the probation area (created
  // there, evicting if need be); without a probation area, created in the first table.
  SourceEntry* lookup(const SourceKey& key, uint64_t hash, uint32_t now_ms) {
    if (SourceEntry* e = table_.find(key, hash)) return e;
    return probation_.capacity() ? probation_.find_or_insert(key, hash, now_ms)
                                 : table_.find_or_insert(key, hash, now_ms);
  }
  // Moves `s` out of the probation area into the table of proven sources (it became trusted or
  // banned); where it is now. A full table leaves it where it was (refusal counted).
  SourceEntry* prove(SourceEntry* s, uint32_t now_ms);
  bool take(uint16_t& tokens, uint32_t elapsed_ms, const MeterProfile& p) const;
  Standing standing_of(const SourceEntry& e, uint32_t now_ms, bool probation);
  // An event about source `s`, if events are recorded.
  void record(EventType type, const SourceEntry& s, Reason cause = Reason::admitted,
              const Rule* rule = nullptr, uint32_t seconds = 0);
  // Refills every class bucket of `e` under `tier`, then spends one token of class `cls`.
  bool meter(SourceEntry& e, size_t cls, const TierProfile& tier, uint32_t now_ms) const;
  static uint32_t nonce_hash(std::string_view nonce);
  static constexpr uint32_t kRefusedNonce = 2;  // even: no nonce hashes to it

  DialogKey dialog_key(const IpAddress& client, const SipMessage& m, std::string_view text) const {
    return {client, dialogs_.call_id_hash(m.call_id.in(text))};
  }

  PolicyConfig config_;
  SourceTable table_;
  SourceTable probation_;
  DialogTable dialogs_;
  VerifiedTable verified_;
  std::unique_ptr<FamiliarPrefixes> own_familiar_;  // when no shared table is given
  FamiliarPrefixes* familiar_;
  struct AorState {
    uint32_t meter_ms = 0;
    uint32_t window_ms = 0;
    uint32_t locked_until_ms = 0;
    uint16_t tokens = UINT16_MAX;
    uint16_t failures = 0;
  };
  static_assert(sizeof(AorState) == 16);
  AorState& aor(const SipMessage& m, std::string_view text);
  TableVector<AorState> aors_;

  // Overload signals from the servers: the untrusted budget shrinks until they expire, and
  // follows their response time (the control of `service`).
  uint32_t budget_percent(uint32_t now_ms, size_t service);
  struct Control {
    uint32_t interval_ms = 0;  // start of the current interval
    uint32_t latency_x16 = 0;  // EWMA of response times, in 1/16 ms
    uint32_t percent = 100;
    uint32_t interval_samples = 0;
    uint64_t samples = 0;
    bool overloaded = false;  // a 503 in this interval
  };
  // Requests admitted and not answered yet, direct-mapped: (key, time, service).
  struct Pending {
    uint64_t key = 0;
    uint32_t ms = 0;
    uint32_t service = 0;
  };
  uint64_t transaction_key(const IpAddress& client, const SipMessage& m,
                           std::string_view text) const;
  // `p`'s request was answered, or given up unanswered, at `now_ms`: a response time sample of
  // its service; frees the slot.
  void sample(Pending& p, uint32_t now_ms);
  // Visits `budget` pending requests: those unanswered for longer than the target are samples
  // of at least their age.
  void give_up_unanswered(uint32_t now_ms, unsigned budget);
  uint32_t pending_hand_ = 0;
  uint32_t retry_after_until_ms_ = 0;  // 503 with Retry-After
  uint32_t oc_until_ms_ = 0;           // RFC 7339 Via oc (loss algorithm) in responses
  uint8_t oc_drop_percent_ = 0;
  bool started_ = false;
  uint32_t start_ms_ = 0;
  EventRing* events_ = nullptr;
  uint64_t now_ns_ = 0;
  struct Budget {
    uint32_t ms = 0;
    uint32_t tokens = 0;  // in 1/64 units
  };
  static bool refill_and_take(Budget& b, uint64_t rate_per_s, uint64_t cap, uint64_t floor,
                              uint32_t now_ms);
  bool spend_budget(size_t service, Pace pace, uint32_t now_ms);
  // `value`, a rate or burst of one of `service`'s budgets, at the control's `percent` and this
  // worker's share.
  uint64_t portion(uint64_t value, uint64_t percent, size_t service) const;
  BudgetShares* shares_ = nullptr;
  size_t worker_ = 0;
  std::vector<Budget> budgets_;           // one per protected service
  std::vector<Budget> newcomer_budgets_;  // likewise
  std::vector<Budget> familiar_budgets_;  // likewise
  std::vector<Budget> verified_budgets_;  // likewise
  std::vector<Budget> bot_budgets_;       // likewise
  std::vector<Control> controls_;         // likewise: the budget control of each service
  struct Arrivals {
    uint32_t window_ms = 0;
    uint32_t count = 0, previous = 0;
  };
  std::vector<Arrivals> first_contacts_;  // per service, newcomers then familiar ones
  std::vector<Pending> pending_;
  std::array<std::array<uint64_t, 2>, 5> budget_by_rank_{};
};

}  // namespace sipshield
