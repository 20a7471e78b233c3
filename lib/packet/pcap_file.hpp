// Classic pcap files (Ethernet, microsecond timestamps) through libpcap: the format net_pcap,
// tcpdump, tshark and tcpreplay all read.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

struct pcap;
struct pcap_dumper;

namespace sipshield {

struct CapturedFrame {
  uint64_t time_us = 0;
  std::vector<uint8_t> bytes;
};

class PcapError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A record that ends early or makes no sense: every frame before it was read whole.
class PcapDamaged : public PcapError {
 public:
  PcapDamaged(const std::string& message, uint64_t frame) : PcapError(message), frame_(frame) {}
  uint64_t frame() const { return frame_; }  // the damaged frame's number, from 1

 private:
  uint64_t frame_;
};

class PcapWriter {
 public:
  explicit PcapWriter(const std::filesystem::path& file);
  ~PcapWriter();
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  void write(uint64_t time_us, std::span<const uint8_t> frame);
  void flush();

 private:
  pcap* handle_ = nullptr;
  pcap_dumper* dumper_ = nullptr;
};

class PcapReader {
 public:
  explicit PcapReader(const std::filesystem::path& file);
  ~PcapReader();
  PcapReader(const PcapReader&) = delete;
  PcapReader& operator=(const PcapReader&) = delete;

  // Next frame, or false at the end of the file. Throws PcapDamaged naming the file and frame.
  bool next(CapturedFrame& frame);

 private:
  pcap* handle_ = nullptr;
  std::string file_;
  uint64_t frames_ = 0;  // read so far
};

std::vector<CapturedFrame> read_pcap(const std::filesystem::path& file);

}  // namespace sipshield
