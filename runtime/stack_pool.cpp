#include "stack_pool.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sanitizers.h"

namespace cohook {

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

bool StackPool::map_stack(Stack& out, size_t usable) {
  out = Stack{};
  const size_t guard = page_size();
  const size_t total = usable + guard;
  void* p = mmap(nullptr, total, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (p == MAP_FAILED) {
    errno = EAGAIN;
    return false;
  }
  if (mprotect(p, guard, PROT_NONE) != 0) {  // fails with ENOMEM at max_map_count
    munmap(p, total);
    errno = EAGAIN;
    return false;
  }
  out.base = static_cast<char*>(p);
  out.mapped = total;
  out.guard = guard;
  asan_unpoison(out.limit(), out.usable());  // the address may have held an old stack
  valgrind_stack_register(out);
  return true;
}

void StackPool::unmap_stack(Stack& s) {
  if (!s.base) return;
  valgrind_stack_deregister(s);
  asan_unpoison(s.limit(), s.usable());
  munmap(s.base, s.mapped);
  s = Stack{};
}

StackPool::StackPool(Options o) : opt_(o) {
  opt_.stack_size = normalize_stack_size(opt_.stack_size);
}

StackPool::~StackPool() {
  for (auto& s : hot_) unmap_stack(s);
  for (auto& s : cold_) unmap_stack(s);
}

bool StackPool::acquire(Stack& out, size_t size) {
  size = size ? normalize_stack_size(size) : opt_.stack_size;
  if (size == opt_.stack_size) {
    auto& from = !hot_.empty() ? hot_ : cold_;
    if (!from.empty()) {
      out = from.back();
      from.pop_back();
      asan_unpoison(out.limit(), out.usable());
      stats_.reuses++;
      stats_.in_use++;
      stats_.cached_hot = hot_.size();
      stats_.cached_cold = cold_.size();
      return true;
    }
  }
  if (!map_stack(out, size)) return false;
  stats_.maps++;
  stats_.in_use++;
  return true;
}

void StackPool::release(Stack& s) {
  if (!s.base) return;
  stats_.in_use--;
  if (s.usable() == opt_.stack_size) {
    if (hot_.size() < opt_.hot_cache) {
      hot_.push_back(s);
      s = Stack{};
      stats_.cached_hot = hot_.size();
      return;
    }
    if (cold_.size() < opt_.cold_cache) {
      madvise(s.limit(), s.usable(), MADV_DONTNEED);
      cold_.push_back(s);
      s = Stack{};
      stats_.cached_cold = cold_.size();
      return;
    }
  }
  unmap_stack(s);
  stats_.unmaps++;
}

}  // namespace cohook
