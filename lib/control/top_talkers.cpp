#include "control/top_talkers.hpp"

#include <algorithm>

namespace sipshield {

void TopTalkers::add(const std::string& source, const IpAddress& ip, uint16_t port, Reason reason,
                     uint64_t weight, uint64_t now_s) {
  auto it = entries_.find(source);
  if (it == entries_.end()) {
    if (entries_.size() >= kMaxSources) return;
    it = entries_.emplace(source, Entry{}).first;
    it->second.talker.source = source;
    it->second.talker.ip = ip;
    it->second.talker.port = port;
  }
  Entry& e = it->second;
  e.this_second += weight;
  e.talker.total += weight;
  e.last_seen_s = now_s;
  uint64_t& n = e.by_reason[static_cast<uint8_t>(reason)];
  n += weight;
  if (n >= e.by_reason[static_cast<uint8_t>(e.talker.top_reason)]) e.talker.top_reason = reason;
}

void TopTalkers::second(uint64_t now_s) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    Entry& e = it->second;
    e.talker.last_second = e.this_second;
    e.this_second = 0;
    if (now_s - e.last_seen_s > 60) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

std::vector<TopTalkers::Talker> TopTalkers::top(size_t n) const {
  std::vector<Talker> all;
  all.reserve(entries_.size());
  for (const auto& [key, e] : entries_) all.push_back(e.talker);
  const auto order = [](const Talker& a, const Talker& b) {
    return a.last_second != b.last_second ? a.last_second > b.last_second : a.total > b.total;
  };
  if (all.size() > n) {
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(), order);
    all.resize(n);
  } else {
    std::sort(all.begin(), all.end(), order);
  }
  return all;
}

}  // namespace sipshield
