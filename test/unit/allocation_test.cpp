// No heap allocation on the fast path: this test binary replaces the global operator new with
// one that counts, runs the pipeline over a flood of every kind (spoofed first contacts,
// scanners, malformed SIP, fragments, a registered user's traffic, responses from inside) until
// its tables are warm, and then asserts that judging more of it allocates nothing.
#include <catch2/catch.hpp>

#include <rte_mbuf.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "config/config.hpp"
#include "dataplane/eal.hpp"
#include "packet/builder.hpp"
#include "policy/pipeline.hpp"
#include "support.hpp"

namespace {
std::atomic<uint64_t> g_allocations{0};
}

// GCC sees std::free called on what an inlined operator new returned and calls it a mismatch;
// here both are ours, and pair malloc with free.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

// Counted for the whole test binary; only the difference across the measured loop matters.
// Every unaligned form is replaced, the nothrow ones too: a sanitizer's allocator must never
// see a block one of its operators made freed by ours (ASan reports the mismatch). The aligned
// forms stay the library's, new and delete alike.
namespace {
void* counted(std::size_t size) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size ? size : 1);
}
}  // namespace
void* operator new(std::size_t size) {
  if (void* p = counted(size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  return operator new(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return counted(size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return counted(size);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}

using namespace sipshield;

namespace {

// Frees what it is handed back into the pool, as the worker's TX and free paths do.
struct FreeingSink {
  uint64_t forwarded = 0, dropped = 0;
  void forward(rte_mbuf* m, Verdict) {
    ++forwarded;
    rte_pktmbuf_free(m);
  }
  void drop(rte_mbuf* m, Verdict) {
    ++dropped;
    rte_pktmbuf_free(m);
  }
};

std::string request(const std::string& method, const std::string& host, const std::string& extra,
                    int n) {
  return method + " sip:198.18.0.10 SIP/2.0\r\nVia: SIP/2.0/UDP " + host + ";branch=z9hG4bK" +
         std::to_string(n) + "\r\nMax-Forwards: 70\r\nFrom: <sip:" + std::to_string(n) +
         "@198.18.0.10>;tag=f\r\nTo: <sip:" + std::to_string(n) + "@198.18.0.10>\r\nCall-ID: c" +
         std::to_string(n) + "\r\nCSeq: 1 " + method + "\r\n" + extra + "Content-Length: 0\r\n\r\n";
}

}  // namespace

TEST_CASE("judging a flood of every kind allocates nothing once the tables are warm",
          "[pipeline][allocation]") {
  test::ensure_eal();
  Mempool pool("alloc", 8191, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  Config config = parse_config_text(R"({"protected": ["198.18.0.10:5060"],
      "policy": {"sources": {"max": 4096, "probation": 4096}, "dialogs": {"max": 4096}}})");
  const KeyedHash hash(7);
  const SignatureDatabase signatures(config.signature_rules);  // the built-in rules
  SharedTables shared;
  shared.signatures = &signatures;
  Pipeline pipeline(config, hash, shared);
  const Endpoint server{*IpAddress::parse("198.18.0.10"), 5060};

  // One round: 512 frames of every kind, new sources each round (first contacts never end).
  uint32_t round = 0;
  const auto frames_of_round = [&] {
    std::vector<Frame> frames;
    for (int i = 0; i < 64; ++i) {
      const uint32_t n = round * 64 + static_cast<uint32_t>(i);
      const std::string spoofed =
          "198.19." + std::to_string(n / 250 % 250) + "." + std::to_string(n % 250 + 1);
      const Endpoint src{*IpAddress::parse(spoofed), static_cast<uint16_t>(1024 + n % 60000)};
      frames.push_back(build_udp(src, server, request("REGISTER", spoofed, "", int(n)))[0]);
      frames.push_back(build_udp(
          src, server, request("OPTIONS", spoofed, "User-Agent: friendly-scanner\r\n", int(n)))[0]);
      frames.push_back(build_udp(src, server, "INVITE sip:x SIP/2.0\r\nVia: broken\r\n\r\n")[0]);
      const Endpoint user{*IpAddress::parse("198.18.5.1"), 5060};
      frames.push_back(build_udp(user, server, request("INVITE", "198.18.5.1", "", int(n)))[0]);
      frames.push_back(build_udp(server, user,
                                 "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.18.5.1;branch=z9hG4bK1\r\n"
                                 "From: <sip:1@x>;tag=f\r\nTo: <sip:1@x>;tag=t\r\nCall-ID: c1\r\n"
                                 "CSeq: 1 REGISTER\r\nContact: <sip:1@198.18.5.1>;expires=600\r\n"
                                 "Content-Length: 0\r\n\r\n")[0]);
      FrameOptions small;
      small.mtu = 576;
      small.ip_id = n;
      const auto fragments =
          build_udp(src, server,
                    request("MESSAGE", spoofed, std::string(900, 'x') + ": y\r\n", int(n)), small);
      frames.push_back(fragments[0]);  // first fragments alone: held, then timed out
    }
    ++round;
    return frames;
  };
  const auto judge = [&](const std::vector<Frame>& frames, uint64_t now_ns) {
    FreeingSink sink;
    std::vector<rte_mbuf*> mbufs(frames.size());
    for (size_t i = 0; i < frames.size(); ++i) {
      mbufs[i] = rte_pktmbuf_alloc(pool.get());
      REQUIRE(mbufs[i]);
      std::memcpy(rte_pktmbuf_append(mbufs[i], static_cast<uint16_t>(frames[i].size())),
                  frames[i].data(), frames[i].size());
    }
    // Frames from the inside (the 200 OK) go through the inside path, the rest from outside.
    std::vector<rte_mbuf*> outside, inside;
    for (size_t i = 0; i < frames.size(); ++i) (i % 6 == 4 ? inside : outside).push_back(mbufs[i]);
    const uint64_t before = g_allocations.load();
    for (size_t i = 0; i < outside.size(); i += kBurstSize)
      pipeline.process_burst(
          Direction::from_outside, outside.data() + i,
          static_cast<uint16_t>(std::min<size_t>(kBurstSize, outside.size() - i)), now_ns, sink);
    for (size_t i = 0; i < inside.size(); i += kBurstSize)
      pipeline.process_burst(Direction::from_inside, inside.data() + i,
                             static_cast<uint16_t>(std::min<size_t>(kBurstSize, inside.size() - i)),
                             now_ns, sink);
    return g_allocations.load() - before;
  };

  // Warm-up: the tables fill and start to evict and expire, the drop sampler's ring wraps.
  uint64_t now = 1'000'000'000;
  for (int r = 0; r < 200; ++r) judge(frames_of_round(), now += 50'000'000);
  // Measured: ten more seconds of it, frames built outside the measured part.
  uint64_t allocations = 0, judged_rounds = 0;
  for (int r = 0; r < 200; ++r) {
    const auto frames = frames_of_round();
    allocations += judge(frames, now += 50'000'000);
    ++judged_rounds;
  }
  const WorkerCounters& c = pipeline.counters();
  INFO("rounds " << judged_rounds << ", dropped " << read(c.dropped[size_t(Reason::sip_signature)])
                 << " by signature");
  CHECK(read(c.passed[static_cast<size_t>(Reason::admitted)]) > 0);
  CHECK(read(c.dropped[static_cast<size_t>(Reason::sip_signature)]) > 0);
  CHECK(read(c.dropped[static_cast<size_t>(Reason::frag_timeout)]) > 0);
  CHECK(read(c.passed[static_cast<size_t>(Reason::from_inside)]) > 0);
  CHECK(allocations == 0);
}
