// PosixCond: a condition variable with the behaviour of pthread_cond_t,
// parking the caller through its Parker. It works with any mutex that can be
// released completely and taken back (PosixMutex of any kind, or -- in the
// shim -- a mutex that stays with glibc).
//
// Layout: fits over glibc's pthread_cond_t (48 bytes); all-zero storage is a
// cond on CLOCK_REALTIME. The word at offset 36 is glibc's __wrefs: bit 0
// marks glibc's process-shared conds (never set in ours), bit 1 is the
// clock, as in glibc.
//
// Destroying right after a broadcast, with woken waiters not yet returned, is
// safe (POSIX's own example): a woken waiter does not touch the cond again,
// and signal/broadcast release it before they finish their wake-ups.
#pragma once
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <type_traits>

#include "clock.h"
#include "posix_mutex.h"
#include "spinlock.h"
#include "wait_list.h"

namespace cohook {

class PosixCond {
 public:
  static constexpr size_t kFlagsOffset = 36;
  static constexpr uint32_t kGlibcSharedBit = 1, kMonotonicBit = 2;

  PosixCond() = default;
  explicit PosixCond(clockid_t clock) : flags_(clock == CLOCK_MONOTONIC ? kMonotonicBit : 0) {}
  PosixCond(const PosixCond&) = delete;
  PosixCond& operator=(const PosixCond&) = delete;

  static PosixCond* init_at(void* storage, clockid_t clock);
  // The clock of pthread_cond_timedwait's absolute time.
  clockid_t clock() const { return (flags_ & kMonotonicBit) ? CLOCK_MONOTONIC : CLOCK_REALTIME; }

  // Release m, wait for a signal or the deadline, take m back. 0, ETIMEDOUT,
  // or the error of releasing m (EPERM: not its owner), in which case the
  // caller did not wait. May return 0 spuriously, as pthread_cond_wait --
  // among others when the caller's Parker gets a hard interrupt (a
  // cancellation request): the caller clears stale marks beforehand
  // (Parker::begin_interruptible) and looks at why afterwards.
  // M: release_for_wait(uint32_t&) -> 0 or error; reacquire(uint32_t) -> an
  // error to report (glibc robust mutexes: EOWNERDEAD) or 0.
  template <class M>
  int wait_until(M& m, Deadline deadline) {
    WaitNode* node = enqueue();
    uint32_t saved;
    if (int e = m.release_for_wait(saved)) {
      cancel(node);
      return e;
    }
    bool signaled = await(node, deadline);
    int r = int(reacquire_of(m, saved));
    if (r) return r;
    return signaled ? 0 : ETIMEDOUT;
  }
  int wait(PosixMutex& m) { return wait_until(m, kForever); }

  void signal();
  void broadcast();
  // pthread_cond_destroy: 0 (glibc never fails it); EBUSY if someone still
  // waits (glibc would then block; we say so instead).
  int destroy() const { return waiters_count_.load(std::memory_order_acquire) ? EBUSY : 0; }
  bool has_waiters() const { return waiters_count_.load(std::memory_order_relaxed) != 0; }

 private:
  WaitNode* enqueue();
  // true if signaled; false at the deadline. Never touches the cond after a
  // signal.
  bool await(WaitNode* node, Deadline deadline);
  // Leave without having waited; a signal taken meanwhile is passed on.
  void cancel(WaitNode* node);
  template <class M>
  static auto reacquire_of(M& m, uint32_t saved) {
    if constexpr (std::is_void_v<decltype(m.reacquire(saved))>) {
      m.reacquire(saved);
      return 0;
    } else {
      return m.reacquire(saved);
    }
  }
  static void layout_check();

  WaitList waiters_;                         // 0
  std::atomic<uint32_t> waiters_count_{0};   // 16: lets signal skip the lock when nobody waits
  SpinLock lock_;                            // 20
  uint32_t unused_[3] = {};                  // 24
  uint32_t flags_ = 0;                       // 36: glibc's __wrefs
  uint32_t unused2_[2] = {};                 // 40
};

}  // namespace cohook
