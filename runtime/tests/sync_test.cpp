#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "scheduler.h"
#include "sync.h"

using namespace cohook;

// Two carriers and a plain thread all increment one counter under a Mutex;
// many coroutines per carrier, each yielding while holding the lock.
TEST(Mutex, ExclusiveAcrossCarriersCoroutinesAndPlainThreads) {
  Mutex m;
  long counter = 0;
  std::atomic<int> inside{0};
  std::atomic<bool> overlap{false};
  struct Ctx {
    Mutex* m;
    long* counter;
    std::atomic<int>* inside;
    std::atomic<bool>* overlap;
  } ctx{&m, &counter, &inside, &overlap};
  auto work = [](void* p) {
    auto* c = static_cast<Ctx*>(p);
    for (int i = 0; i < 2000; ++i) {
      c->m->lock();
      if (c->inside->fetch_add(1) != 0) c->overlap->store(true);
      long v = *c->counter;
      if (i % 50 == 0) Scheduler::yield();  // held across a switch
      *c->counter = v + 1;
      c->inside->fetch_sub(1);
      c->m->unlock();
    }
  };
  auto carrier = [&] {
    Scheduler s;
    for (int i = 0; i < 8; ++i) s.spawn(work, &ctx, {.detached = true});
    s.run();
  };
  std::thread a(carrier), b(carrier), plain([&] { work(&ctx); });
  a.join();
  b.join();
  plain.join();
  EXPECT_FALSE(overlap.load());
  EXPECT_EQ(counter, 17 * 2000);
}

TEST(Mutex, LockUntilTimesOut) {
  Scheduler s;
  Mutex m;
  m.lock();
  std::thread other([&] {
    Nanos t0 = now_ns();
    EXPECT_FALSE(m.lock_until(deadline_after(30 * 1000000)));
    EXPECT_GE(now_ns() - t0, 30 * 1000000);
  });
  other.join();
  Coroutine* co = s.spawn(
      [](void* p) {
        auto* m = static_cast<Mutex*>(p);
        EXPECT_FALSE(m->lock_until(deadline_after(20 * 1000000)));
      },
      &m);
  Scheduler::join(co);
  m.unlock();
  EXPECT_TRUE(m.try_lock());
  m.unlock();
}

// Producer/consumer over a bounded queue, consumers on two carriers.
TEST(CondVar, ProducerConsumerAcrossCarriers) {
  Mutex m;
  CondVar not_empty, not_full;
  std::vector<int> q;
  long sum = 0, consumed = 0;
  const int kItems = 20000;
  bool done = false;
  auto consumer = [&] {
    Scheduler s;
    struct C {
      Mutex* m;
      CondVar *ne, *nf;
      std::vector<int>* q;
      long *sum, *consumed;
      bool* done;
    } c{&m, &not_empty, &not_full, &q, &sum, &consumed, &done};
    for (int i = 0; i < 4; ++i)
      s.spawn(
          [](void* p) {
            auto* c = static_cast<C*>(p);
            for (;;) {
              c->m->lock();
              while (c->q->empty() && !*c->done) c->ne->wait(*c->m);
              if (c->q->empty()) {
                c->m->unlock();
                return;
              }
              *c->sum += c->q->back();
              c->q->pop_back();
              ++*c->consumed;
              c->nf->notify_one();
              c->m->unlock();
            }
          },
          &c, {.detached = true});
    s.run();
  };
  std::thread c1(consumer), c2(consumer);
  for (int i = 1; i <= kItems; ++i) {
    m.lock();
    while (q.size() >= 16) not_full.wait(m);
    q.push_back(i);
    not_empty.notify_one();
    m.unlock();
  }
  m.lock();
  done = true;
  not_empty.notify_all();
  m.unlock();
  c1.join();
  c2.join();
  EXPECT_EQ(consumed, kItems);
  EXPECT_EQ(sum, long(kItems) * (kItems + 1) / 2);
}

TEST(CondVar, TimedWaitTimesOutNeverEarlyAndReacquires) {
  Scheduler s;
  Mutex m;
  CondVar cv;
  struct A {
    Mutex* m;
    CondVar* cv;
    bool signaled = true;
    Nanos waited = 0;
    bool held = false;
  } a{&m, &cv};
  Coroutine* co = s.spawn(
      [](void* p) {
        auto* a = static_cast<A*>(p);
        a->m->lock();
        Nanos t0 = now_ns();
        a->signaled = a->cv->wait_until(*a->m, deadline_after(25 * 1000000));
        a->waited = now_ns() - t0;
        a->held = !a->m->try_lock();
        a->m->unlock();
      },
      &a);
  Scheduler::join(co);
  EXPECT_FALSE(a.signaled);
  EXPECT_GE(a.waited, 25 * 1000000);
  EXPECT_TRUE(a.held);
}
