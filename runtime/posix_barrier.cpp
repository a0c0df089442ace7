#include "posix_barrier.h"

#include <climits>
#include <new>
#include <type_traits>

#include "park_stats.h"

namespace cohook {

void Barrier::layout_check() {
  static_assert(std::is_standard_layout_v<Barrier>);
  static_assert(offsetof(Barrier, magic_) == kMagicOffset);
  static_assert(sizeof(Barrier) == 32 && alignof(Barrier) == 8);
}

int Barrier::init_at(void* storage, uint32_t count, Barrier** out) {
  if (count == 0 || count > INT_MAX) return EINVAL;
  Barrier* b = new (storage) Barrier(count);
  if (out) *out = b;
  return 0;
}

int Barrier::wait() {
  WaitNode* node = &Parker::current()->node();
  lock_.lock();
  if (++arrived_ < count_) {
    node->queued.store(true, std::memory_order_relaxed);
    node->next = waiting_;
    waiting_ = node;
    uint64_t phase = phases_;
    lock_.unlock();
    // Released by the last arrival's finish(); once `queued` is clear the
    // barrier is not touched again (it may be destroyed when all have left).
    count_park(ParkReason::Cond);  // waiting for the others, as on a condition
    for (;;) {
      node->parker->park();
      if (!node->queued.load(std::memory_order_acquire)) return 0;
      // Early: spurious, or the last arrival is still finishing (then the
      // phase is over and the barrier still alive until it is done).
      lock_.lock();
      bool over = phases_ != phase;
      lock_.unlock();
      if (over) {
        WaitList::await_finish(node);
        return 0;
      }
    }
  }
  WaitList::Chain woken;
  for (WaitNode* n = waiting_; n;) {
    WaitNode* next = n->next;
    woken.add(n);
    n = next;
  }
  waiting_ = nullptr;
  arrived_ = 0;
  ++phases_;
  lock_.unlock();
  WaitList::finish(woken);
  return kSerial;
}

int Barrier::destroy() {
  SpinGuard g(lock_);
  if (arrived_) return EBUSY;
  magic_ = 0;
  return 0;
}

}  // namespace cohook
