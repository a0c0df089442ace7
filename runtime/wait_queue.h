// WaitQueue: a FIFO of parked waiters, guarded by the owner's SpinLock.
// Nodes live in the waiters' own frames; `queued` tells a woken waiter whether
// it was taken off by a waker (true wake) or is still there (timeout/spurious).
#pragma once
#include "park.h"

namespace cohook {

struct WaitNode {
  Parker* parker = Parker::current();
  WaitNode* prev = nullptr;
  WaitNode* next = nullptr;
  bool queued = false;
};

class WaitQueue {
 public:
  bool empty() const { return head_ == nullptr; }
  void push(WaitNode* n) {
    n->queued = true;
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
    n->queued = false;
  }
  // Take the first waiter off and unpark it. Call with the lock held: the
  // waiter cannot then return (and free its node) before we are done.
  bool wake_one() {
    WaitNode* n = head_;
    if (!n) return false;
    remove(n);
    n->parker->unpark();
    return true;
  }
  size_t wake_all() {
    size_t k = 0;
    while (wake_one()) ++k;
    return k;
  }

 private:
  WaitNode* head_ = nullptr;
  WaitNode* tail_ = nullptr;
};

}  // namespace cohook
