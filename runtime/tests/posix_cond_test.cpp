#include "posix_cond.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "contend.h"

using namespace cohook;
using cohook::test::contend;
using cohook::test::on_coroutine;

namespace {

constexpr Nanos kMs = 1000000;

// Bounded-queue producer/consumer: producers and consumers are coroutines
// on two carriers and plain threads, all on one mutex of `kind`.
void producer_consumer(int32_t kind) {
  PosixMutex m(kind);
  PosixCond not_empty, not_full;
  std::vector<int> q;
  long sum = 0;
  int produced = 0, consumed = 0;
  const int kItems = 20000, kProducers = 3;
  contend(5, 3, [&](int id) {
    if (id < kProducers) {
      for (;;) {
        ASSERT_EQ(m.lock(), 0);
        while (q.size() >= 8 && produced < kItems) ASSERT_EQ(not_full.wait(m), 0);
        if (produced == kItems) {
          not_empty.broadcast();
          m.unlock();
          return;
        }
        q.push_back(++produced);
        not_empty.signal();
        ASSERT_EQ(m.unlock(), 0);
      }
    }
    for (;;) {
      ASSERT_EQ(m.lock(), 0);
      if (kind == PosixMutex::kRecursive) {  // waits release every level
        ASSERT_EQ(m.lock(), 0);
      }
      while (q.empty() && !(produced == kItems && q.empty())) ASSERT_EQ(not_empty.wait(m), 0);
      bool done = q.empty();
      if (!done) {
        sum += q.back();
        q.pop_back();
        ++consumed;
        not_full.signal();
      }
      if (kind == PosixMutex::kRecursive) {
        ASSERT_EQ(m.unlock(), 0);
      }
      ASSERT_EQ(m.unlock(), 0);
      if (done) return;
    }
  });
  EXPECT_EQ(consumed, kItems);
  EXPECT_EQ(sum, long(kItems) * (kItems + 1) / 2);
}

}  // namespace

TEST(PosixCond, ProducerConsumerNormalMutex) { producer_consumer(PosixMutex::kNormal); }
TEST(PosixCond, ProducerConsumerRecursiveMutex) { producer_consumer(PosixMutex::kRecursive); }
TEST(PosixCond, ProducerConsumerErrorCheckMutex) { producer_consumer(PosixMutex::kErrorCheck); }

TEST(PosixCond, TimedWaitNeverEarlyAndReacquires) {
  for (int32_t kind : {PosixMutex::kNormal, PosixMutex::kRecursive, PosixMutex::kErrorCheck}) {
    PosixMutex m(kind);
    PosixCond cv;
    auto check = [&](Nanos wait) {
      ASSERT_EQ(m.lock(), 0);
      Deadline d = now_ns() + wait;
      EXPECT_EQ(cv.wait_until(m, d), ETIMEDOUT);
      EXPECT_GE(now_ns(), d);
      EXPECT_TRUE(m.is_locked());
      EXPECT_EQ(m.unlock(), 0);  // held again, by the caller
    };
    check(25 * kMs);
    std::thread([&] { check(15 * kMs); }).join();
    std::thread([&] { on_coroutine([&] { check(15 * kMs); }); }).join();
    ASSERT_EQ(m.lock(), 0);
    EXPECT_EQ(cv.wait_until(m, now_ns() - kMs), ETIMEDOUT);  // past: still releases and retakes
    EXPECT_EQ(m.unlock(), 0);
    EXPECT_FALSE(cv.has_waiters());
  }
}

