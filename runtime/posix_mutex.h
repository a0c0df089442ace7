// PosixMutex: a mutex with the kinds and error returns of pthread_mutex_t
// (normal, recursive, errorcheck; adaptive behaves as normal), parking the
// caller through its Parker instead of blocking its carrier.
//
// The owner of a recursive or errorcheck mutex is the caller's identity
// (caller_identity(): the coroutine, or the OS thread on its own stack). A
// normal mutex records no owner (as glibc's it may be unlocked by anyone), so
// its uncontended lock and unlock are one atomic operation each.
//
// Layout: the object fits over glibc's pthread_mutex_t (40 bytes on x86-64,
// 48 on aarch64) and all-zero storage is an unlocked normal mutex. `kind_`
// sits at offset 16, where glibc keeps __kind and where the static
// initializers (PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP...) put the type. An
// unlocked mutex looks to glibc like its own unlocked mutex of that kind.
//
// Wake-ups: unlock wakes the first waiter but does not hand the lock over;
// the woken waiter competes with newcomers (barging, as glibc: no convoys).
// An unlock touches the mutex's memory for the last time when it clears the
// locked bit, so the next owner may destroy and free it at once.
#pragma once
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "clock.h"
#include "spinlock.h"
#include "wait_list.h"

namespace cohook {

// Who holds a lock, in the program's sense of "thread": the running
// coroutine, or -- on an OS thread's own stack -- that OS thread, whether or
// not it has become a carrier since (its Parker changes then; this does not).
const void* caller_identity();

class PosixMutex {
 public:
  enum Kind : int32_t { kNormal = 0, kRecursive = 1, kErrorCheck = 2, kAdaptive = 3 };
  static constexpr int32_t kKindMask = 3;
  static constexpr size_t kKindOffset = 16;

  PosixMutex() = default;
  explicit PosixMutex(int32_t kind) : kind_(kind) {}
  PosixMutex(const PosixMutex&) = delete;
  PosixMutex& operator=(const PosixMutex&) = delete;

  // Make `storage` a fresh unlocked mutex of `kind` (pthread_mutex_init).
  static PosixMutex* init_at(void* storage, int32_t kind);
  int32_t kind() const { return kind_ & kKindMask; }

  // 0, EDEADLK (errorcheck, already the owner's), EAGAIN (recursion count
  // would overflow). A normal mutex relocked by its holder waits forever.
  int lock() { return lock_until(kForever); }
  // Also ETIMEDOUT.
  int lock_until(Deadline deadline) {
    if (plain()) {
      uint32_t unlocked = 0;
      if (state_.compare_exchange_strong(unlocked, kLocked, std::memory_order_acquire)) return 0;
      return lock_slow(deadline);
    }
    return lock_owned(deadline, false);
  }
  // 0, EBUSY, EAGAIN (recursion count would overflow).
  int try_lock() {
    if (plain()) return try_acquire() ? 0 : EBUSY;
    return lock_owned(0, true);
  }
  // 0; EPERM for recursive and errorcheck when the caller is not the owner.
  int unlock() {
    if (plain()) {
      uint32_t locked = kLocked;
      if (state_.compare_exchange_strong(locked, 0, std::memory_order_release)) return 0;
      if (!(locked & kLocked)) return 0;  // glibc: unlocking an unlocked normal mutex is a no-op
      release_slow();
      return 0;
    }
    return unlock_owned();
  }
  bool is_locked() const { return state_.load(std::memory_order_relaxed) & kLocked; }
  // Recursive and errorcheck: is the caller the owner? (Normal: false.)
  bool held_by_caller() const { return owner_.load(std::memory_order_relaxed) == caller_identity(); }
  // pthread_mutex_destroy: 0, or EBUSY while locked.
  int destroy() const { return is_locked() ? EBUSY : 0; }

  // For a condition variable: release completely, whatever the recursion
  // depth, remembering it in `saved`; 0 or EPERM (not the owner; for
  // recursive and errorcheck). reacquire() takes it back with that depth.
  int release_for_wait(uint32_t& saved);
  void reacquire(uint32_t saved);

 private:
  static constexpr uint32_t kLocked = 1, kWaiters = 2;
  // Normal and adaptive: no owner, no checks.
  bool plain() const { return kind() == kNormal || kind() == kAdaptive; }
  bool try_acquire() {
    uint32_t s = state_.load(std::memory_order_relaxed);
    while (!(s & kLocked))
      if (state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire)) return true;
    return false;
  }
  int lock_slow(Deadline deadline);
  int lock_owned(Deadline deadline, bool try_only);
  int unlock_owned();
  void release_slow();
  static void layout_check();

  // bit 0 locked, bit 1 "the list may have waiters" (kept under lock_).
  std::atomic<uint32_t> state_{0};  // 0: glibc's __lock
  uint32_t depth_ = 0;               // 4: recursive relocks beyond the first
  std::atomic<const void*> owner_{nullptr};  // 8: recursive/errorcheck only
  int32_t kind_ = kNormal;           // 16: glibc's __kind
  SpinLock lock_;                    // 20
  WaitList waiters_;                 // 24
};

}  // namespace cohook
