// futex_table: futex(2)-style waits that park coroutines, woken by
// coroutines of the same carrier, of another carrier, or by plain threads.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "futex_table.h"
#include "scheduler.h"

using namespace cohook;

TEST(FutexTable, ValueMismatchTimeoutAndWake) {
  Scheduler s;
  std::atomic<uint32_t> word{1};
  EXPECT_EQ(futex_table::wait(&word, 0, kForever, ~0u), EAGAIN);  // not the expected value
  Nanos t0 = now_ns();
  EXPECT_EQ(futex_table::wait(&word, 1, deadline_after(30 * 1000 * 1000), ~0u), ETIMEDOUT);
  EXPECT_GE(now_ns() - t0, 30 * 1000 * 1000);  // never early

  // A waiter on the same carrier as its waker: the carrier keeps running.
  struct Ctx {
    std::atomic<uint32_t> word{0};
    int woke = 0;
  } c;
  Coroutine* waiter = s.spawn([](void* p) {
    auto* c = static_cast<Ctx*>(p);
    while (c->word.load() == 0)
      if (futex_table::wait(&c->word, 0, kForever, ~0u) == 0) c->woke++;
  }, &c);
  Coroutine* waker = s.spawn([](void* p) {
    auto* c = static_cast<Ctx*>(p);
    Scheduler::sleep_for(5 * 1000 * 1000);
    c->word.store(1);
    EXPECT_EQ(futex_table::wake(&c->word, 1, ~0u), 1);
  }, &c);
  Scheduler::join(waiter);
  Scheduler::join(waker);
  EXPECT_EQ(c.woke, 1);
}

TEST(FutexTable, BitsetsSelectWaitersAndThreadsWakeCoroutines) {
  Scheduler s;
  static std::atomic<uint32_t> word{0};
  static std::atomic<int> woken_a{0}, woken_b{0};
  Coroutine* a = s.spawn([](void*) {
    if (futex_table::wait(&word, 0, deadline_after(2000LL * 1000 * 1000), 0x1) == 0) woken_a++;
  }, nullptr);
  Coroutine* b = s.spawn([](void*) {
    if (futex_table::wait(&word, 0, deadline_after(2000LL * 1000 * 1000), 0x2) == 0) woken_b++;
  }, nullptr);
  Scheduler::sleep_for(5 * 1000 * 1000);  // both parked
  // A plain thread wakes only the waiters whose bitset matches.
  std::thread t([] { EXPECT_EQ(futex_table::wake(&word, 10, 0x2), 1); });
  t.join();
  Scheduler::join(b);
  EXPECT_EQ(woken_b.load(), 1);
  EXPECT_EQ(woken_a.load(), 0);
  EXPECT_EQ(futex_table::wake(&word, 10, 0x1), 1);
  Scheduler::join(a);
  EXPECT_EQ(woken_a.load(), 1);
}
