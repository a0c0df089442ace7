// Test helper for the pthread-style objects: run one body on coroutines of
// two carriers and on plain OS threads at once, all contending.
#pragma once
#include <atomic>
#include <thread>
#include <vector>

#include "scheduler.h"

namespace cohook::test {

// body(id), each id in 0..2*per_carrier+plain-1 once. With
// shared_stacks, the carriers run their coroutines on copied stacks.
template <class F>
void contend(int per_carrier, int plain, F&& body, unsigned shared_stacks = 0) {
  struct Ctx {
    F* body;
    std::atomic<int> next{0};
  } ctx{&body};
  auto entry = [](void* p) {
    auto* c = static_cast<Ctx*>(p);
    (*c->body)(c->next.fetch_add(1));
  };
  std::atomic<int> started{0};
  auto carrier = [&] {
    Scheduler::Options o;
    o.shared_stacks = shared_stacks;
    Scheduler s(o);
    for (int i = 0; i < per_carrier; ++i) s.spawn(entry, &ctx, {.detached = true});
    started.fetch_add(1);
    s.run();
  };
  // The carriers are built one after the other: once under qemu-aarch64 the
  // two, built at once, both ended asleep in futex before starting (open,
  // not understood; never seen natively). Contention is what comes after.
  std::vector<std::thread> ts;
  ts.emplace_back(carrier);
  while (started.load() < 1) std::this_thread::yield();
  ts.emplace_back(carrier);
  while (started.load() < 2) std::this_thread::yield();
  for (int i = 0; i < plain; ++i) ts.emplace_back([&] { entry(&ctx); });
  for (auto& t : ts) t.join();
}

// Runs fn on a coroutine of a fresh carrier (on this thread) and joins it.
template <class F>
void on_coroutine(F&& fn) {
  Scheduler s;
  Coroutine* co = s.spawn([](void* p) { (*static_cast<F*>(p))(); }, &fn);
  Scheduler::join(co);
}

}  // namespace cohook::test
