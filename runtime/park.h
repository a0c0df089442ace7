// Parker: the one way anything in the runtime blocks and is woken.
//
// Whoever waits -- a coroutine or a plain OS thread without a scheduler -- has
// a Parker. Wait queues (fd waits, mutexes, condition variables, join) store
// Parker pointers and call unpark(); they never need to know which kind it is.
//
// Contract (as for futexes): park() may return spuriously, so every caller
// re-checks its condition in a loop. unpark() before park() is not lost: it
// leaves a permit that makes the next park() return at once.
#pragma once
#include <atomic>
#include <cstdint>

#include "clock.h"

namespace cohook {

class Coroutine;

class Parker {
 public:
  explicit Parker(Coroutine* co = nullptr) : co_(co) {}

  // The running coroutine's parker, or this OS thread's.
  static Parker* current();

  void park();
  // Returns false once `deadline` has passed (it may also return true
  // spuriously, or early on an unpark).
  bool park_until(Deadline deadline);
  // From any thread.
  void unpark();

  Coroutine* coroutine() const { return co_; }

 private:
  friend class Scheduler;
  enum : uint32_t { kIdle = 0, kPermit = 1, kParked = 2 };
  Coroutine* co_;
  std::atomic<uint32_t> word_{kIdle};
};

}  // namespace cohook
