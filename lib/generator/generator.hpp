// Turns a scenario into labelled frames, in time order: legitimate users registering with digest
// challenges, keeping NAT bindings alive, calling each other through the protected proxy and
// answering its pings, while the floods run. Deterministic for a given seed. Frames stream to a
// sink (capture files, a DPDK port, memory) so long scenarios need no memory for the capture.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "generator/scenario.hpp"
#include "packet/builder.hpp"

namespace sipshield {

struct GeneratedFrame {
  uint64_t time_us = 0;
  Frame bytes;
  std::string label;  // legit_<activity>, legit_newcomer_<activity>, atk_<flood kind>
  uint64_t flow = 0;  // a registration, a call, a ping, a keepalive, one flood packet
  bool toward_server = true;
};

class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual void frame(const GeneratedFrame& f) = 0;
};

// Runs the whole scenario into `sink`; returns the number of frames.
uint64_t generate(const Scenario& scenario, FrameSink& sink);

// PREFIX.pcap (both directions, capture timestamps) and PREFIX.labels.tsv
// (frame, label, flow, direction "in" toward the servers or "out").
class CaptureFiles : public FrameSink {
 public:
  explicit CaptureFiles(const std::string& prefix);
  ~CaptureFiles() override;
  void frame(const GeneratedFrame& f) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class FrameList : public FrameSink {
 public:
  std::vector<GeneratedFrame> frames;
  void frame(const GeneratedFrame& f) override { frames.push_back(f); }
};

}  // namespace sipshield
