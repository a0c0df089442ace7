#include <gtest/gtest.h>
#include <sys/resource.h>

#include <atomic>
#include <thread>
#include <vector>

#include "sanitizers.h"
#include "scheduler.h"

using namespace cohook;

static Nanos cpu_time_ns() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (Nanos(ru.ru_utime.tv_sec) + ru.ru_stime.tv_sec) * 1000000000 +
         (Nanos(ru.ru_utime.tv_usec) + ru.ru_stime.tv_usec) * 1000;
}

TEST(Scheduler, SpawnJoinAndYieldInterleave) {
  Scheduler s;
  std::vector<int> log;
  struct Arg {
    std::vector<int>* log;
    int id;
  } a{&log, 1}, b{&log, 2};
  auto body = [](void* p) {
    auto* x = static_cast<Arg*>(p);
    for (int i = 0; i < 3; ++i) {
      x->log->push_back(x->id);
      Scheduler::yield();
    }
  };
  Coroutine* c1 = s.spawn(body, &a);
  Coroutine* c2 = s.spawn(body, &b);
  Scheduler::join(c1);
  Scheduler::join(c2);
  EXPECT_EQ(log, (std::vector<int>{1, 2, 1, 2, 1, 2}));
  EXPECT_EQ(s.stats().live, 0u);
}

TEST(Scheduler, HundredThousandCoroutinesCreateRunFinish) {
  Scheduler s;
  long count = 0;
  for (int i = 0; i < 100000; ++i) {
    ASSERT_NE(s.spawn([](void* p) { ++*static_cast<long*>(p); }, &count, {.detached = true}), nullptr);
    if (i % 1000 == 999) s.run();  // finished ones hand their stacks back
  }
  s.run();
  EXPECT_EQ(count, 100000);
  EXPECT_LE(s.stack_pool().stats().maps, 1000u + 1);  // recycled, not 100k mappings
}

TEST(Scheduler, TenThousandSleepersLeaveTheCarrierIdle) {
  Scheduler s;
  for (int i = 0; i < 10000; ++i)
    s.spawn([](void*) { Scheduler::sleep_for(2500 * 1000000LL); }, nullptr, {.detached = true});
  // Let all of them start and park; then measure 2 s of idleness.
  Scheduler::sleep_for(200 * 1000000LL);
  uint64_t polls_before = s.stats().polls;
  Nanos cpu0 = cpu_time_ns();
  Scheduler::sleep_for(2000 * 1000000LL);
  Nanos cpu = cpu_time_ns() - cpu0;
  EXPECT_LT(cpu, 20 * 1000000) << "CPU used while idle: " << cpu / 1000 << " us";
  EXPECT_LE(s.stats().polls - polls_before, 3u) << "the carrier woke up while idle";
  s.run();
}

