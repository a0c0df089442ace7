// TimerHeap: the deadlines of one carrier, in a binary min-heap.
//
// Timers are intrusive (a parked waiter's lives in its Parker, so arming one
// allocates nothing) and know their heap index, so cancel is O(log n). A
// carrier's dispatcher sleeps until next_deadline() -- there is no tick.
// Single-threaded: only the owning carrier touches its heap.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "clock.h"

namespace cohook {

struct Timer {
  using Fire = void (*)(Timer*);
  Deadline when = kForever;
  Fire fire = nullptr;
  void* data = nullptr;
  size_t index = kNotArmed;
  uint64_t seq = 0;  // equal deadlines fire in the order they were added
  static constexpr size_t kNotArmed = ~size_t(0);
  bool armed() const { return index != kNotArmed; }
};

class TimerHeap {
 public:
  void add(Timer* t);
  // false if it was not armed (already fired or cancelled).
  bool cancel(Timer* t);
  Deadline next_deadline() const { return heap_.empty() ? kForever : heap_[0]->when; }
  // Fire every timer whose deadline is <= now, earliest first. Returns how many.
  size_t expire(Deadline now);
  size_t size() const { return heap_.size(); }
  bool empty() const { return heap_.empty(); }

 private:
  void sift_up(size_t i);
  void sift_down(size_t i);
  void place(size_t i, Timer* t) {
    heap_[i] = t;
    t->index = i;
  }
  static bool before(const Timer* a, const Timer* b) {
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
  }
  std::vector<Timer*> heap_;
  uint64_t next_seq_ = 0;
};

}  // namespace cohook
