// Semaphore: an unnamed, process-private POSIX semaphore (sem_t), parking
// the caller through its Parker.
//
// post() is async-signal-safe as sem_post must be: it never waits for the
// list lock. If the lock is held -- possibly by the very code the signal
// interrupted -- the wake-up is left in the lock word, and whoever holds the
// lock does it when releasing.
//
// Layout: fits over sem_t (32 bytes). There is no static initializer, so the
// word at offset 8 (glibc's `private`: 0 or 128 in glibc's semaphores,
// sem_open's included) holds kMagic in ours: that is how the shim tells them
// apart.
#pragma once
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>

#include "clock.h"
#include "wait_list.h"

namespace cohook {

class Semaphore {
 public:
  static constexpr uint32_t kMagic = 0x6d736b63;  // "ckms"
  static constexpr size_t kMagicOffset = 8;
  static constexpr uint32_t kMax = INT_MAX;       // SEM_VALUE_MAX

  explicit Semaphore(uint32_t value) : value_(value) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  // sem_init: EINVAL above kMax.
  static int init_at(void* storage, uint32_t value, Semaphore** out = nullptr);
  static bool is_ours(const void* storage) {
    uint32_t m;
    __builtin_memcpy(&m, static_cast<const char*>(storage) + kMagicOffset, sizeof m);
    return m == kMagic;
  }

  bool try_wait() {
    uint32_t v = value_.load(std::memory_order_relaxed);
    while (v)
      if (value_.compare_exchange_weak(v, v - 1, std::memory_order_acquire)) return true;
    return false;
  }
  // 0, ETIMEDOUT, EINTR: the caller's Parker got a hard interrupt while it
  // waited -- a handler installed without SA_RESTART ran, or a cancellation
  // request. With SA_RESTART the wait goes on, as glibc's does on Linux,
  // whose futex wait is restarted then. The caller clears stale marks
  // beforehand (Parker::begin_interruptible).
  int wait_until(Deadline deadline);
  int wait() { return wait_until(kForever); }
  // 0 or EOVERFLOW.
  int post();
  int value() const { return int(value_.load(std::memory_order_relaxed)); }
  // sem_destroy: clears the magic (glibc's never fails either).
  void destroy() { magic_ = 0; }

 private:
  // lock_word_: bit 0 the list lock; the rest counts wake-ups left to the holder.
  static constexpr uint32_t kLockBit = 1, kOneWake = 2;
  void lock();
  // Releases the lock, then finishes `c` and the wake-ups left meanwhile.
  void unlock_and_finish(WaitList::Chain& c);
  void unlock() {
    WaitList::Chain none;
    unlock_and_finish(none);
  }
  static void layout_check();

  std::atomic<uint32_t> value_;           // 0
  std::atomic<uint32_t> waiters_{0};      // 4: in wait_until's slow path
  uint32_t magic_ = kMagic;               // 8: glibc's `private`
  std::atomic<uint32_t> lock_word_{0};    // 12
  WaitList list_;                         // 16
};

}  // namespace cohook
