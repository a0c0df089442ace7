// StackPool: coroutine stacks from mmap, each with a guard page below it.
//
// A stack is reserved (MAP_NORESERVE) and committed lazily by the kernel as it
// is touched, so a 128 KiB stack that never goes deeper than 8 KiB costs 8 KiB.
//
// Mappings are the scarce resource: vm.max_map_count (65530 by default) caps
// the VMAs of a process, and a stack whose guard page is made with mprotect is
// two VMAs (the PROT_NONE page splits the mapping), so about 32k stacks. To
// run 100k or 1M parked coroutines on private stacks, on Linux >= 6.13 the
// guard is a guard region (madvise MADV_GUARD_INSTALL): it faults like a
// PROT_NONE page (SIGSEGV, si_addr in the guard, overflow_guard.cpp reports
// it) but lives in the page tables, so it does not split the VMA.
//
// Slabs (guard-region kernels): stacks of the pool's default size are carved
// from slabs, one mmap of up to 64 stacks (at most 64 MiB; 8.3 MiB for 128 KiB
// stacks), grown one whole slab at a time as needed. One slab is one VMA, so
// 100k stacks are at most 100k/64 = 1.6k VMAs (1M: 16k), not 200k; in
// practice adjacent slabs merge into one VMA (100k stacks: +8). A slab stack
// is never unmapped on its own: release() keeps the first `hot_cache` with
// their pages (fast reuse), gives the pages of the next `cold_cache` back with
// MADV_DONTNEED, and puts the rest, also MADV_DONTNEED'd, on a free list. So
// every released stack is reusable and memory beyond the hot cache goes back
// to the kernel; only the address space stays, until ~StackPool unmaps the
// slabs. (Guard regions survive MADV_DONTNEED.) Slab stacks therefore must not
// outlive their pool, and release() is the only way to give one back.
//
// Older kernels (and emulators such as qemu-user, which accept the madvise
// without doing anything): detected once per process, by checking that the
// kernel really faults on a probe guard. Then every stack is its own mapping
// with an mprotect guard, two VMAs, as before: released default-size stacks
// go hot, then cold, then are unmapped.
//
// Stacks of other sizes (acquire(out, size)) and Scheduler's shared-stack
// slots are one mapping each (map_stack); with guard regions that is one VMA.
// Released stacks of other sizes are kept with their pages, up to
// kSizedCacheStacks of them (no more than hot_cache) and `sized_cache_bytes`,
// for an acquire of the same size: a program that asks every thread for, say,
// 256 KiB (tinyproxy) would otherwise mmap and munmap a stack per connection,
// and each munmap takes the process's mmap lock for writing (other carriers'
// page faults wait) -- glibc keeps released thread stacks of any size too.
//
// When mmap (or the guard) fails, acquire() returns false with errno = EAGAIN
// -- the same error pthread_create gives when it runs out of resources -- and
// nothing leaks.
//
// Not thread-safe: the caller serialises (one pool per carrier thread).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace cohook {

struct Stack {
  char* base = nullptr;   // lowest address of the stack (its guard page)
  size_t mapped = 0;      // guard + usable
  size_t guard = 0;
  unsigned valgrind_id = 0;  // valgrind's handle, when running under it
  bool in_slab = false;   // part of a StackPool slab: only release() returns it

  char* top() const { return base + mapped; }
  char* limit() const { return base + guard; }      // lowest usable byte
  size_t usable() const { return mapped - guard; }
  bool valid() const { return base != nullptr; }
  // True if a fault at addr is an overflow of this stack: in the guard page or
  // a little below it (a large frame can jump over the guard).
  bool overflow_hit(const void* addr) const;
};

size_t page_size();
// Round a requested stack size up to whole pages, within [16 KiB, 1 GiB].
size_t normalize_stack_size(size_t bytes);

class StackPool {
 public:
  struct Options {
    size_t stack_size = 128 * 1024;
    size_t hot_cache = 64;
    size_t cold_cache = 1024;
    size_t sized_cache_bytes = 16 << 20;  // usable bytes of other-size stacks kept
  };
  static constexpr size_t kSizedCacheStacks = 32;
  struct Stats {
    uint64_t maps = 0;        // mmap calls made (a slab is one)
    uint64_t unmaps = 0;      // releases past both caches (unmapped, or to the slab free list)
    uint64_t reuses = 0;      // acquires served from the caches or the free list
    size_t cached_hot = 0;
    size_t cached_cold = 0;
    size_t cached_free = 0;   // released slab stacks beyond the caches (pages returned)
    size_t in_use = 0;
    size_t slabs = 0;         // slabs mapped (each one VMA)
  };

  StackPool() : StackPool(Options{}) {}
  explicit StackPool(Options o);
  ~StackPool();  // unmaps the slabs: every slab stack must be released first
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  // A stack with at least `size` usable bytes (0 = the pool's default).
  // false + errno (EAGAIN when the kernel refuses another mapping).
  bool acquire(Stack& out, size_t size = 0);
  void release(Stack& s);

  size_t default_size() const { return opt_.stack_size; }
  size_t stacks_per_slab() const { return per_slab_; }
  const Stats& stats() const { return stats_; }

  // Map/unmap one stack, bypassing any cache. unmap_stack on a slab stack only
  // drops its annotations and clears `s`: the slot stays unused until the pool
  // is destroyed (give slab stacks back with release()).
  static bool map_stack(Stack& out, size_t usable);
  static void unmap_stack(Stack& s);

  // Process-wide, for COHOOK_STATS (every pool and map_stack):
  // reserved: address space mapped for stacks, guards and unused slab room
  //   included;
  // committed: usable bytes of stacks handed out or in a hot cache -- the
  //   pool's own accounting of what it has not given back (MADV_DONTNEED or
  //   munmap). The kernel backs only the pages a stack touched, so this is an
  //   upper bound of stack memory in RSS, not a measurement.
  static uint64_t reserved_bytes();
  static uint64_t committed_bytes();

  // True if guards are guard regions (and default-size stacks come from
  // slabs); false on kernels without MADV_GUARD_INSTALL. Probed once.
  static bool guard_regions();
  // Tests: behave as on an old kernel (mprotect guards, no new slabs).
  static void force_legacy_guards_for_tests(bool on);

 private:
  bool carve(Stack& out);  // the next fresh stack from a slab

  Options opt_;
  Stats stats_;
  size_t slot_ = 0;       // guard + stack, bytes
  size_t per_slab_ = 0;
  std::vector<Stack> hot_;
  std::vector<Stack> cold_;
  std::vector<Stack> free_;  // slab stacks only
  Stack sized_[kSizedCacheStacks];  // released stacks of other sizes (a fixed array: release never allocates)
  size_t sized_count_ = 0, sized_bytes_ = 0;
  struct Slab {
    char* base;
    size_t bytes;
  };
  std::vector<Slab> slabs_;
  size_t carved_ = 0;     // stacks handed out from slabs_.back()
};

}  // namespace cohook
