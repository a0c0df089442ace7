#include "park.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "coroutine.h"
#include "scheduler.h"
#include "sys.h"

namespace cohook {

namespace {
thread_local Parker t_thread_parker;

long futex_wait_abs(std::atomic<uint32_t>* word, uint32_t expected, Deadline deadline) {
  timespec ts, *tsp = nullptr;
  if (deadline != kForever) {
    ts.tv_sec = deadline / 1000000000;
    ts.tv_nsec = deadline % 1000000000;
    tsp = &ts;
  }
  // BITSET takes an absolute CLOCK_MONOTONIC time: no drift across retries.
  return sys::futex(word, FUTEX_WAIT_BITSET_PRIVATE, expected, tsp, nullptr, FUTEX_BITSET_MATCH_ANY);
}
}  // namespace

Parker* Parker::current() {
  Coroutine* co = Coroutine::current();
  if (co && co->home() && !Scheduler::is_dispatcher(co)) return &co->parker();
  return &t_thread_parker;
}

void Parker::park() { park_until(kForever); }

bool Parker::park_until(Deadline deadline) {
  if (co_) return Scheduler::park_coroutine(co_, deadline);
  // A plain OS thread: the word is a futex, kPermit = "wake pending".
  if (word_.exchange(kIdle, std::memory_order_acquire) == kPermit) return true;
  for (;;) {
    long r = futex_wait_abs(&word_, kIdle, deadline);
    if (word_.exchange(kIdle, std::memory_order_acquire) == kPermit) return true;
    if (r == -ETIMEDOUT) return false;
    if (r == -EINTR) {
      // A handler ran on this thread while it slept: the signal layer has
      // marked us (Scheduler::note_signal); let the waiter look.
      if (interrupt_.load(std::memory_order_relaxed)) return true;
    }
    if (deadline != kForever && now_ns() >= deadline) return false;
  }
}

void Parker::unpark() {
  if (co_) {
    Scheduler::unpark_coroutine(co_);
    return;
  }
  if (word_.exchange(kPermit, std::memory_order_release) != kPermit)
    sys::futex(&word_, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

}  // namespace cohook
