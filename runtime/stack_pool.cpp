#include "stack_pool.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <new>

#include "sanitizers.h"

// Linux 6.13 (older headers lack them).
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

namespace cohook {

namespace {
constexpr size_t kMaxSlabStacks = 64;
constexpr size_t kMaxSlabBytes = size_t(64) << 20;

enum GuardMode : int { kUnknown, kRegions, kMprotect };
std::atomic<int> g_guard_mode{kUnknown};
std::atomic<bool> g_force_legacy{false};

void* map_anon(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

// Does MADV_GUARD_INSTALL work here? Its return value alone does not tell:
// qemu-user (7.2 at least) takes unknown advice as a hint, returns 0 and
// installs nothing. Populating a real guard region fails with EFAULT.
GuardMode probe_guard_regions() {
  const int saved = errno;
  const size_t p = page_size();
  void* m = map_anon(2 * p);
  if (!m) {
    errno = saved;
    return kUnknown;  // no room to look: ask again next time
  }
  bool ok = madvise(m, p, MADV_GUARD_INSTALL) == 0 &&
            madvise(m, p, MADV_POPULATE_READ) != 0 && errno == EFAULT;
  munmap(m, 2 * p);
  errno = saved;
  return ok ? kRegions : kMprotect;
}

// A stack handed out or given back: clear ASan's poison of frames a previous
// user (or an old mapping at this address) left behind. Checked first because
// clearing writes the shadow, 1/8 of the stack, and a fresh slab stack is
// almost always clean (100k stacks: 1.7 GB of shadow otherwise).
void unpoison(void* p, size_t n) {
#ifdef COHOOK_ASAN
  if (__asan_region_is_poisoned(p, n)) asan_unpoison(p, n);
#else
  (void)p, (void)n;
#endif
}
void unpoison(const Stack& s) { unpoison(s.limit(), s.usable()); }

std::atomic<uint64_t> g_reserved{0};
std::atomic<uint64_t> g_committed{0};
void add(std::atomic<uint64_t>& c, size_t n) { c.fetch_add(n, std::memory_order_relaxed); }
void sub(std::atomic<uint64_t>& c, size_t n) { c.fetch_sub(n, std::memory_order_relaxed); }

// The guard below a freshly mapped stack at `base`.
bool install_guard(char* base) {
  if (StackPool::guard_regions() && madvise(base, page_size(), MADV_GUARD_INSTALL) == 0) return true;
  return mprotect(base, page_size(), PROT_NONE) == 0;  // ENOMEM at max_map_count
}
}  // namespace

size_t page_size() {
  static const size_t p = size_t(sysconf(_SC_PAGESIZE));
  return p;
}

size_t normalize_stack_size(size_t bytes) {
  const size_t lo = 16 * 1024, hi = size_t(1) << 30;
  if (bytes < lo) bytes = lo;
  if (bytes > hi) bytes = hi;
  const size_t p = page_size();
  return (bytes + p - 1) / p * p;
}

bool Stack::overflow_hit(const void* addr) const {
  if (!base) return false;
  auto a = reinterpret_cast<uintptr_t>(addr);
  auto lo = reinterpret_cast<uintptr_t>(base);
  const uintptr_t slack = 64 * 1024;  // frames larger than the guard
  return a < lo + guard && a + slack >= lo;
}

bool StackPool::guard_regions() {
  if (g_force_legacy.load(std::memory_order_relaxed)) return false;
  int m = g_guard_mode.load(std::memory_order_relaxed);
  if (m == kUnknown) {
    m = probe_guard_regions();  // two threads may both probe: same answer
    if (m != kUnknown) g_guard_mode.store(m, std::memory_order_relaxed);
  }
  return m == kRegions;
}

void StackPool::force_legacy_guards_for_tests(bool on) { g_force_legacy.store(on); }

uint64_t StackPool::reserved_bytes() { return g_reserved.load(std::memory_order_relaxed); }
uint64_t StackPool::committed_bytes() { return g_committed.load(std::memory_order_relaxed); }

bool StackPool::map_stack(Stack& out, size_t usable) {
  out = Stack{};
  const size_t guard = page_size();
  const size_t total = usable + guard;
  auto* p = static_cast<char*>(map_anon(total));
  if (!p) {
    errno = EAGAIN;
    return false;
  }
  if (!install_guard(p)) {
    munmap(p, total);
    errno = EAGAIN;
    return false;
  }
  out.base = p;
  out.mapped = total;
  out.guard = guard;
  unpoison(out);  // the address may have held an old stack
  valgrind_stack_register(out);
  add(g_reserved, total);
  add(g_committed, usable);
  return true;
}

void StackPool::unmap_stack(Stack& s) {
  if (!s.base) return;
  valgrind_stack_deregister(s);
  unpoison(s);
  sub(g_committed, s.usable());
  if (!s.in_slab) {
    munmap(s.base, s.mapped);  // a slab is unmapped whole, by its pool
    sub(g_reserved, s.mapped);
  }
  s = Stack{};
}

StackPool::StackPool(Options o) : opt_(o) {
  opt_.stack_size = normalize_stack_size(opt_.stack_size);
  slot_ = page_size() + opt_.stack_size;
  per_slab_ = std::clamp(kMaxSlabBytes / slot_, size_t(1), kMaxSlabStacks);
}

StackPool::~StackPool() {
  for (size_t i = 0; i < sized_count_; i++) unmap_stack(sized_[i]);
  for (auto* v : {&hot_, &cold_, &free_})
    for (auto& s : *v) {
      if (v != &hot_) add(g_committed, s.usable());  // uncounted when its pages went back
      unmap_stack(s);
    }
  for (auto& sl : slabs_) {
    unpoison(sl.base, sl.bytes);
    munmap(sl.base, sl.bytes);
    sub(g_reserved, sl.bytes);
  }
}

bool StackPool::carve(Stack& out) {
  if (slabs_.empty() || carved_ == per_slab_) {
    // Room on the free list for every slab stack, so that release() never
    // allocates: released slab stacks keep their address space, which may be
    // all there is (RLIMIT_AS, or a full vm.max_map_count for malloc's mmap).
    const size_t all = (slabs_.size() + 1) * per_slab_;
    try {
      if (free_.capacity() < all) free_.reserve(std::max(all, 2 * free_.capacity()));
      slabs_.reserve(slabs_.size() + 1);
    } catch (const std::bad_alloc&) {
      return false;
    }
    const size_t bytes = slot_ * per_slab_;
    auto* p = static_cast<char*>(map_anon(bytes));
    if (!p) return false;
    slabs_.push_back({p, bytes});
    add(g_reserved, bytes);
    carved_ = 0;
    stats_.maps++;
    stats_.slabs = slabs_.size();
  }
  // Guards go in as stacks are handed out, so a slab costs nothing up front.
  char* base = slabs_.back().base + carved_ * slot_;
  if (madvise(base, page_size(), MADV_GUARD_INSTALL) != 0) {
    // Refused after the probe worked (mlockall'd memory, say): mprotect
    // guards from now on.
    g_guard_mode.store(kMprotect, std::memory_order_relaxed);
    return false;
  }
  carved_++;
  out = Stack{};
  out.base = base;
  out.mapped = slot_;
  out.guard = page_size();
  out.in_slab = true;
  unpoison(out);  // the address may have held an old stack
  valgrind_stack_register(out);
  add(g_committed, out.usable());
  return true;
}

bool StackPool::acquire(Stack& out, size_t size) {
  size = size ? normalize_stack_size(size) : opt_.stack_size;
  if (size == opt_.stack_size) {
    auto& from = !hot_.empty() ? hot_ : !cold_.empty() ? cold_ : free_;
    if (!from.empty()) {
      out = from.back();
      from.pop_back();
      if (&from != &hot_) add(g_committed, out.usable());
      unpoison(out);
      stats_.reuses++;
      stats_.in_use++;
      stats_.cached_hot = hot_.size();
      stats_.cached_cold = cold_.size();
      stats_.cached_free = free_.size();
      return true;
    }
    // A fresh stack from a slab; failing that (no guard regions, or no room
    // for a whole slab), a mapping of its own, which may still fit.
    if (guard_regions() && carve(out)) {
      stats_.in_use++;
      return true;
    }
  }
  for (size_t i = 0; i < sized_count_; i++) {
    if (sized_[i].usable() != size) continue;
    out = sized_[i];
    sized_[i] = sized_[--sized_count_];
    sized_bytes_ -= size;
    unpoison(out);
    stats_.reuses++;
    stats_.in_use++;
    return true;
  }
  if (!map_stack(out, size)) return false;
  stats_.maps++;
  stats_.in_use++;
  return true;
}

void StackPool::release(Stack& s) {
  if (!s.base) return;
  stats_.in_use--;
  if (s.usable() == opt_.stack_size) {  // every slab stack is
    std::vector<Stack>* to = hot_.size() < opt_.hot_cache ? &hot_
                             : cold_.size() < opt_.cold_cache ? &cold_
                             : s.in_slab ? &free_ : nullptr;
    if (to) {
      if (to != &hot_) {
        madvise(s.limit(), s.usable(), MADV_DONTNEED);  // the guard stays
        sub(g_committed, s.usable());
      }
      if (to == &free_) stats_.unmaps++;
      to->push_back(s);
      s = Stack{};
      stats_.cached_hot = hot_.size();
      stats_.cached_cold = cold_.size();
      stats_.cached_free = free_.size();
      return;
    }
  } else if (!s.in_slab && sized_count_ < std::min(kSizedCacheStacks, opt_.hot_cache) &&
             sized_bytes_ + s.usable() <= opt_.sized_cache_bytes) {
    sized_bytes_ += s.usable();
    sized_[sized_count_++] = s;
    s = Stack{};
    return;
  }
  unmap_stack(s);
  stats_.unmaps++;
}

}  // namespace cohook
