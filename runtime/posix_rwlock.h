// RwLock: a readers-writer lock with glibc's pthread_rwlock_t semantics,
// parking the caller through its Parker.
//
// Preference (glibc's kinds): PREFER_READER (the default) and PREFER_WRITER
// let a reader in whenever no writer holds the lock, even while writers wait
// -- so a thread may take a read lock recursively without deadlock (glibc
// treats PREFER_WRITER as PREFER_READER too). PREFER_WRITER_NONRECURSIVE
// makes new readers wait while a writer waits, and hands a released lock to
// a writer first.
//
// Errors as glibc: rdlock/wrlock by the thread holding the write lock
// EDEADLK; tryrdlock/trywrlock EBUSY; EAGAIN past the maximum readers;
// timed variants ETIMEDOUT. The writer is the caller's identity
// (caller_identity(), posix_mutex.h); readers are not recorded, as in glibc.
// Unlock by a caller holding nothing is EPERM.
//
// Layout: fits over glibc's pthread_rwlock_t (56 bytes); all-zero storage is
// an unlocked reader-preferring lock. glibc's __shared (offset 28) stays 0 in
// ours -- glibc's process-shared locks have it non-zero -- and its __flags
// (offset 48), where PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP puts
// the kind, is the kind here too.
#pragma once
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "clock.h"
#include "posix_mutex.h"
#include "spinlock.h"
#include "wait_list.h"

namespace cohook {

class RwLock {
 public:
  enum Kind : uint32_t { kPreferReader = 0, kPreferWriter = 1, kPreferWriterNonrecursive = 2 };
  static constexpr size_t kSharedOffset = 28, kFlagsOffset = 48;

  RwLock() = default;
  explicit RwLock(uint32_t kind) : flags_(kind) {}
  RwLock(const RwLock&) = delete;
  RwLock& operator=(const RwLock&) = delete;

  static RwLock* init_at(void* storage, uint32_t kind);

  // 0, EDEADLK, EAGAIN, ETIMEDOUT (deadline passed).
  int rdlock_until(Deadline deadline);
  int rdlock() { return rdlock_until(kForever); }
  int try_rdlock();  // 0, EBUSY, EAGAIN
  int wrlock_until(Deadline deadline);
  int wrlock() { return wrlock_until(kForever); }
  int try_wrlock();  // 0, EBUSY
  int unlock();      // 0, EPERM
  // pthread_rwlock_destroy: 0, or EBUSY while held.
  int destroy() const { return state_.load(std::memory_order_relaxed) & (kWriter | kReaderMask) ? EBUSY : 0; }

  uint32_t readers() const { return state_.load(std::memory_order_relaxed) & kReaderMask; }
  bool write_locked() const { return state_.load(std::memory_order_relaxed) & kWriter; }

 private:
  // state_: reader count, writer bit, and "waiters may be on this list"
  // bits (kept under lock_, so that unlocks know when to come to the lists).
  static constexpr uint32_t kWriter = 1u << 31, kWritersWaiting = 1u << 30, kReadersWaiting = 1u << 29;
  static constexpr uint32_t kReaderMask = kReadersWaiting - 1;
  bool prefer_writer() const { return flags_ == kPreferWriterNonrecursive; }
  // Can a reader come in, seeing state s? (0 yes, else the error to wait on)
  bool reader_may_enter(uint32_t s) const {
    return !(s & kWriter) && !(prefer_writer() && (s & kWritersWaiting));
  }
  bool try_read_fast(uint32_t& s);
  int lock_slow(bool writer, Deadline deadline);
  // Under lock_: the waiters an unlock that frees the lock should wake.
  void pick_wakeups(WaitList::Chain& c);
  void update_waiting_bits();
  static void layout_check();

  WaitList readers_;                    // 0
  std::atomic<const void*> writer_{nullptr};  // 16
  std::atomic<uint32_t> state_{0};      // 24
  int32_t shared_ = 0;                  // 28: glibc's __shared
  WaitList writers_;                    // 32
  uint32_t flags_ = kPreferReader;      // 48: glibc's __flags
  SpinLock lock_;                       // 52
};

}  // namespace cohook
