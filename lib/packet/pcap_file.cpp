#include "packet/pcap_file.hpp"

#include <pcap/pcap.h>

#include <fmt/format.h>

namespace sipshield {

PcapWriter::PcapWriter(const std::filesystem::path& file) {
  handle_ = pcap_open_dead(DLT_EN10MB, 65535);
  if (!handle_) throw PcapError("pcap_open_dead failed");
  dumper_ = pcap_dump_open(handle_, file.c_str());
  if (!dumper_) {
    std::string error = pcap_geterr(handle_);
    pcap_close(handle_);
    throw PcapError(fmt::format("cannot write {}: {}", file.string(), error));
  }
}

PcapWriter::~PcapWriter() {
  pcap_dump_close(dumper_);
  pcap_close(handle_);
}

void PcapWriter::write(uint64_t time_us, std::span<const uint8_t> frame) {
  pcap_pkthdr header{};
  header.ts.tv_sec = static_cast<time_t>(time_us / 1'000'000);
  header.ts.tv_usec = static_cast<suseconds_t>(time_us % 1'000'000);
  header.caplen = header.len = static_cast<bpf_u_int32>(frame.size());
  pcap_dump(reinterpret_cast<u_char*>(dumper_), &header, frame.data());
}

void PcapWriter::flush() {
  pcap_dump_flush(dumper_);
}

PcapReader::PcapReader(const std::filesystem::path& file) : file_(file.string()) {
  char error[PCAP_ERRBUF_SIZE];
  handle_ = pcap_open_offline(file.c_str(), error);
  if (!handle_) throw PcapError(fmt::format("cannot read {}: {}", file.string(), error));
  if (const int link = pcap_datalink(handle_); link != DLT_EN10MB) {
    pcap_close(handle_);
    throw PcapError(fmt::format("{}: link type {} is not Ethernet", file.string(), link));
  }
}

PcapReader::~PcapReader() {
  pcap_close(handle_);
}

bool PcapReader::next(CapturedFrame& frame) {
  pcap_pkthdr* header;
  const u_char* data;
  const int rc = pcap_next_ex(handle_, &header, &data);
  if (rc == PCAP_ERROR_BREAK) return false;
  if (rc != 1) {
    // libpcap: "truncated dump file; tried to read 1500 captured bytes, only got 200".
    const std::string error = pcap_geterr(handle_);
    const bool truncated = error.starts_with("truncated");
    throw PcapDamaged(fmt::format("{}: frame {} is {} (damaged capture)", file_, frames_ + 1,
                                  truncated ? "truncated" : "unreadable: " + error),
                      frames_ + 1);
  }
  ++frames_;
  frame.time_us = uint64_t(header->ts.tv_sec) * 1'000'000 + uint64_t(header->ts.tv_usec);
  frame.bytes.assign(data, data + header->caplen);
  return true;
}

std::vector<CapturedFrame> read_pcap(const std::filesystem::path& file) {
  PcapReader reader(file);
  std::vector<CapturedFrame> frames;
  CapturedFrame frame;
  while (reader.next(frame)) frames.push_back(frame);
  return frames;
}

}  // namespace sipshield
