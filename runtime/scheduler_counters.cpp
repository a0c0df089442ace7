#include "scheduler_counters.h"

#include <new>

namespace cohook {

namespace {
std::atomic<CarrierCounters*> g_slots{nullptr};
CarrierCounters g_spare;
std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_peak{0};
}  // namespace

CarrierCounters* CarrierCounters::claim() {
  for (CarrierCounters* c = g_slots.load(std::memory_order_acquire); c; c = c->next) {
    bool free = false;
    if (c->in_use.compare_exchange_strong(free, true, std::memory_order_acquire)) return c;
  }
  auto* c = new (std::nothrow) CarrierCounters;
  if (!c) return &g_spare;
  c->in_use.store(true, std::memory_order_relaxed);
  c->next = g_slots.load(std::memory_order_relaxed);
  while (!g_slots.compare_exchange_weak(c->next, c, std::memory_order_release, std::memory_order_relaxed)) {
  }
  return c;
}

void CarrierCounters::give_back() {
  if (this != &g_spare) in_use.store(false, std::memory_order_release);
}

CarrierCounters::Totals CarrierCounters::sum() {
  Totals t;
  for (const CarrierCounters* c = &g_spare; c; c = c == &g_spare ? g_slots.load(std::memory_order_acquire) : c->next) {
    t.switches += c->switches.load(std::memory_order_relaxed);
    t.polls += c->polls.load(std::memory_order_relaxed);
    if (c != &g_spare) t.carriers++;
  }
  return t;
}

void LiveCoroutines::spawned() {
  int64_t n = g_live.fetch_add(1, std::memory_order_relaxed) + 1;
  int64_t p = g_peak.load(std::memory_order_relaxed);
  while (n > p && !g_peak.compare_exchange_weak(p, n, std::memory_order_relaxed)) {
  }
}

void LiveCoroutines::finished(size_t n) { g_live.fetch_sub(int64_t(n), std::memory_order_relaxed); }

size_t LiveCoroutines::now() {
  int64_t n = g_live.load(std::memory_order_relaxed);
  return n > 0 ? size_t(n) : 0;
}

size_t LiveCoroutines::peak() { return size_t(g_peak.load(std::memory_order_relaxed)); }

void LiveCoroutines::reset_after_fork() { g_live.store(0, std::memory_order_relaxed); }

}  // namespace cohook
