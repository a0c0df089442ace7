#include "timer_heap.h"

namespace cohook {

void TimerHeap::add(Timer* t) {
  t->seq = next_seq_++;
  heap_.push_back(t);
  t->index = heap_.size() - 1;
  sift_up(t->index);
}

bool TimerHeap::cancel(Timer* t) {
  if (!t->armed()) return false;
  size_t i = t->index;
  Timer* last = heap_.back();
  heap_.pop_back();
  t->index = Timer::kNotArmed;
  if (last != t) {
    place(i, last);
    sift_up(i);
    sift_down(last->index);
  }
  return true;
}

size_t TimerHeap::expire(Deadline now) {
  size_t n = 0;
  while (!heap_.empty() && heap_[0]->when <= now) {
    Timer* t = heap_[0];
    cancel(t);
    ++n;
    t->fire(t);  // may add or cancel other timers
  }
  return n;
}

void TimerHeap::sift_up(size_t i) {
  Timer* t = heap_[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!before(t, heap_[parent])) break;
    place(i, heap_[parent]);
    i = parent;
  }
  place(i, t);
}

void TimerHeap::sift_down(size_t i) {
  Timer* t = heap_[i];
  const size_t n = heap_.size();
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && before(heap_[child + 1], heap_[child])) ++child;
    if (!before(heap_[child], t)) break;
    place(i, heap_[child]);
    i = child;
  }
  place(i, t);
}

}  // namespace cohook
