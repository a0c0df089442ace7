// WaitQueue: a FIFO of parked waiters (their Parkers' nodes), guarded by the
// owner's SpinLock. `queued` tells a woken waiter whether a waker took it off
// (a true wake) or it is still there (timeout or spurious wake-up).
#pragma once
#include "park.h"

namespace cohook {

class WaitQueue {
 public:
  bool empty() const { return head_ == nullptr; }
  void push(WaitNode* n) {
    n->queued.store(true, std::memory_order_relaxed);
    n->next = nullptr;
    n->prev = tail_;
    if (tail_) tail_->next = n;
    else head_ = n;
    tail_ = n;
  }
  void remove(WaitNode* n) {
    if (n->prev) n->prev->next = n->next;
    else head_ = n->next;
    if (n->next) n->next->prev = n->prev;
    else tail_ = n->prev;
    n->prev = n->next = nullptr;
    n->queued.store(false, std::memory_order_release);
  }
  // Take the first waiter off, tell it why, unpark it. Call with the lock
  // held: the waiter cannot then return and reuse its node before we are done.
  bool wake_one(uint8_t result = 0) {
    WaitNode* n = head_;
    if (!n) return false;
    Parker* p = n->parker;  // the node is the waiter's once `queued` clears
    n->result = result;
    remove(n);
    p->unpark();
    return true;
  }
  // Wake up to `max` waiters for which match(node) holds, in FIFO order.
  template <class Match>
  int wake_matching(int max, Match&& match) {
    int k = 0;
    for (WaitNode* n = head_; n && k < max;) {
      WaitNode* next = n->next;
      if (match(*n)) {
        Parker* p = n->parker;
        remove(n);
        p->unpark();
        ++k;
      }
      n = next;
    }
    return k;
  }
  size_t wake_all(uint8_t result = 0) {
    size_t k = 0;
    while (wake_one(result)) ++k;
    return k;
  }

 private:
  WaitNode* head_ = nullptr;
  WaitNode* tail_ = nullptr;
};

}  // namespace cohook
