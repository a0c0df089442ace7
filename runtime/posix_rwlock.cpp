#include "posix_rwlock.h"

#include <new>
#include <type_traits>

#include "park_stats.h"

namespace cohook {

void RwLock::layout_check() {
  static_assert(std::is_standard_layout_v<RwLock>);
  static_assert(offsetof(RwLock, shared_) == kSharedOffset);
  static_assert(offsetof(RwLock, flags_) == kFlagsOffset);
  static_assert(sizeof(RwLock) == 56 && alignof(RwLock) == 8);
}

RwLock* RwLock::init_at(void* storage, uint32_t kind) { return new (storage) RwLock(kind); }

bool RwLock::try_read_fast(uint32_t& s) {
  s = state_.load(std::memory_order_relaxed);
  while (reader_may_enter(s) && (s & kReaderMask) != kReaderMask)
    if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acquire)) return true;
  return false;
}

int RwLock::rdlock_until(Deadline deadline) {
  uint32_t s;
  if (try_read_fast(s)) return 0;
  if ((s & kWriter) && writer_.load(std::memory_order_relaxed) == caller_identity()) return EDEADLK;
  return lock_slow(false, deadline);
}

int RwLock::try_rdlock() {
  uint32_t s;
  if (try_read_fast(s)) return 0;
  return reader_may_enter(s) ? EAGAIN : EBUSY;  // may enter, but the count is full
}

int RwLock::wrlock_until(Deadline deadline) {
  const void* me = caller_identity();
  uint32_t s = 0;
  if (!state_.compare_exchange_strong(s, kWriter, std::memory_order_acquire)) {
    if ((s & kWriter) && writer_.load(std::memory_order_relaxed) == me) return EDEADLK;
    if (int r = lock_slow(true, deadline)) return r;
  }
  writer_.store(me, std::memory_order_relaxed);
  return 0;
}

int RwLock::try_wrlock() {
  uint32_t s = state_.load(std::memory_order_relaxed);
  while (!(s & (kWriter | kReaderMask))) {
    if (state_.compare_exchange_weak(s, s | kWriter, std::memory_order_acquire)) {
      writer_.store(caller_identity(), std::memory_order_relaxed);
      return 0;
    }
  }
  return EBUSY;
}

void RwLock::update_waiting_bits() {
  uint32_t want = (readers_.empty() ? 0 : kReadersWaiting) | (writers_.empty() ? 0 : kWritersWaiting);
  uint32_t s = state_.load(std::memory_order_relaxed);
  while ((s & (kReadersWaiting | kWritersWaiting)) != want &&
         !state_.compare_exchange_weak(s, (s & ~(kReadersWaiting | kWritersWaiting)) | want,
                                       std::memory_order_relaxed)) {
  }
}

void RwLock::pick_wakeups(WaitList::Chain& c) {
  if (prefer_writer()) {
    if (WaitNode* w = writers_.pop()) c.add(w);
    else readers_.pop_all(c);
  } else {
    if (!readers_.empty()) readers_.pop_all(c);
    else c.add(writers_.pop());
  }
  update_waiting_bits();
}

int RwLock::lock_slow(bool writer, Deadline deadline) {
  Parker* me = Parker::current();
  WaitNode* node = &me->node();
  WaitList& list = writer ? writers_ : readers_;
  ParkOnce parked(ParkReason::Mutex);  // rwlocks count as locks
  for (;;) {
    lock_.lock();
    uint32_t s = state_.load(std::memory_order_relaxed);
    bool got = false;
    for (;;) {
      if (writer ? !(s & (kWriter | kReaderMask)) : reader_may_enter(s)) {
        if (!writer && (s & kReaderMask) == kReaderMask) break;  // full: EAGAIN below
        if (state_.compare_exchange_weak(s, writer ? s | kWriter : s + 1, std::memory_order_acquire)) {
          got = true;
          break;
        }
      } else {
        uint32_t bit = writer ? kWritersWaiting : kReadersWaiting;
        if ((s & bit) || state_.compare_exchange_weak(s, s | bit, std::memory_order_relaxed)) break;
      }
    }
    bool full = !got && !writer && reader_may_enter(s);
    if (got || full) {
      if (list.linked(node)) {
        list.remove_self(node);
        update_waiting_bits();
      }
      lock_.unlock();
      return got ? 0 : EAGAIN;
    }
    if (!list.linked(node)) list.push(node);
    lock_.unlock();

    parked.note();
    bool in_time = me->park_until(deadline);
    if (!node->queued.load(std::memory_order_acquire)) continue;  // woken: compete again
    lock_.lock();
    if (!list.linked(node)) {
      lock_.unlock();
      WaitList::await_finish(node);
      continue;
    }
    if (!in_time) {
      list.remove_self(node);
      // Readers held back only by this writer may go in now.
      WaitList::Chain c;
      if (writer && prefer_writer() && writers_.empty() && !(state_.load(std::memory_order_relaxed) & kWriter))
        readers_.pop_all(c);
      update_waiting_bits();
      lock_.unlock();
      WaitList::finish(c);
      return ETIMEDOUT;
    }
    lock_.unlock();  // spurious
  }
}

int RwLock::unlock() {
  uint32_t s = state_.load(std::memory_order_relaxed);
  WaitList::Chain c;
  if (s & kWriter) {
    if (writer_.load(std::memory_order_relaxed) != caller_identity()) return EPERM;
    writer_.store(nullptr, std::memory_order_relaxed);
    for (;;) {
      if (s & (kReadersWaiting | kWritersWaiting)) break;
      if (state_.compare_exchange_weak(s, s & ~kWriter, std::memory_order_release)) return 0;
    }
    lock_.lock();
    pick_wakeups(c);
    lock_.unlock();
    state_.fetch_and(~kWriter, std::memory_order_release);  // the last touch of the lock
    WaitList::finish(c);
    return 0;
  }
  for (;;) {
    if ((s & kReaderMask) == 0) return EPERM;
    if ((s & kReaderMask) == 1 && (s & (kReadersWaiting | kWritersWaiting))) break;
    if (state_.compare_exchange_weak(s, s - 1, std::memory_order_release)) return 0;
  }
  // The last reader out with waiters: choose whom to wake while still
  // holding the read lock, then leave.
  lock_.lock();
  if (readers() == 1) pick_wakeups(c);
  lock_.unlock();
  state_.fetch_sub(1, std::memory_order_release);
  WaitList::finish(c);
  return 0;
}

}  // namespace cohook
