#include "futex_table.h"

#include <cerrno>

#include "spinlock.h"
#include "thread.h"
#include "wait_queue.h"

namespace cohook::futex_table {

namespace {
struct Bucket {
  SpinLock lock;
  WaitQueue waiters;
};
constexpr unsigned kBuckets = 256;
Bucket g_buckets[kBuckets];

Bucket& bucket_of(const void* addr) {
  auto a = reinterpret_cast<uintptr_t>(addr);
  return g_buckets[((a >> 2) * 0x9E3779B97F4A7C15ULL) >> 56];
}
}  // namespace

int wait(const std::atomic<uint32_t>* addr, uint32_t expected, Deadline deadline, uint32_t bitset) {
  Parker* me = Parker::current();
  WaitNode& node = me->node();
  Bucket& b = bucket_of(addr);
  {
    SpinGuard g(b.lock);
    if (addr->load(std::memory_order_seq_cst) != expected) return EAGAIN;
    node.key = addr;
    node.bits = bitset;
    b.waiters.push(&node);
  }
  me->begin_interruptible();
  for (;;) {
    bool in_time = me->park_until(deadline);
    Parker::Interrupt why = me->take_interrupt();
    SpinGuard g(b.lock);
    if (!node.queued.load(std::memory_order_relaxed)) return 0;  // woken
    // The kernel restarts FUTEX_WAIT after an SA_RESTART handler (signal(7)).
    if (!in_time || why == Parker::Interrupt::Hard) {
      b.waiters.remove(&node);
      return !in_time ? ETIMEDOUT : EINTR;
    }
  }
}

int wake(const void* addr, int n, uint32_t bitset) {
  if (n <= 0) return 0;
  Bucket& b = bucket_of(addr);
  SpinGuard g(b.lock);
  return b.waiters.wake_matching(n, [&](const WaitNode& w) { return w.key == addr && (w.bits & bitset); });
}

}  // namespace cohook::futex_table
