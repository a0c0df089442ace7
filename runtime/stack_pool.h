// StackPool: coroutine stacks from mmap, with a PROT_NONE guard page below each.
//
// A stack is reserved (MAP_NORESERVE) and committed lazily by the kernel as it
// is touched, so a 128 KiB stack that never goes deeper than 8 KiB costs 8 KiB.
// Released stacks of the pool's default size are kept for reuse: the first
// `hot_cache` keep their pages (fast reuse), the next `cold_cache` are given back
// to the kernel with madvise(MADV_DONTNEED) but keep their mapping, and the rest
// are unmapped.
//
// Mappings: a stack with its guard is two VMAs. vm.max_map_count (65530 by
// default) therefore caps a process near 32k private stacks. When mmap or
// mprotect fails, acquire() returns false with errno = EAGAIN -- the same error
// pthread_create gives when it runs out of resources -- and nothing leaks.
// Shared stacks (see Coroutine) are the answer for more coroutines than that.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace cohook {

struct Stack {
  char* base = nullptr;   // lowest address of the mapping (the guard page)
  size_t mapped = 0;      // guard + usable
  size_t guard = 0;
  unsigned valgrind_id = 0;  // valgrind's handle, when running under it

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
  };
  struct Stats {
    uint64_t maps = 0;        // mmap calls made
    uint64_t unmaps = 0;
    uint64_t reuses = 0;      // acquires served from the cache
    size_t cached_hot = 0;
    size_t cached_cold = 0;
    size_t in_use = 0;
  };

  StackPool() : StackPool(Options{}) {}
  explicit StackPool(Options o);
  ~StackPool();
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  // A stack with at least `size` usable bytes (0 = the pool's default).
  // false + errno (EAGAIN when the kernel refuses another mapping).
  bool acquire(Stack& out, size_t size = 0);
  void release(Stack& s);

  size_t default_size() const { return opt_.stack_size; }
  const Stats& stats() const { return stats_; }

  // Map/unmap one stack, bypassing any cache.
  static bool map_stack(Stack& out, size_t usable);
  static void unmap_stack(Stack& s);

 private:
  Options opt_;
  Stats stats_;
  std::vector<Stack> hot_;
  std::vector<Stack> cold_;
};

}  // namespace cohook
