#include "carrier_set.h"

#include <pthread.h>
#include <signal.h>

#include "sys.h"

namespace cohook {

void CarrierSet::configure(unsigned n, StartThread start, MakeScheduler make) {
  n_ = n < 1 ? 1 : n > kMax ? kMax : n;
  start_ = start;
  make_ = make;
}

void CarrierSet::set_first(Scheduler* s) { slots_[0].store(s, std::memory_order_release); }

unsigned CarrierSet::running() const {
  unsigned k = 0;
  for (unsigned i = 0; i < n_; ++i)
    if (slots_[i].load(std::memory_order_acquire)) ++k;
  return k;
}

bool CarrierSet::contains(const Scheduler* s) const {
  for (unsigned i = 0; i < n_; ++i)
    if (s && slots_[i].load(std::memory_order_acquire) == s) return true;
  return false;
}

void* CarrierSet::carrier_main(void* self) {
  auto* set = static_cast<CarrierSet*>(self);
  // Process-directed signals go to the main thread (carrier 0), as the
  // program's handlers expect one place; faults stay deliverable here.
  sigset_t all;
  sigfillset(&all);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS}) sigdelset(&all, sig);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  Scheduler* s = set->make_ ? set->make_() : nullptr;
  if (!s) return nullptr;
  unsigned slot = set->next_slot_.fetch_add(1);
  if (slot >= set->n_) return nullptr;  // cannot happen: one thread per slot
  set->slots_[slot].store(s, std::memory_order_release);
  Parker* me = Parker::current();
  for (;;) me->park();  // the dispatcher runs the coroutines placed here
}

void CarrierSet::start_others() {
  if (started_.exchange(true)) return;
  unsigned started = 1;
  for (unsigned i = 1; i < n_; ++i, ++started)
    if (!start_ || start_(&CarrierSet::carrier_main, this) != 0) break;  // fewer carriers, not none
  // Wait (once, briefly) until they run, so the first burst of creations is
  // spread over all of them rather than piled on carrier 0.
  Deadline give_up = deadline_after(1000 * 1000 * 1000);
  while (running() < started && now_ns() < give_up) sys::sched_yield();
}

Scheduler* CarrierSet::pick() {
  if (!started_.load(std::memory_order_relaxed)) start_others();
  // Least loaded; ties go round-robin so a burst of creations spreads out.
  unsigned start = rr_.fetch_add(1, std::memory_order_relaxed);
  Scheduler* best = nullptr;
  size_t best_live = 0;
  for (unsigned k = 0; k < n_; ++k) {
    Scheduler* s = slots_[(start + k) % n_].load(std::memory_order_acquire);
    if (!s) continue;
    size_t live = s->live();
    if (!best || live < best_live) {
      best = s;
      best_live = live;
    }
  }
  return best;
}

void CarrierSet::reset_after_fork(Scheduler* first) {
  for (unsigned i = 0; i < kMax; ++i) slots_[i].store(nullptr, std::memory_order_relaxed);
  slots_[0].store(first, std::memory_order_release);
  next_slot_.store(1);
  started_.store(false);
}

}  // namespace cohook
