// WaitList: the wait queue of the pthread-style objects (PosixMutex,
// PosixCond, RwLock, Barrier, Semaphore).
//
// Unlike WaitQueue, a wake is done in two steps, because a program may free
// these objects as soon as it can see that nobody uses them any more (the
// last unlock, the broadcast before pthread_cond_destroy, sem_wait then
// sem_destroy):
//   1. under the owner's lock, the waker unlinks the node (pop). The node is
//      then "pending": off the list, `queued` still true;
//   2. after the waker has released the lock and is done with the object's
//      memory, finish() unparks the waiter and clears `queued` -- the last
//      thing the waker does with the waiter.
// A waiter that sees `queued` false returns without touching the object
// again. One that finds itself unlinked but still `queued` (it woke early)
// waits in await_finish(): the waker is between steps 1 and 2, on another
// thread or earlier on this one, and never switches there.
#pragma once
#include <sched.h>

#include "park.h"
#include "sys.h"

namespace cohook {

class WaitList {
 public:
  bool empty() const { return head_ == nullptr; }
  // All of these with the owner's lock held.
  void push(WaitNode* n) {
    n->queued.store(true, std::memory_order_relaxed);
    n->next = nullptr;
    n->prev = tail_;
    if (tail_) tail_->next = n;
    else head_ = n;
    tail_ = n;
  }
  bool linked(const WaitNode* n) const { return n->prev != nullptr || head_ == n; }
  // Off the list; `queued` is left as it is.
  void unlink(WaitNode* n) {
    if (n->prev) n->prev->next = n->next;
    else head_ = n->next;
    if (n->next) n->next->prev = n->prev;
    else tail_ = n->prev;
    n->prev = n->next = nullptr;
  }
  // The waiter takes itself off (timeout, or it got what it waited for).
  void remove_self(WaitNode* n) {
    unlink(n);
    n->queued.store(false, std::memory_order_relaxed);
  }
  // The first waiter, now pending, or nullptr.
  WaitNode* pop() {
    WaitNode* n = head_;
    if (n) unlink(n);
    return n;
  }

  // A chain of pending nodes, linked through `next` (free once unlinked).
  struct Chain {
    WaitNode* first = nullptr;
    WaitNode* last = nullptr;
    void add(WaitNode* n) {
      if (!n) return;
      n->next = nullptr;
      if (last) last->next = n;
      else first = n;
      last = n;
    }
  };
  void pop_all(Chain& c) {
    while (WaitNode* n = pop()) c.add(n);
  }

  // Step 2, after the owner's lock is released.
  static void finish(WaitNode* n) {
    Parker* p = n->parker;
    p->unpark();
    n->queued.store(false, std::memory_order_release);
  }
  static void finish(Chain& c) {
    for (WaitNode* n = c.first; n;) {
      WaitNode* next = n->next;  // the waiter may reuse its node once finished
      finish(n);
      n = next;
    }
  }
  // The waiter's side, for a node found unlinked but still queued.
  static void await_finish(WaitNode* n) {
    for (unsigned i = 0; n->queued.load(std::memory_order_acquire); ++i) {
      if (i < 128) {
#if defined(__x86_64__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        asm volatile("yield");
#endif
      } else {
        // The kernel's yield, not libc's: in libcohook.so that name binds to
        // the shim's hook, which only switches coroutines and returns at
        // once when none is ready -- this carrier then spun (python's GIL:
        // 10^5 yields per 100 requests) while the waker's OS thread, which
        // it waits for, waited for a CPU.
        sys::sched_yield();
      }
    }
  }

 private:
  WaitNode* head_ = nullptr;
  WaitNode* tail_ = nullptr;
};

}  // namespace cohook
