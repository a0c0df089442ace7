// Barrier: pthread_barrier_t's behaviour, parking the caller through its
// Parker. Each phase lets `count` waiters through; exactly one of them gets
// kSerial (PTHREAD_BARRIER_SERIAL_THREAD) -- the last to arrive -- and the
// barrier is at once ready for the next phase.
//
// Layout: fits over glibc's pthread_barrier_t (32 bytes). There is no static
// initializer, so the word at offset 12 (glibc's `shared`: 0 or 128 in
// glibc's barriers) holds kMagic in ours: that is how the shim tells them
// apart.
#pragma once
#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "spinlock.h"
#include "wait_list.h"

namespace cohook {

class Barrier {
 public:
  static constexpr int kSerial = -1;  // PTHREAD_BARRIER_SERIAL_THREAD
  static constexpr uint32_t kMagic = 0x62726b63;  // "ckrb"
  static constexpr size_t kMagicOffset = 12;

  explicit Barrier(uint32_t count) : count_(count) {}
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  // pthread_barrier_init: EINVAL for a count of 0 (or absurdly large).
  static int init_at(void* storage, uint32_t count, Barrier** out = nullptr);
  static bool is_ours(const void* storage) {
    uint32_t m;
    __builtin_memcpy(&m, static_cast<const char*>(storage) + kMagicOffset, sizeof m);
    return m == kMagic;
  }

  // kSerial for one waiter per phase, 0 for the others. Not interruptible,
  // not a cancellation point (as pthread_barrier_wait).
  int wait();
  // pthread_barrier_destroy: 0; EBUSY while a phase has waiters. The magic
  // is cleared, so a destroyed barrier is no longer taken for ours.
  int destroy();

 private:
  static void layout_check();

  uint32_t count_;                // 0
  uint32_t arrived_ = 0;          // 4: in this phase
  SpinLock lock_;                 // 8
  uint32_t magic_ = kMagic;       // 12: glibc's `shared`
  WaitNode* waiting_ = nullptr;   // 16: this phase's waiters, newest first (through `next`)
  uint64_t phases_ = 0;           // 24: completed phases
};

}  // namespace cohook
