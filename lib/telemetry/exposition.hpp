// Prometheus text exposition format 0.0.4: families with HELP and TYPE, samples with escaped
// label values. The daemon fills one per scrape interval (dataplane/metrics.cpp); the metrics
// server hands out the last one.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace sipshield {

class Exposition {
 public:
  using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;
  // Starts family `name`: "counter" (named with its _total) or "gauge".
  void family(std::string_view name, std::string_view type, std::string_view help);
  // One sample of the family begun last.
  void sample(Labels labels, double value);
  void sample(Labels labels, uint64_t value);
  const std::string& text() const { return text_; }

 private:
  void labels(Labels labels);
  std::string text_;
  std::string name_;
};

}  // namespace sipshield
