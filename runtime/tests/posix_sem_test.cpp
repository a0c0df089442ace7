#include "posix_sem.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <thread>

#include "contend.h"

using namespace cohook;
using cohook::test::contend;
using cohook::test::on_coroutine;

namespace {
constexpr Nanos kMs = 1000000;

struct Storage {
  alignas(8) unsigned char bytes[32];
};
}  // namespace

TEST(Semaphore, CountsAndErrors) {
  Storage st;
  Semaphore* s;
  EXPECT_EQ(Semaphore::init_at(st.bytes, Semaphore::kMax + 1u, &s), EINVAL);
  ASSERT_EQ(Semaphore::init_at(st.bytes, 2, &s), 0);
  EXPECT_TRUE(Semaphore::is_ours(st.bytes));
  EXPECT_EQ(s->value(), 2);
  EXPECT_TRUE(s->try_wait());
  EXPECT_EQ(s->wait(), 0);
  EXPECT_FALSE(s->try_wait());
  EXPECT_EQ(s->value(), 0);
  EXPECT_EQ(s->post(), 0);
  EXPECT_EQ(s->value(), 1);
  ASSERT_EQ(Semaphore::init_at(st.bytes, Semaphore::kMax, &s), 0);
  EXPECT_EQ(s->post(), EOVERFLOW);
  EXPECT_EQ(s->value(), int(Semaphore::kMax));
  s->destroy();
  EXPECT_FALSE(Semaphore::is_ours(st.bytes));
}

TEST(Semaphore, TimedWaitNeverEarly) {
  Storage st;
  Semaphore* s;
  ASSERT_EQ(Semaphore::init_at(st.bytes, 0, &s), 0);
  Deadline d = now_ns() + 25 * kMs;
  EXPECT_EQ(s->wait_until(d), ETIMEDOUT);
  EXPECT_GE(now_ns(), d);
  std::thread([&] {
    on_coroutine([&] {
      Deadline d = now_ns() + 20 * kMs;
      EXPECT_EQ(s->wait_until(d), ETIMEDOUT);
      EXPECT_GE(now_ns(), d);
      EXPECT_EQ(s->wait_until(now_ns() - kMs), ETIMEDOUT);
    });
  }).join();
  s->post();
  EXPECT_EQ(s->wait_until(now_ns() - kMs), 0);  // available: the deadline does not matter
}

// Tokens passed between coroutines on two carriers and plain threads: every
// post is consumed exactly once.
TEST(Semaphore, ProducersAndConsumersEverywhere) {
  Storage st;
  Semaphore* s;
  ASSERT_EQ(Semaphore::init_at(st.bytes, 0, &s), 0);
  constexpr int kPer = 3000;
  std::atomic<long> consumed{0};
  contend(6, 4, [&](int id) {
    for (int i = 0; i < kPer; ++i) {
      if (id % 2) {
        ASSERT_EQ(s->post(), 0);
        if (i % 100 == 0) Scheduler::yield();
      } else if (i % 3 == 0) {
        int r;
        while ((r = s->wait_until(deadline_after(kMs))) == ETIMEDOUT) {
        }
        ASSERT_EQ(r, 0);
        consumed++;
      } else {
        ASSERT_EQ(s->wait(), 0);
        consumed++;
      }
    }
  });
  EXPECT_EQ(consumed.load(), 8L * kPer);
  EXPECT_EQ(s->value(), 0);
}

// sem_wait then sem_destroy and free, while the poster may still be inside
// post (ASan checks the poster touches nothing after the wake it finishes).
TEST(Semaphore, WaiterMayFreeAfterWakeup) {
  for (int round = 0; round < 2000; ++round) {
    auto* st = new Storage;
    Semaphore* s;
    ASSERT_EQ(Semaphore::init_at(st->bytes, 0, &s), 0);
    std::thread poster([s] { s->post(); });
    ASSERT_EQ(s->wait(), 0);
    s->destroy();
    poster.join();  // (a fast-path wait may see the value before post returns)
    delete st;
  }
}

namespace {
Semaphore* g_sem;
std::atomic<int> g_posted{0};
void post_from_handler(int) {
  g_sem->post();  // async-signal-safe
  g_posted++;
  Scheduler::note_signal(false);
}
}  // namespace

// A signal handler posts while the interrupted thread may hold the list lock.
TEST(Semaphore, PostFromSignalHandlers) {
  Storage st;
  ASSERT_EQ(Semaphore::init_at(st.bytes, 0, &g_sem), 0);
  g_posted = 0;
  struct sigaction sa = {};
  sa.sa_handler = post_from_handler;
  sa.sa_flags = SA_RESTART;
  ASSERT_EQ(sigaction(SIGUSR1, &sa, nullptr), 0);
  constexpr int kSignals = 3000;
  std::atomic<pthread_t> waiter_thread{};
  std::atomic<int> taken{0};
  std::thread waiter([&] {
    waiter_thread = pthread_self();
    while (taken.load() < kSignals) {
      int r = g_sem->wait();
      if (r == 0) taken++;
      else ASSERT_EQ(r, EINTR);
    }
  });
  while (!waiter_thread.load()) std::this_thread::yield();
  for (int i = 0; i < kSignals; ++i) {
    pthread_kill(waiter_thread.load(), SIGUSR1);
    while (g_posted.load() <= i) std::this_thread::yield();
  }
  waiter.join();
  EXPECT_EQ(taken.load(), kSignals);
  signal(SIGUSR1, SIG_DFL);
}

// A plain thread blocked in wait returns EINTR when a handler installed
// without SA_RESTART runs on it; with SA_RESTART it goes on waiting.
TEST(Semaphore, SignalInterruptsAWaitingThread) {
  Storage st;
  Semaphore* s;
  ASSERT_EQ(Semaphore::init_at(st.bytes, 0, &s), 0);
  for (bool restart : {true, false}) {
    struct sigaction sa = {};
    sa.sa_handler = restart ? [](int) { Scheduler::note_signal(true); } : [](int) { Scheduler::note_signal(false); };
    sa.sa_flags = restart ? SA_RESTART : 0;
    ASSERT_EQ(sigaction(SIGUSR2, &sa, nullptr), 0);
    std::atomic<pthread_t> th{};
    std::atomic<int> result{-1};
    std::thread waiter([&] {
      th = pthread_self();
      Parker::current()->begin_interruptible();
      result = s->wait();
    });
    while (!th.load()) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    pthread_kill(th.load(), SIGUSR2);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (restart) {
      EXPECT_EQ(result.load(), -1);  // still waiting
      s->post();
    }
    waiter.join();
    EXPECT_EQ(result.load(), restart ? 0 : EINTR);
    EXPECT_EQ(s->value(), 0);
  }
  signal(SIGUSR2, SIG_DFL);
}
