#include "dataplane/eal.hpp"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string_view>

#include <fmt/format.h>

namespace sipshield {

namespace {

// Hugepages usable by EAL: some reserved (any page size) and a hugetlbfs mounted.
bool hugepages_available() {
  uint64_t reserved = 0;
  std::error_code ec;
  for (const auto& size : std::filesystem::directory_iterator("/sys/kernel/mm/hugepages", ec)) {
    std::ifstream in(size.path() / "nr_hugepages");
    uint64_t pages = 0;
    if (in >> pages) reserved += pages;
  }
  std::ifstream mounts("/proc/mounts");
  bool mounted = false;
  for (std::string line; std::getline(mounts, line);)
    mounted = mounted || line.find(" hugetlbfs ") != std::string::npos;
  return reserved > 0 && mounted;
}

// What to do about the usual failures; EAL's own reason is on stderr above, and its rte_errno
// (EACCES for both) does not tell them apart.
std::string eal_hint(const std::vector<std::string>& args) {
  const auto given = [&](std::string_view option) {
    return std::find(args.begin(), args.end(), option) != args.end();
  };
  if (!given("--no-huge") && !hugepages_available())
    return "; this machine has no hugepages reserved and mounted: give EAL --no-huge -m 512 "
           "(EAL options go before --), or reserve some (dpdk-hugepages.py --setup 1G)";
  if ((rte_errno == EACCES || rte_errno == EPERM) && geteuid() != 0)
    return "; run as root, or give EAL --no-shconf (and --no-huge -m 512 without hugepages)";
  return "";
}

}  // namespace

Eal::Eal(const std::vector<std::string>& args) {
  std::vector<std::string> copy = args;  // rte_eal_init may permute argv
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (rte_eal_init(static_cast<int>(copy.size()), argv.data()) < 0) {
    std::string joined;
    for (size_t i = 1; i < args.size(); ++i) joined += " " + args[i];
    throw DataplaneError(fmt::format("EAL initialisation failed: {} (EAL args:{}){}",
                                     rte_strerror(rte_errno), joined.empty() ? " none" : joined,
                                     eal_hint(args)));
  }
}

Eal::~Eal() {
  rte_eal_cleanup();
}

Mempool::Mempool(const std::string& name, uint32_t mbufs, uint16_t cache, uint16_t data_room,
                 int socket) {
  pool_ = rte_pktmbuf_pool_create(name.c_str(), mbufs, cache, 0, data_room, socket);
  if (!pool_)
    throw DataplaneError(fmt::format("cannot create mbuf pool {} ({} mbufs of {} bytes): {}", name,
                                     mbufs, data_room, rte_strerror(rte_errno)));
}

Mempool::~Mempool() {
  rte_mempool_free(pool_);
}

uint16_t data_room_for_mtu(uint16_t mtu) {
  const unsigned frame = mtu + 14u + 2 * 4u;  // Ethernet header and two VLAN tags
  return static_cast<uint16_t>(
      std::max<unsigned>(RTE_MBUF_DEFAULT_BUF_SIZE, frame + RTE_PKTMBUF_HEADROOM));
}

int register_timestamp_field() {
  int offset = -1;
  uint64_t flag = 0;
  if (rte_mbuf_dyn_rx_timestamp_register(&offset, &flag) != 0)
    throw DataplaneError(
        fmt::format("cannot register the rx timestamp mbuf field: {}", rte_strerror(rte_errno)));
  return offset;
}

}  // namespace sipshield
