// Fragment reassembly at the table level: owners are plain tokens, data plain buffers, time a
// number the test sets, so every ordering, overlap and timeout case is exact.
#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>

#include "packet/reassembly.hpp"
#include "support.hpp"

using namespace sipshield;

namespace {

constexpr uint64_t kMs = 1'000'000;

struct Drops {
  std::vector<std::pair<int, Reason>> list;
  static void record(void* context, void* owner, Reason reason) {
    static_cast<Drops*>(context)->list.emplace_back(*static_cast<int*>(owner), reason);
  }
  DropSink sink() { return {&record, this}; }
  size_t count(Reason r) const {
    return std::count_if(list.begin(), list.end(), [r](auto& d) { return d.second == r; });
  }
};

// A datagram of `size` bytes cut into 8-byte-aligned pieces of `piece` bytes.
struct Datagram {
  std::vector<uint8_t> bytes;
  std::vector<int> tokens;
  uint32_t piece;
  Datagram(size_t size, uint32_t piece_size) : bytes(size), piece(piece_size) {
    std::iota(bytes.begin(), bytes.end(), 0);
    tokens.resize((size + piece - 1) / piece);
    std::iota(tokens.begin(), tokens.end(), 100);
  }
  size_t pieces() const { return tokens.size(); }
  Fragment fragment(size_t i) {
    const uint32_t offset = static_cast<uint32_t>(i) * piece;
    const auto len = static_cast<uint16_t>(std::min<size_t>(piece, bytes.size() - offset));
    return {&tokens[i], bytes.data() + offset, len, offset, i + 1 < pieces(), 0, kProtoUdp};
  }
};

FragmentKey key(const char* src, uint32_t id = 7) {
  return {test::ip(src), test::ip("198.18.0.10"), id, 4, kProtoUdp, {}};
}

ReassemblyLimits limits() {
  ReassemblyLimits l;
  l.max_datagrams = 64;
  l.max_fragments = 8;
  l.max_per_source = 8;
  l.max_held = 256;
  l.timeout_ns = 1000 * kMs;
  return l;
}

const KeyedHash kHash(42);

}  // namespace

TEST_CASE("fragments in order complete into the original datagram", "[reassembly]") {
  Reassembler r(limits(), kHash);
  Drops drops;
  Datagram d(1000, 304);
  for (size_t i = 0; i + 1 < d.pieces(); ++i)
    CHECK(r.add(key("198.18.0.1"), d.fragment(i), 0, drops.sink()) == Reassembler::State::held);
  REQUIRE(r.add(key("198.18.0.1"), d.fragment(d.pieces() - 1), 0, drops.sink()) ==
          Reassembler::State::completed);
  const auto& done = r.completed();
  CHECK(std::equal(done.datagram.begin(), done.datagram.end(), d.bytes.begin(), d.bytes.end()));
  REQUIRE(done.fragments.size() == d.pieces());
  for (size_t i = 0; i < d.pieces(); ++i) CHECK(done.fragments[i] == &d.tokens[i]);
  CHECK(r.in_use() == 0);
  CHECK(r.held() == 0);
  CHECK(drops.list.empty());
}

TEST_CASE("fragments out of order complete, kept in arrival order", "[reassembly]") {
  Reassembler r(limits(), kHash);
  Drops drops;
  Datagram d(1000, 304);
  const std::vector<size_t> order{3, 1, 0, 2};
  for (size_t n = 0; n < order.size(); ++n) {
    const auto state = r.add(key("198.18.0.1"), d.fragment(order[n]), 0, drops.sink());
    CHECK(state ==
          (n + 1 < order.size() ? Reassembler::State::held : Reassembler::State::completed));
  }
  const auto& done = r.completed();
  CHECK(std::equal(done.datagram.begin(), done.datagram.end(), d.bytes.begin(), d.bytes.end()));
  for (size_t n = 0; n < order.size(); ++n) CHECK(done.fragments[n] == &d.tokens[order[n]]);
}

TEST_CASE("an exact duplicate is dropped alone; the datagram still completes", "[reassembly]") {
  Reassembler r(limits(), kHash);
  Drops drops;
  Datagram d(600, 304);
  int copy_token = 999;
  Fragment copy = d.fragment(0);
  copy.owner = &copy_token;
  r.add(key("198.18.0.1"), d.fragment(0), 0, drops.sink());
  CHECK(r.add(key("198.18.0.1"), copy, 0, drops.sink()) == Reassembler::State::dropped);
  CHECK(drops.list == std::vector<std::pair<int, Reason>>{{999, Reason::frag_duplicate}});
  CHECK(r.add(key("198.18.0.1"), d.fragment(1), 0, drops.sink()) == Reassembler::State::completed);
  CHECK(r.completed().fragments.size() == 2);
}

