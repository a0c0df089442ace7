// Thread (a program's pthread as a coroutine) and CarrierSet (placement over
// carriers): joins, exit by unwinding, detach, TSD destructors, placement
// that never migrates. One carrier set for the whole binary: carriers live
// as long as the process, as under the shim.
#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "carrier_set.h"
#include "thread.h"

using namespace cohook;

namespace {

int start_os_thread(void* (*fn)(void*), void* arg) {
  pthread_t t;
  int r = pthread_create(&t, nullptr, fn, arg);
  if (r == 0) pthread_detach(t);
  return r;
}
Scheduler* make_scheduler() {
  if (Scheduler* s = Scheduler::current()) return s;
  return Scheduler::try_create(Scheduler::Options{});
}

// Carrier 0 is this test thread's scheduler, made once and kept.
CarrierSet& carriers() {
  static CarrierSet* set = [] {
    auto* c = new CarrierSet;
    c->configure(2, &start_os_thread, &make_scheduler);
    c->set_first(make_scheduler());
    return c;
  }();
  return *set;
}

Thread* spawn(void* (*fn)(void*), void* arg, bool detached = false) {
  uintptr_t h = 0;
  EXPECT_EQ(Thread::create(carriers().pick(), fn, arg, 0, detached, "t", &h), 0);
  return Thread::from_handle(h);
}

struct Noisy {
  std::atomic<int>* count;
  ~Noisy() { ++*count; }
};
std::atomic<int> g_destroyed{0};

void exit_from_depth(int depth) {
  Noisy n{&g_destroyed};
  if (depth < 0) return;  // (never: keeps gcc from calling this endless recursion)
  if (depth == 0)
    Thread::exit(reinterpret_cast<void*>(42), nullptr);
  else
    exit_from_depth(depth - 1);
}

}  // namespace

TEST(Thread, JoinGivesTheResultAndExitUnwindsDestructors) {
  carriers();
  Thread* a = spawn([](void* p) -> void* { return static_cast<char*>(p) + 1; }, reinterpret_cast<void*>(6));
  Thread* b = spawn([](void*) -> void* {
    exit_from_depth(5);
    return nullptr;  // not reached
  }, nullptr);
  void* ra = nullptr;
  void* rb = nullptr;
  ASSERT_EQ(a->join(&ra, kForever, false), 0);
  ASSERT_EQ(b->join(&rb, kForever, false), 0);
  EXPECT_EQ(ra, reinterpret_cast<void*>(7));
  EXPECT_EQ(rb, reinterpret_cast<void*>(42));
  EXPECT_EQ(g_destroyed.load(), 6);  // every frame's local, innermost first
}

TEST(Thread, TryJoinTimedJoinAndDetach) {
  static std::atomic<bool> release{false};
  Thread* t = spawn([](void*) -> void* {
    while (!release.load()) Scheduler::sleep_for(1000 * 1000);
    return nullptr;
  }, nullptr);
  EXPECT_EQ(t->join(nullptr, 0, true), EBUSY);
  Nanos t0 = now_ns();
  EXPECT_EQ(t->join(nullptr, deadline_after(50 * 1000 * 1000), false), ETIMEDOUT);
  EXPECT_GE(now_ns() - t0, 50 * 1000 * 1000);  // never early
  release = true;
  EXPECT_EQ(t->join(nullptr, kForever, false), 0);

  // Detached while running: freed when it ends; a second detach is EINVAL.
  release = false;
  size_t before = Thread::live();
  Thread* d = spawn([](void*) -> void* {
    while (!release.load()) Scheduler::sleep_for(1000 * 1000);
    return nullptr;
  }, nullptr);
  EXPECT_EQ(d->detach(), 0);
  EXPECT_EQ(d->detach(), EINVAL);
  release = true;
  while (Thread::live() > before) Scheduler::sleep_for(1000 * 1000);
  // Created detached: never touched again by the creator (it may be gone).
  spawn([](void*) -> void* { return nullptr; }, nullptr, /*detached=*/true);
  while (Thread::live() > before) Scheduler::sleep_for(1000 * 1000);
}

TEST(Thread, KeyDestructorsRunAtExitInRounds) {
  static unsigned key;
  static std::atomic<int> calls{0};
  ASSERT_EQ(tsd::key_create(&key, [](void* v) {
    ++calls;
    // Setting it again asks for another round (POSIX), up to the limit.
    if (reinterpret_cast<uintptr_t>(v) < 3) tsd::set(key, reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(v) + 1));
  }), 0);
  Thread* t = spawn([](void*) -> void* {
    tsd::set(key, reinterpret_cast<void*>(1));
    EXPECT_EQ(tsd::get(key), reinterpret_cast<void*>(1));
    return nullptr;
  }, nullptr);
  ASSERT_EQ(t->join(nullptr, kForever, false), 0);
  EXPECT_EQ(calls.load(), 3);             // values 1, 2, 3
  EXPECT_EQ(tsd::get(key), nullptr);      // this context never set it
  EXPECT_EQ(tsd::key_delete(key), 0);
  EXPECT_EQ(tsd::set(key, &calls), EINVAL);  // deleted
}

TEST(CarrierSet, PlacementIsBalancedAndNeverMigrates) {
  carriers();
  constexpr int kThreads = 100;
  struct Seen {
    std::atomic<int> moved{0};
    std::atomic<Scheduler*> where[kThreads];
  };
  static Seen seen;
  std::vector<Thread*> ts;
  for (long i = 0; i < kThreads; ++i)
    ts.push_back(spawn([](void* p) -> void* {
      long i = reinterpret_cast<long>(p);
      Scheduler* home = Scheduler::current();
      seen.where[i] = home;
      for (int k = 0; k < 20; ++k) {
        Scheduler::sleep_for(100 * 1000);
        if (Scheduler::current() != home) ++seen.moved;
      }
      return nullptr;
    }, reinterpret_cast<void*>(i)));
  for (Thread* t : ts) ASSERT_EQ(t->join(nullptr, kForever, false), 0);
  EXPECT_EQ(carriers().running(), 2u);
  std::set<Scheduler*> used;
  int on_first = 0;
  for (auto& w : seen.where) {
    used.insert(w.load());
    on_first += w.load() == Scheduler::current();
  }
  EXPECT_EQ(used.size(), 2u);
  EXPECT_GE(on_first, kThreads / 4);  // least loaded: roughly half each
  EXPECT_LE(on_first, kThreads * 3 / 4);
  EXPECT_EQ(seen.moved.load(), 0);
}
