// Mutex and CondVar that park the caller instead of blocking its carrier.
//
// They work across carriers and for plain OS threads alike (both park through
// a Parker), which is what the pthread conversion builds on: a coroutine on
// carrier A, a coroutine on carrier B and an offload thread can contend for
// the same lock. Uncontended lock/unlock is one atomic each, like a futex lock.
#pragma once
#include <atomic>
#include <cstdint>

#include "clock.h"
#include "spinlock.h"
#include "wait_queue.h"

namespace cohook {

class Mutex {
 public:
  void lock() { lock_until(kForever); }
  // false if the deadline passed first.
  bool lock_until(Deadline deadline) {
    uint32_t unlocked = 0;
    if (state_.compare_exchange_strong(unlocked, 1, std::memory_order_acquire)) return true;
    return lock_slow(deadline);
  }
  bool try_lock() {
    uint32_t unlocked = 0;
    return state_.compare_exchange_strong(unlocked, 1, std::memory_order_acquire);
  }
  void unlock() {
    if (state_.exchange(0, std::memory_order_release) == 1) return;  // nobody waited
    unlock_slow();
  }
  bool is_locked() const { return state_.load(std::memory_order_relaxed) != 0; }

 private:
  bool lock_slow(Deadline deadline);
  void unlock_slow();
  // 0 unlocked, 1 locked, 2 locked and someone may be waiting.
  std::atomic<uint32_t> state_{0};
  SpinLock lock_;
  WaitQueue waiters_;
};

class CondVar {
 public:
  // Atomically release m and wait; m is held again on return.
  // May wake spuriously, as pthread_cond_wait may.
  void wait(Mutex& m) { wait_until(m, kForever); }
  // false if the deadline passed without a signal.
  bool wait_until(Mutex& m, Deadline deadline);
  void notify_one();
  void notify_all();

 private:
  SpinLock lock_;
  WaitQueue waiters_;
};

}  // namespace cohook