TEST_CASE("overlapping fragments drop the whole datagram (RFC 5722)", "[reassembly]") {
  Reassembler r(limits(), kHash);
  Drops drops;
  Datagram d(1000, 304);
  r.add(key("198.18.0.1"), d.fragment(0), 0, drops.sink());
  r.add(key("198.18.0.1"), d.fragment(2), 0, drops.sink());
  int token = 555;
  Fragment overlapping = d.fragment(1);
  overlapping.owner = &token;
  overlapping.offset = 296;  // overlaps the end of fragment 0
  CHECK(r.add(key("198.18.0.1"), overlapping, 0, drops.sink()) == Reassembler::State::dropped);
  CHECK(drops.count(Reason::frag_overlap) == 3);
  CHECK(r.in_use() == 0);
  // The rest of the datagram no longer completes anything: it starts a new, incomplete entry.
  CHECK(r.add(key("198.18.0.1"), d.fragment(1), 0, drops.sink()) == Reassembler::State::held);
}

TEST_CASE("a datagram missing its first fragment times out", "[reassembly]") {
  Reassembler r(limits(), kHash);
  Drops drops;
  Datagram d(1000, 304);
  for (size_t i = 1; i < d.pieces(); ++i) r.add(key("198.18.0.1"), d.fragment(i), 0, drops.sink());
  r.expire(999 * kMs, 16, drops.sink());
  CHECK(drops.list.empty());
  CHECK(r.in_use() == 1);
  r.expire(1000 * kMs, 16, drops.sink());
  CHECK(drops.count(Reason::frag_timeout) == 3);
  CHECK(r.in_use() == 0);
}

TEST_CASE("a late fragment of a timed-out datagram does not revive it", "[reassembly]") {
  Reassembler r(limits(), kHash);
  Drops drops;
  Datagram d(600, 304);
  r.add(key("198.18.0.1"), d.fragment(0), 0, drops.sink());
  CHECK(r.add(key("198.18.0.1"), d.fragment(1), 1500 * kMs, drops.sink()) ==
        Reassembler::State::held);
  CHECK(drops.list == std::vector<std::pair<int, Reason>>{{100, Reason::frag_timeout}});
}

TEST_CASE("expiry is bounded per call", "[reassembly]") {
  auto l = limits();
  l.max_per_source = 16;
  Reassembler r(l, kHash);
  Drops drops;
  std::vector<Datagram> ds;
  for (int i = 0; i < 10; ++i) ds.emplace_back(600, 304);
  for (uint32_t i = 0; i < 10; ++i) r.add(key("198.18.0.1", i), ds[i].fragment(0), 0, drops.sink());
  r.expire(5000 * kMs, 4, drops.sink());
  CHECK(drops.list.size() == 4);
  CHECK(r.in_use() == 6);
}

TEST_CASE("more fragments than configured drop the datagram", "[reassembly]") {
  auto l = limits();
  l.max_fragments = 3;
  Reassembler r(l, kHash);
  Drops drops;
  Datagram d(1000, 200);  // 5 pieces
  for (size_t i = 0; i < 3; ++i) r.add(key("198.18.0.1"), d.fragment(i), 0, drops.sink());
  CHECK(r.add(key("198.18.0.1"), d.fragment(3), 0, drops.sink()) == Reassembler::State::dropped);
  CHECK(drops.count(Reason::frag_too_many) == 4);
  CHECK(r.in_use() == 0);
}

TEST_CASE("fragments that disagree on the end drop the datagram", "[reassembly]") {
  Reassembler r(limits(), kHash);
  Drops drops;
  Datagram d(1000, 304);
  r.add(key("198.18.0.1"), d.fragment(3), 0, drops.sink());  // the last: ends at 1000
  int token = 7;
  Fragment beyond = d.fragment(1);
  beyond.owner = &token;
  beyond.offset = 1000;  // starts where the datagram ends
  CHECK(r.add(key("198.18.0.1"), beyond, 0, drops.sink()) == Reassembler::State::dropped);
  CHECK(drops.count(Reason::frag_inconsistent) == 2);
}

