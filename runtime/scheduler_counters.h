// Process-wide scheduler counters for COHOOK_STATS: switches and epoll waits
// summed over every carrier (including ones already gone), and coroutines
// live now and at the peak.
//
// Each Scheduler takes a CarrierCounters slot from a lock-free list whose
// slots are never freed: a slot given back by a destroyed scheduler keeps its
// counts and is reused (counting on from there) by a later one, so a sum over
// the list is every switch the process made. Only the owning carrier writes
// its slot, with a relaxed load and store (no locked instruction on the switch
// path); any thread may read. Nothing here takes a lock, so a forked child
// can read the list its parent left (the parent's other carriers' slots stay
// claimed, frozen at their counts at the fork).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace cohook {

// A cache line of its own: carriers bump their slots on every switch.
struct alignas(64) CarrierCounters {
  std::atomic<uint64_t> switches{0};
  std::atomic<uint64_t> polls{0};  // epoll waits, blocking or not
  std::atomic<bool> in_use{false};
  CarrierCounters* next = nullptr;

  // A free slot, or a new one. Never nullptr: without memory for one, a
  // shared spare slot (whose increments may then race and be lost).
  static CarrierCounters* claim();
  void give_back();
  // From the owning thread only.
  static void bump(std::atomic<uint64_t>& c) {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  struct Totals {
    uint64_t switches = 0;
    uint64_t polls = 0;
    uint64_t carriers = 0;  // slots ever made
  };
  static Totals sum();
};

// Coroutines spawned and not yet finished, over all schedulers, and the most
// there ever were at once.
struct LiveCoroutines {
  static void spawned();
  static void finished(size_t n = 1);
  static size_t now();
  static size_t peak();
  // In a forked child: none of the parent's coroutines exist (the one that
  // forked, if any, becomes its new scheduler's main).
  static void reset_after_fork();
};

}  // namespace cohook
