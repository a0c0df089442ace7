// CarrierSet: the fixed group of carrier threads that coroutines (the
// program's "threads") are placed on.
//
// Carrier 0 is the main thread's scheduler; carriers 1..n-1 are OS threads
// started on the first placement, each running only its dispatcher (their
// own main context parks for ever). A new coroutine goes to the carrier with
// the fewest live coroutines at that moment and stays there for life (see
// scheduler.h on migration). Carriers are never stopped: they end with the
// process.
//
// The runtime makes no thread itself through libc's pthread_create (in the
// shim that name is a hook): whoever configures the set passes the functions
// that start an OS thread and that make the calling thread's scheduler.
#pragma once
#include <atomic>
#include <cstddef>

#include "scheduler.h"

namespace cohook {

class CarrierSet {
 public:
  static constexpr unsigned kMax = 1024;
  // Start fn(arg) on a new OS thread; 0 or an errno value.
  using StartThread = int (*)(void* (*fn)(void*), void* arg);
  // The calling thread's scheduler, made if needed; nullptr if impossible.
  using MakeScheduler = Scheduler* (*)();

  // n >= 1 carriers in all, counting the first.
  void configure(unsigned n, StartThread start, MakeScheduler make);
  // Carrier 0: the scheduler of the thread that configured the set (main).
  void set_first(Scheduler* s);
  // Where a new coroutine should live. Starts the other carriers the first
  // time. nullptr only if no carrier exists at all.
  Scheduler* pick();
  // Carriers running now (published), and configured.
  unsigned running() const;
  unsigned configured() const { return n_; }
  // Carrier 0 (the main thread's), or nullptr before it exists.
  Scheduler* first() const { return slots_[0].load(std::memory_order_acquire); }
  // Carrier i (0 <= i < configured()), or nullptr if not running.
  Scheduler* at(unsigned i) const { return i < kMax ? slots_[i].load(std::memory_order_acquire) : nullptr; }
  // Is s one of ours?
  bool contains(const Scheduler* s) const;
  // Child after fork: only the calling thread exists; its new scheduler (or
  // none yet) is carrier 0 and the rest will be started again on demand.
  void reset_after_fork(Scheduler* first);

 private:
  static void* carrier_main(void* self);
  void start_others();

  unsigned n_ = 1;
  StartThread start_ = nullptr;
  MakeScheduler make_ = nullptr;
  std::atomic<bool> started_{false};
  std::atomic<unsigned> next_slot_{1};
  std::atomic<unsigned> rr_{0};
  std::atomic<Scheduler*> slots_[kMax] = {};
};

}  // namespace cohook
