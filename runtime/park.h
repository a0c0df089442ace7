// Parker: the one way anything in the runtime blocks and is woken.
//
// Whoever waits -- a coroutine or a plain OS thread without a scheduler -- has
// a Parker. Wait queues (fd waits, mutexes, condition variables, join) hold
// WaitNodes that point at Parkers and call unpark(); they never need to know
// which kind of waiter it is.
//
// Contract (as for futexes): park() may return spuriously, so every caller
// re-checks its condition in a loop. unpark() before park() is not lost: it
// leaves a permit that makes the next park() return at once.
//
// Where wait state lives: a waiter's queue node and its deadline timer are
// members of its Parker (the Coroutine object, or thread-local storage), never
// locals in its stack frame. A coroutine on a shared (copy) stack has its
// frames overwritten by others while it is parked; anything that other code
// reaches through a pointer must therefore be off-stack. A waiter is in one
// wait at a time, so one node and one timer suffice (wait_any allocates).
#pragma once
#include <atomic>
#include <cstdint>

#include "clock.h"
#include "timer_heap.h"

namespace cohook {

class Coroutine;
class Parker;

// One entry of a wait queue. `queued` is cleared by whoever takes it off,
// `result` says why (the queue owner's own enum values).
struct WaitNode {
  Parker* parker = nullptr;
  WaitNode* prev = nullptr;
  WaitNode* next = nullptr;
  std::atomic<bool> queued{false};
  uint8_t result = 0;
  uint32_t bits = 0;      // futex_table: the waiter's bitset
  const void* key = nullptr;  // futex_table: the word waited on
};

class Parker {
 public:
  explicit Parker(Coroutine* co = nullptr) : co_(co) { node_.parker = this; }
  Parker(const Parker&) = delete;
  Parker& operator=(const Parker&) = delete;

  // The running coroutine's parker, or this OS thread's.
  static Parker* current();

  void park();
  // Returns false once `deadline` has passed (it may also return true
  // spuriously, or early on an unpark).
  bool park_until(Deadline deadline);
  // From any thread.
  void unpark();

  Coroutine* coroutine() const { return co_; }

  // Signals. A handler that runs while this waiter is blocked (its carrier
  // idle in epoll, or its thread in a futex) interrupts the wait, as a signal
  // interrupts a blocking system call. Interruptible waits (fd waits, sleeps;
  // not lock acquisition) clear the mark when they begin and end with
  // Interrupted when they find it.
  enum class Interrupt : uint8_t { None, Restartable, Hard };
  void begin_interruptible() { interrupt_.store(uint8_t(Interrupt::None), std::memory_order_relaxed); }
  Interrupt take_interrupt() {
    return Interrupt(interrupt_.exchange(uint8_t(Interrupt::None), std::memory_order_acq_rel));
  }
  // From the carrier after a signal; async-signal-safe for thread parkers.
  void mark_interrupted(bool restartable) {
    uint8_t want = uint8_t(restartable ? Interrupt::Restartable : Interrupt::Hard);
    uint8_t cur = interrupt_.load(std::memory_order_relaxed);
    // Hard wins: one handler without SA_RESTART makes the call fail with EINTR.
    while (cur < want && !interrupt_.compare_exchange_weak(cur, want)) {
    }
  }
  // This waiter's node, for the one wait queue it is in.
  WaitNode& node() { return node_; }

 private:
  friend class Scheduler;
  enum : uint32_t { kIdle = 0, kPermit = 1, kParked = 2 };
  Coroutine* co_;
  std::atomic<uint32_t> word_{kIdle};
  WaitNode node_;
  Timer timer_;        // the park deadline, armed on the home carrier
  std::atomic<uint8_t> interrupt_{0};
  bool timer_fired_ = false;
  uint32_t park_seq_ = 0;  // coroutine parks so far: tells one wait from the next
};

}  // namespace cohook
