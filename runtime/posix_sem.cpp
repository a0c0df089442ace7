#include "posix_sem.h"

#include <new>
#include <type_traits>

#include "park_stats.h"

namespace cohook {

void Semaphore::layout_check() {
  static_assert(std::is_standard_layout_v<Semaphore>);
  static_assert(offsetof(Semaphore, magic_) == kMagicOffset);
  static_assert(sizeof(Semaphore) == 32 && alignof(Semaphore) == 8);
}

int Semaphore::init_at(void* storage, uint32_t value, Semaphore** out) {
  if (value > kMax) return EINVAL;
  Semaphore* s = new (storage) Semaphore(value);
  if (out) *out = s;
  return 0;
}

void Semaphore::lock() {
  uint32_t w = lock_word_.load(std::memory_order_relaxed);
  for (;;) {
    if (!(w & kLockBit)) {
      if (lock_word_.compare_exchange_weak(w, w | kLockBit, std::memory_order_acquire)) return;
    } else {
#if defined(__x86_64__)
      __builtin_ia32_pause();
#elif defined(__aarch64__)
      asm volatile("yield");
#endif
      w = lock_word_.load(std::memory_order_relaxed);
    }
  }
}

void Semaphore::unlock_and_finish(WaitList::Chain& c) {
  uint32_t w = lock_word_.load(std::memory_order_acquire);
  for (;;) {
    if (w == kLockBit) {
      if (lock_word_.compare_exchange_weak(w, 0, std::memory_order_release)) break;
    } else if (lock_word_.compare_exchange_weak(w, kLockBit, std::memory_order_acquire)) {
      // Posts that found the lock held left their wake-ups to us.
      for (uint32_t n = w / kOneWake; n; --n) c.add(list_.pop());
      w = kLockBit;
    }
  }
  WaitList::finish(c);
}

int Semaphore::wait_until(Deadline deadline) {
  if (try_wait()) return 0;
  Parker* me = Parker::current();
  WaitNode* node = &me->node();
  // Announced before looking at the value (both seq_cst), as post increments
  // the value before looking at waiters_: one of the two sees the other.
  waiters_.fetch_add(1, std::memory_order_seq_cst);
  bool timed_out = false, interrupted = false;
  ParkOnce parked(ParkReason::Cond);  // waiting for another thread's post
  int r;
  for (;;) {
    lock();
    if (node->queued.load(std::memory_order_acquire) && !list_.linked(node)) {
      unlock();  // woken by a post still finishing: wait for it
      WaitList::await_finish(node);
      continue;
    }
    uint32_t v = value_.load(std::memory_order_seq_cst);
    while (v && !value_.compare_exchange_weak(v, v - 1, std::memory_order_seq_cst)) {
    }
    if (v || timed_out || interrupted) {
      if (list_.linked(node)) list_.remove_self(node);
      r = v ? 0 : timed_out ? ETIMEDOUT : EINTR;
      break;
    }
    if (!list_.linked(node)) list_.push(node);
    unlock();
    parked.note();
    timed_out = !me->park_until(deadline);
    // As natively: a handler without SA_RESTART ends the wait (EINTR); with
    // it, the futex under sem_wait is restarted, so the wait goes on.
    interrupted = me->take_interrupt() == Parker::Interrupt::Hard;
  }
  waiters_.fetch_sub(1, std::memory_order_relaxed);
  unlock();
  return r;
}

int Semaphore::post() {
  uint32_t v = value_.load(std::memory_order_relaxed);
  do {
    if (v >= kMax) return EOVERFLOW;
  } while (!value_.compare_exchange_weak(v, v + 1, std::memory_order_seq_cst));
  if (waiters_.load(std::memory_order_seq_cst) == 0) return 0;
  // Take the lock only if it is free: a signal handler may have interrupted
  // its holder. Otherwise the holder wakes someone for us when it releases.
  uint32_t w = lock_word_.load(std::memory_order_relaxed);
  for (;;) {
    if (w & kLockBit) {
      if (lock_word_.compare_exchange_weak(w, w + kOneWake, std::memory_order_acq_rel)) return 0;
    } else if (lock_word_.compare_exchange_weak(w, w | kLockBit, std::memory_order_acquire)) {
      break;
    }
  }
  WaitList::Chain c;
  c.add(list_.pop());
  unlock_and_finish(c);
  return 0;
}

}  // namespace cohook
