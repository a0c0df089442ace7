#include "posix_cond.h"

#include <new>

#include "park_stats.h"

namespace cohook {

void PosixCond::layout_check() {
  static_assert(std::is_standard_layout_v<PosixCond>);
  static_assert(offsetof(PosixCond, flags_) == kFlagsOffset);
  static_assert(sizeof(PosixCond) == 48 && alignof(PosixCond) == 8);
}

PosixCond* PosixCond::init_at(void* storage, clockid_t clock) { return new (storage) PosixCond(clock); }

WaitNode* PosixCond::enqueue() {
  WaitNode* node = &Parker::current()->node();
  SpinGuard g(lock_);
  waiters_.push(node);
  waiters_count_.fetch_add(1, std::memory_order_relaxed);
  return node;
}

bool PosixCond::await(WaitNode* node, Deadline deadline) {
  Parker* me = node->parker;
  count_park(ParkReason::Cond);
  for (;;) {
    bool in_time = me->park_until(deadline);
    if (!node->queued.load(std::memory_order_acquire)) return true;  // signaled; the cond may be gone
    // A hard interrupt (a cancellation request, a handler without
    // SA_RESTART) ends the wait as a spurious wake-up, which POSIX allows.
    bool interrupted = me->take_interrupt() == Parker::Interrupt::Hard;
    lock_.lock();
    if (!waiters_.linked(node)) {  // signaled, the signaler still finishing
      lock_.unlock();
      WaitList::await_finish(node);
      return true;
    }
    if (!in_time || interrupted) {
      waiters_.remove_self(node);
      waiters_count_.fetch_sub(1, std::memory_order_relaxed);
      lock_.unlock();
      return interrupted;
    }
    lock_.unlock();  // spurious
  }
}

void PosixCond::cancel(WaitNode* node) {
  lock_.lock();
  if (waiters_.linked(node)) {
    waiters_.remove_self(node);
    waiters_count_.fetch_sub(1, std::memory_order_relaxed);
    lock_.unlock();
    return;
  }
  lock_.unlock();
  WaitList::await_finish(node);
  signal();  // the signal we took was meant for a waiter
}

void PosixCond::signal() {
  // Nobody waits: nothing to do and nothing written (a waiter that already
  // returned may be destroying the cond).
  if (!waiters_count_.load(std::memory_order_relaxed)) return;
  lock_.lock();
  WaitNode* w = waiters_.pop();
  if (w) waiters_count_.fetch_sub(1, std::memory_order_relaxed);
  lock_.unlock();
  if (w) WaitList::finish(w);
}

void PosixCond::broadcast() {
  if (!waiters_count_.load(std::memory_order_relaxed)) return;
  WaitList::Chain woken;
  lock_.lock();
  waiters_.pop_all(woken);
  waiters_count_.store(0, std::memory_order_relaxed);
  lock_.unlock();
  WaitList::finish(woken);
}

}  // namespace cohook
