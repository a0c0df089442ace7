#include "posix_mutex.h"

#include <new>
#include <type_traits>

#include "park_stats.h"
#include "scheduler.h"

namespace cohook {

const void* caller_identity() {
  static thread_local char t_thread;
  Coroutine* co = Coroutine::current();
  if (co && co->home() && co != co->home()->main_coroutine() && !Scheduler::is_dispatcher(co)) return co;
  return &t_thread;
}

void PosixMutex::layout_check() {
  static_assert(std::is_standard_layout_v<PosixMutex>);
  static_assert(offsetof(PosixMutex, state_) == 0);
  static_assert(offsetof(PosixMutex, kind_) == kKindOffset);
  static_assert(sizeof(PosixMutex) == 40 && alignof(PosixMutex) == 8);
}

PosixMutex* PosixMutex::init_at(void* storage, int32_t kind) {
  return new (storage) PosixMutex(kind);
}

int PosixMutex::lock_slow(Deadline deadline) {
  Parker* me = Parker::current();
  WaitNode* node = &me->node();
  ParkOnce parked(ParkReason::Mutex);
  for (;;) {
    lock_.lock();
    // Take it if it is free; otherwise say that someone waits (so that the
    // holder's unlock comes to the list) and be on the list.
    uint32_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if (!(s & kLocked)) {
        if (state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire)) {
          if (waiters_.linked(node)) {
            waiters_.remove_self(node);
            if (waiters_.empty()) state_.fetch_and(~kWaiters, std::memory_order_relaxed);
          }
          lock_.unlock();
          return 0;
        }
      } else if ((s & kWaiters) ||
                 state_.compare_exchange_weak(s, s | kWaiters, std::memory_order_relaxed)) {
        break;
      }
    }
    if (!waiters_.linked(node)) waiters_.push(node);
    lock_.unlock();

    parked.note();
    bool in_time = me->park_until(deadline);
    if (!node->queued.load(std::memory_order_acquire)) continue;  // woken: compete again
    lock_.lock();
    if (!waiters_.linked(node)) {
      // Woken, and the waker is still finishing: wait for it, then compete.
      lock_.unlock();
      WaitList::await_finish(node);
      continue;
    }
    if (!in_time) {
      bool got = try_acquire();  // a last chance: the deadline is no reason to fail if it is free
      waiters_.remove_self(node);
      if (waiters_.empty()) state_.fetch_and(~kWaiters, std::memory_order_relaxed);
      lock_.unlock();
      return got ? 0 : ETIMEDOUT;
    }
    lock_.unlock();  // spurious: try again, still on the list
  }
}

void PosixMutex::release_slow() {
  lock_.lock();
  WaitNode* w = waiters_.pop();
  if (waiters_.empty()) state_.fetch_and(~kWaiters, std::memory_order_relaxed);
  lock_.unlock();
  // Still locked until here: nobody can have destroyed it. After this store
  // the mutex may be gone; only the waiter is touched.
  state_.fetch_and(~kLocked, std::memory_order_release);
  if (w) WaitList::finish(w);
}

int PosixMutex::lock_owned(Deadline deadline, bool try_only) {
  const void* me = caller_identity();
  if (owner_.load(std::memory_order_relaxed) == me) {
    if (kind() == kErrorCheck) return try_only ? EBUSY : EDEADLK;
    if (depth_ >= UINT32_MAX - 1) return EAGAIN;  // glibc: __count would wrap
    ++depth_;
    return 0;
  }
  if (!try_acquire()) {
    if (try_only) return EBUSY;
    if (int r = lock_slow(deadline)) return r;
  }
  owner_.store(me, std::memory_order_relaxed);
  depth_ = 0;
  return 0;
}

int PosixMutex::unlock_owned() {
  if (owner_.load(std::memory_order_relaxed) != caller_identity() || !is_locked()) return EPERM;
  if (depth_) {
    --depth_;
    return 0;
  }
  owner_.store(nullptr, std::memory_order_relaxed);
  uint32_t locked = kLocked;
  if (!state_.compare_exchange_strong(locked, 0, std::memory_order_release)) release_slow();
  return 0;
}

int PosixMutex::release_for_wait(uint32_t& saved) {
  saved = 0;
  if (plain()) return unlock();
  if (owner_.load(std::memory_order_relaxed) != caller_identity() || !is_locked()) return EPERM;
  saved = depth_;
  depth_ = 0;
  return unlock_owned();
}

void PosixMutex::reacquire(uint32_t saved) {
  lock();  // cannot fail: the caller does not hold it
  depth_ = saved;
}

}  // namespace cohook
