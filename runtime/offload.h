// Offload: a bounded pool of real OS threads for calls that cannot park --
// waits for any child, blocking file locks, and (next) DNS and regular-file
// I/O. The caller parks while a pool thread makes the call natively; its
// carrier keeps running other coroutines.
//
// Pool threads are made on demand up to a bound and then kept. They are
// plain threads: a hook called on one blocks natively (on_pool_thread()).
// A job lives on the heap, not on the caller's stack (which may be a copy
// stack that others overwrite while it is parked).
#pragma once
#include <atomic>
#include <cstdint>

#include "park.h"
#include "spinlock.h"
#include "sync.h"

namespace cohook {

class OffloadPool {
 public:
  using StartThread = int (*)(void* (*fn)(void*), void* arg);
  void configure(unsigned max_threads, StartThread start);
  // Run fn(arg) on a pool thread and park until it returned. When no pool
  // thread exists or can be made, fn runs here (blocking, as natively).
  // errno is the one fn left.
  void run(void (*fn)(void*), void* arg);
  // Is the calling thread one of the pool's?
  static bool on_pool_thread();
  // In a forked child: the pool threads did not come along (and may have
  // held the locks). Forget them, so the next job makes a thread of its own
  // instead of queueing for one that will never take it.
  void reset_after_fork();

  struct Stats {
    uint64_t jobs = 0;
    uint64_t threads = 0;
    uint64_t queue_peak = 0;
    uint64_t wait_ns = 0;  // time jobs spent queued, in all
    uint64_t queued = 0;       // jobs waiting for a pool thread now
    uint64_t started = 0;      // jobs a pool thread has taken (wait_ns is theirs)
    uint64_t wait_max_ns = 0;  // the longest any job waited
  };
  Stats stats() const;

 private:
  struct Job;
  static void* worker_main(void* self);
  Job* take();

  unsigned max_ = 4;
  StartThread start_ = nullptr;
  Mutex mu_;
  CondVar work_;
  SpinLock done_lock_;
  Job* head_ = nullptr;
  Job* tail_ = nullptr;
  unsigned threads_ = 0, idle_ = 0;
  std::atomic<unsigned> queued_{0};  // changed under mu_, read by stats()
  std::atomic<uint64_t> jobs_{0}, made_{0}, queue_peak_{0}, wait_ns_{0}, started_{0}, wait_max_ns_{0};
};

}  // namespace cohook
