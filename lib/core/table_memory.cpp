#include "core/table_memory.hpp"

#include <rte_malloc.h>
#include <rte_memory.h>

#include <atomic>
#include <cstdlib>

namespace sipshield::table_memory {
namespace {

std::atomic<bool> hugepages_on{false};
thread_local int table_socket = SOCKET_ID_ANY;
std::atomic<uint64_t> hugepage_bytes{0};
std::atomic<uint64_t> heap_bytes{0};

}  // namespace

void use_hugepages(bool on) {
  hugepages_on.store(on, std::memory_order_relaxed);
}

OnSocket::OnSocket(int socket) : previous_(table_socket) {
  table_socket = socket;
}
OnSocket::~OnSocket() {
  table_socket = previous_;
}

Usage usage() {
  return {hugepage_bytes.load(std::memory_order_relaxed),
          heap_bytes.load(std::memory_order_relaxed)};
}

Placement current_placement() {
  return {hugepages_on.load(std::memory_order_relaxed), table_socket};
}

void* allocate(size_t bytes, Placement where) {
  if (bytes == 0) bytes = 1;
  void* p;
  if (where.hugepages) {
    // Cache-line aligned, zeroed; a table that does not fit is an error at start, not a
    // fallback to small pages the operator did not ask for.
    p = rte_zmalloc_socket("sipshield_table", bytes, RTE_CACHE_LINE_SIZE, where.socket);
    if (p) hugepage_bytes.fetch_add(bytes, std::memory_order_relaxed);
  } else {
    p = std::aligned_alloc(RTE_CACHE_LINE_SIZE,
                           (bytes + RTE_CACHE_LINE_SIZE - 1) & ~size_t{RTE_CACHE_LINE_SIZE - 1});
    if (p) heap_bytes.fetch_add(bytes, std::memory_order_relaxed);
  }
  if (!p) throw std::bad_alloc();
  return p;
}

void release(void* p, size_t bytes, Placement where) {
  if (!p) return;
  if (bytes == 0) bytes = 1;
  if (where.hugepages) {
    rte_free(p);
    hugepage_bytes.fetch_sub(bytes, std::memory_order_relaxed);
  } else {
    std::free(p);
    heap_bytes.fetch_sub(bytes, std::memory_order_relaxed);
  }
}

}  // namespace sipshield::table_memory
