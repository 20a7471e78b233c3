// Where the per-worker tables (sources, dialogs, reassembly, familiar prefixes, AORs) get their
// memory: DPDK hugepage memory on the worker's NUMA node when the EAL runs with hugepages (2 MiB
// pages: tables of millions of entries then cost few TLB misses, and the memory is local to the
// worker's core), else the ordinary heap (--no-huge, unit tests, tools). Allocated once at start,
// never on the fast path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <vector>

namespace sipshield {
namespace table_memory {

// The daemon, after rte_eal_init: tables built from now on may go to hugepages (when `on`).
void use_hugepages(bool on);

// While alive, tables built on this thread go to `socket` (the worker's NUMA node).
class OnSocket {
 public:
  explicit OnSocket(int socket);
  ~OnSocket();
  OnSocket(const OnSocket&) = delete;
  OnSocket& operator=(const OnSocket&) = delete;

 private:
  int previous_;
};

// Bytes of table memory in use, by kind, over the whole process.
struct Usage {
  uint64_t hugepage_bytes = 0;
  uint64_t heap_bytes = 0;
};
Usage usage();

// Where the next table would go (captured by each allocator when it is made).
struct Placement {
  bool hugepages = false;
  int socket = -1;  // SOCKET_ID_ANY
  bool operator==(const Placement&) const = default;
};
Placement current_placement();
void* allocate(size_t bytes, Placement where);
void release(void* p, size_t bytes, Placement where);

}  // namespace table_memory

// A std::vector allocator for the tables: the placement is fixed when the table is built.
template <class T>
class TableAllocator {
 public:
  using value_type = T;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_copy_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;

  TableAllocator() : where_(table_memory::current_placement()) {}
  template <class U>
  TableAllocator(const TableAllocator<U>& other) : where_(other.placement()) {}

  T* allocate(size_t n) { return static_cast<T*>(table_memory::allocate(n * sizeof(T), where_)); }
  void deallocate(T* p, size_t n) { table_memory::release(p, n * sizeof(T), where_); }
  table_memory::Placement placement() const { return where_; }
  template <class U>
  bool operator==(const TableAllocator<U>& other) const {
    return where_ == other.placement();
  }

 private:
  table_memory::Placement where_;
};

// A table's storage: allocated once when the table is built, placed as above.
template <class T>
using TableVector = std::vector<T, TableAllocator<T>>;

}  // namespace sipshield