TEST_CASE("a full table evicts its oldest datagram for a new one", "[reassembly]") {
  auto l = limits();
  l.max_datagrams = 2;
  Reassembler r(l, kHash);
  Drops drops;
  Datagram a(600, 304), b(600, 304), c(600, 304);
  r.add(key("198.18.0.1", 1), a.fragment(0), 0, drops.sink());
  r.add(key("198.18.0.2", 2), b.fragment(0), 1 * kMs, drops.sink());
  r.add(key("198.18.0.3", 3), c.fragment(0), 2 * kMs, drops.sink());
  CHECK(drops.list == std::vector<std::pair<int, Reason>>{{100, Reason::frag_evicted}});
  // The newer two still complete.
  CHECK(r.add(key("198.18.0.2", 2), b.fragment(1), 3 * kMs, drops.sink()) ==
        Reassembler::State::completed);
  CHECK(r.add(key("198.18.0.3", 3), c.fragment(1), 3 * kMs, drops.sink()) ==
        Reassembler::State::completed);
}

TEST_CASE("one source cannot hold more than its quota", "[reassembly]") {
  auto l = limits();
  l.max_per_source = 2;
  Reassembler r(l, kHash);
  Drops drops;
  std::vector<Datagram> ds;
  for (int i = 0; i < 4; ++i) ds.emplace_back(600, 304);
  r.add(key("198.18.0.66", 1), ds[0].fragment(0), 0, drops.sink());
  r.add(key("198.18.0.66", 2), ds[1].fragment(0), 0, drops.sink());
  CHECK(r.add(key("198.18.0.66", 3), ds[2].fragment(0), 0, drops.sink()) ==
        Reassembler::State::dropped);
  CHECK(drops.count(Reason::frag_source_quota) == 1);
  // Another source is unaffected, and completing a datagram frees quota.
  CHECK(r.add(key("198.18.0.7", 1), ds[3].fragment(0), 0, drops.sink()) ==
        Reassembler::State::held);
  CHECK(r.add(key("198.18.0.66", 1), ds[0].fragment(1), 0, drops.sink()) ==
        Reassembler::State::completed);
  CHECK(r.add(key("198.18.0.66", 3), ds[2].fragment(0), 0, drops.sink()) ==
        Reassembler::State::held);
}

TEST_CASE("the cap on held fragments evicts the oldest datagrams", "[reassembly]") {
  auto l = limits();
  l.max_held = 3;
  Reassembler r(l, kHash);
  Drops drops;
  Datagram a(1000, 304), b(1000, 304);
  r.add(key("198.18.0.1", 1), a.fragment(0), 0, drops.sink());
  r.add(key("198.18.0.1", 1), a.fragment(1), 0, drops.sink());
  r.add(key("198.18.0.2", 2), b.fragment(0), 1, drops.sink());
  CHECK(r.held() == 3);
  r.add(key("198.18.0.2", 2), b.fragment(1), 2, drops.sink());
  CHECK(drops.count(Reason::frag_evicted) == 2);  // both fragments of the older datagram
  CHECK(r.held() == 2);
}

TEST_CASE("IPv4 and IPv6 datagrams with the same id do not mix", "[reassembly]") {
  Reassembler r(limits(), kHash);
  Drops drops;
  Datagram a(600, 304), b(600, 304);
  const FragmentKey v4 = key("198.18.0.1", 9);
  const FragmentKey v6{test::ip("2001:db8::1"), test::ip("2001:db8::10"), 9, 6, 0, {}};
  r.add(v4, a.fragment(0), 0, drops.sink());
  r.add(v6, b.fragment(0), 0, drops.sink());
  CHECK(r.in_use() == 2);
  CHECK(r.add(v6, b.fragment(1), 0, drops.sink()) == Reassembler::State::completed);
  CHECK(r.completed().fragments[0] == &b.tokens[0]);
}

TEST_CASE("flush gives up everything still held", "[reassembly]") {
  Reassembler r(limits(), kHash);
  Drops drops;
  Datagram a(1000, 304);
  r.add(key("198.18.0.1"), a.fragment(0), 0, drops.sink());
  r.add(key("198.18.0.1"), a.fragment(2), 0, drops.sink());
  r.flush(Reason::frag_incomplete, drops.sink());
  CHECK(drops.count(Reason::frag_incomplete) == 2);
  CHECK(r.in_use() == 0);
  CHECK(r.held() == 0);
}