// Coroutines parked on this carrier, woken 1M times from two other threads.
TEST(Scheduler, MillionCrossThreadWakeupsNoneLost) {
  Scheduler s;
  constexpr int kWaiters = 64;
  constexpr long kTotal = 1000000;
  struct Slot {
    std::atomic<long> posted{0};
    long seen = 0;
    std::atomic<Parker*> parker{nullptr};
    std::atomic<bool> stop{false};
  };
  std::vector<Slot> slots(kWaiters);
  for (auto& sl : slots)
    s.spawn(
        [](void* p) {
          auto* sl = static_cast<Slot*>(p);
          sl->parker.store(Parker::current());
          for (;;) {
            long now = sl->posted.load(std::memory_order_acquire);
            if (now > sl->seen) {
              sl->seen = now;
              continue;
            }
            if (sl->stop.load()) return;
            Parker::current()->park();
          }
        },
        &sl, {.detached = true});
  Scheduler::yield();  // let them publish their parkers
  std::atomic<long> sent{0};
  auto producer = [&](int first) {
    for (long i = first; i < kTotal; i += 2) {
      Slot& sl = slots[i % kWaiters];
      sl.posted.fetch_add(1, std::memory_order_release);
      sl.parker.load()->unpark();
      sent.fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::thread p1(producer, 0), p2(producer, 1);
  // main parks too, so the carrier runs the waiters while producers work.
  while (sent.load() < kTotal) Scheduler::sleep_for(1000000);
  p1.join();
  p2.join();
  for (auto& sl : slots) {
    sl.stop.store(true);
    sl.parker.load()->unpark();
  }
  s.run();
  long seen = 0;
  for (auto& sl : slots) {
    EXPECT_EQ(sl.seen, sl.posted.load());
    seen += sl.seen;
  }
  EXPECT_EQ(seen, kTotal);
}

// A coroutine on carrier A joined from carrier B (another thread).
TEST(Scheduler, JoinAcrossCarriers) {
  std::atomic<Coroutine*> co{nullptr};
  std::atomic<bool> joined{false};
  std::thread a([&] {
    Scheduler s;
    co.store(s.spawn([](void*) { Scheduler::sleep_for(50 * 1000000); }, nullptr));
    while (!joined.load()) Scheduler::sleep_for(1000000);
  });
  std::thread b([&] {
    Scheduler s;
    while (!co.load()) Scheduler::sleep_for(100000);
    Scheduler::join(co.load());
    joined.store(true);
  });
  a.join();
  b.join();
  EXPECT_TRUE(joined.load());
}

TEST(Scheduler, JoinUntilTimesOutThenJoins) {
  Scheduler s;
  Coroutine* co = s.spawn([](void*) { Scheduler::sleep_for(100 * 1000000); }, nullptr);
  Nanos t0 = now_ns();
  EXPECT_FALSE(Scheduler::join_until(co, deadline_after(20 * 1000000)));
  EXPECT_GE(now_ns() - t0, 20 * 1000000);
  EXPECT_TRUE(Scheduler::join_until(co, kForever));
}

TEST(Scheduler, StatesAreVisible) {
  Scheduler s;
  Coroutine* co = s.spawn([](void*) { Parker::current()->park(); }, nullptr, {.name = "worker"});
  EXPECT_EQ(co->state(), CoState::Ready);
  Scheduler::yield();
  EXPECT_EQ(co->state(), CoState::Parked);
  int n = 0;
  s.for_each_coroutine([&](Coroutine& c) { n += std::string(c.name()) == "worker"; });
  EXPECT_EQ(n, 1);
  co->parker().unpark();
  Scheduler::join(co);
}

[[noreturn]] static void exhaust_scheduler() {
      Scheduler s(Scheduler::Options{.stack_size = 1 << 20});
      rlimit rl{768u << 20, 768u << 20};
      if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(10);
      long ran = 0;
      int spawned = 0;
      errno = 0;
      while (s.spawn([](void* p) { ++*static_cast<long*>(p); }, &ran, {.detached = true})) ++spawned;
      if (errno != EAGAIN) _exit(11);
      s.run();  // what was spawned still runs
      _exit(ran == spawned && spawned > 10 ? 0 : 12);
}

TEST(SchedulerDeathTest, OutOfStacksIsEagainNotACrash) {
  GTEST_FLAG_SET(death_test_style, COHOOK_DEATH_TEST_STYLE);
#if defined(COHOOK_ASAN) || defined(COHOOK_UNDER_QEMU)
  GTEST_SKIP() << "ASan's shadow and qemu's own reservations need the address space";
#endif
  EXPECT_EXIT(exhaust_scheduler(), testing::ExitedWithCode(0), "");
}

// Copy-stack mode under the scheduler: more coroutines than slots, each
// checking its own stack data across many switches.
TEST(Scheduler, SharedStacksKeepEachCoroutinesData) {
  Scheduler s(Scheduler::Options{.shared_stacks = 3, .shared_stack_size = 64 * 1024});
  struct Arg {
    int seed;
    int ok = 0;
  };
  std::vector<Arg> args(50);
  for (int i = 0; i < 50; ++i) args[i].seed = i;
  for (auto& a : args)
    s.spawn(
        [](void* p) {
          auto* a = static_cast<Arg*>(p);
          volatile int local[500];
          for (int r = 0; r < 20; ++r) {
            for (int i = 0; i < 500; ++i) local[i] = a->seed * 1000 + i + r;
            if (r % 2) Scheduler::yield();
            else Scheduler::sleep_for(100000);
            bool good = true;
            for (int i = 0; i < 500; ++i) good &= local[i] == a->seed * 1000 + i + r;
            a->ok += good;
          }
        },
        &a, {.detached = true});
  s.run();
  for (auto& a : args) EXPECT_EQ(a.ok, 20) << a.seed;
}
