#include "sync.h"

namespace cohook {

bool Mutex::lock_slow(Deadline deadline) {
  WaitNode& node = Parker::current()->node();
  for (;;) {
    {
      SpinGuard g(lock_);
      // Mark the lock contended; if it was free meanwhile, it is ours.
      if (state_.exchange(2, std::memory_order_acquire) == 0) {
        if (node.queued.load(std::memory_order_relaxed)) waiters_.remove(&node);
        return true;
      }
      if (!node.queued.load(std::memory_order_relaxed)) waiters_.push(&node);
    }
    bool in_time = node.parker->park_until(deadline);
    if (!in_time) {
      SpinGuard g(lock_);
      if (node.queued.load(std::memory_order_relaxed)) {
        waiters_.remove(&node);
        return false;
      }
      // Woken at the same moment: take the chance below.
    }
  }
}

void Mutex::unlock_slow() {
  SpinGuard g(lock_);
  waiters_.wake_one();
}

bool CondVar::wait_until(Mutex& m, Deadline deadline) {
  WaitNode& node = Parker::current()->node();
  {
    SpinGuard g(lock_);
    waiters_.push(&node);
  }
  m.unlock();
  bool signaled;
  for (;;) {
    bool in_time = node.parker->park_until(deadline);
    SpinGuard g(lock_);
    if (!node.queued.load(std::memory_order_relaxed)) {
      signaled = true;
      break;
    }
    if (!in_time) {
      waiters_.remove(&node);
      signaled = false;
      break;
    }
  }
  m.lock();
  return signaled;
}

void CondVar::notify_one() {
  SpinGuard g(lock_);
  waiters_.wake_one();
}

void CondVar::notify_all() {
  SpinGuard g(lock_);
  waiters_.wake_all();
}

}  // namespace cohook