TEST(PosixCond, WaitWithoutOwningAnErrorCheckMutexIsEperm) {
  PosixMutex m(PosixMutex::kErrorCheck);
  PosixCond cv;
  EXPECT_EQ(cv.wait_until(m, deadline_after(kMs)), EPERM);
  ASSERT_EQ(m.lock(), 0);
  std::thread([&] { EXPECT_EQ(cv.wait(m), EPERM); }).join();
  EXPECT_FALSE(cv.has_waiters());
  // The cancelled waits left nothing behind: a signal now wakes a real waiter.
  std::atomic<bool> woke{false};
  std::thread w([&] {
    ASSERT_EQ(m.lock(), 0);
    EXPECT_EQ(cv.wait(m), 0);
    woke = true;
    m.unlock();
  });
  m.unlock();
  while (!cv.has_waiters()) std::this_thread::yield();
  m.lock();
  cv.signal();
  m.unlock();
  w.join();
  EXPECT_TRUE(woke.load());
}

TEST(PosixCond, BroadcastWakesEveryWaiterEverywhere) {
  PosixMutex m;
  PosixCond cv;
  int generation = 0;
  std::atomic<int> waiting{0}, woken{0};
  std::thread kicker([&] {
    while (waiting.load() < 14) std::this_thread::yield();
    m.lock();
    ++generation;
    cv.broadcast();
    m.unlock();
  });
  contend(6, 2, [&](int) {
    m.lock();
    int g = generation;
    waiting++;
    while (generation == g) cv.wait(m);
    woken++;
    m.unlock();
  });
  kicker.join();
  EXPECT_EQ(woken.load(), 14);
}

// POSIX's example: the broadcaster destroys and frees the cond while the
// waiters it woke have not returned yet. They must not touch it again.
TEST(PosixCond, DestroyRightAfterBroadcast) {
  for (int round = 0; round < 300; ++round) {
    PosixMutex m;
    bool done = false;
    auto* cv = new PosixCond;
    std::atomic<int> waiting{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < 3; ++i)
      ts.emplace_back([&, cv] {
        m.lock();
        waiting++;
        while (!done) cv->wait(m);  // done is set before cv goes
        m.unlock();
      });
    while (waiting.load() < 3) std::this_thread::yield();
    m.lock();
    done = true;
    cv->broadcast();
    EXPECT_EQ(cv->destroy(), 0);
    delete cv;  // ASan: any touch by a woken waiter is a use-after-free
    m.unlock();
    for (auto& t : ts) t.join();
  }
}

TEST(PosixCond, ClockAndLayout) {
  alignas(8) unsigned char storage[48] = {};
  auto* cv = reinterpret_cast<PosixCond*>(storage);
  EXPECT_EQ(cv->clock(), CLOCK_REALTIME);
  EXPECT_EQ(PosixCond::init_at(storage, CLOCK_MONOTONIC)->clock(), CLOCK_MONOTONIC);
  uint32_t wrefs;
  memcpy(&wrefs, storage + PosixCond::kFlagsOffset, 4);
  EXPECT_EQ(wrefs, PosixCond::kMonotonicBit);  // glibc's bit for the clock
  cv->signal();
  cv->broadcast();
  EXPECT_EQ(cv->destroy(), 0);
}

// A hard interrupt of the waiter's Parker (what a cancellation request does)
// ends the wait like a spurious wake-up: 0, the mutex held, off the queue.
TEST(PosixCond, HardInterruptEndsTheWaitWithTheMutexHeld) {
  PosixMutex m(PosixMutex::kErrorCheck);
  PosixCond cv;
  std::atomic<Parker*> waiter{nullptr};
  std::atomic<int> result{-1};
  std::thread t([&] {
    on_coroutine([&] {
      Parker::current()->begin_interruptible();
      ASSERT_EQ(m.lock(), 0);
      waiter = Parker::current();
      result = cv.wait(m);
      EXPECT_TRUE(m.held_by_caller());
      EXPECT_EQ(m.unlock(), 0);
    });
  });
  while (!waiter.load() || !cv.has_waiters()) std::this_thread::yield();
  waiter.load()->mark_interrupted(false);
  waiter.load()->unpark();
  t.join();
  EXPECT_EQ(result.load(), 0);
  EXPECT_FALSE(cv.has_waiters());
}
