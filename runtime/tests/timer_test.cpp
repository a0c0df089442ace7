#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "scheduler.h"
#include "timer_heap.h"

using namespace cohook;

namespace {
struct Rec {
  Timer t;
  std::vector<int>* log;
  int id;
  static void fire(Timer* t) {
    auto* r = reinterpret_cast<Rec*>(t);
    r->log->push_back(r->id);
  }
};
}  // namespace

TEST(TimerHeap, FiresInDeadlineOrderFifoOnTiesAndCancels) {
  TimerHeap h;
  std::vector<int> log;
  std::vector<Rec> r(1000);
  std::mt19937 rng(42);
  for (int i = 0; i < 1000; ++i) {
    r[i].t.when = Deadline(rng() % 100);  // many ties
    r[i].t.fire = &Rec::fire;
    r[i].log = &log;
    r[i].id = i;
    h.add(&r[i].t);
  }
  for (int i = 0; i < 1000; i += 3) EXPECT_TRUE(h.cancel(&r[i].t));
  EXPECT_FALSE(h.cancel(&r[0].t));
  EXPECT_EQ(h.expire(49), size_t(std::count_if(r.begin(), r.end(), [&](const Rec& x) {
              return x.id % 3 && x.t.when <= 49;
            })));
  h.expire(1000);
  EXPECT_TRUE(h.empty());
  ASSERT_EQ(log.size(), 666u);
  for (size_t i = 1; i < log.size(); ++i) {
    const Rec &a = r[log[i - 1]], &b = r[log[i]];
    ASSERT_TRUE(a.t.when < b.t.when || (a.t.when == b.t.when && a.id < b.id)) << i;
  }
}

// Through the scheduler: sleepers wake in deadline order and never early.
TEST(SchedulerTimers, SleepersWakeInOrderNeverEarly) {
  Scheduler s;
  struct Sleeper {
    Nanos delay;
    Nanos woke_late = -1;
    std::vector<int>* order;
    int id;
  };
  std::vector<int> order;
  std::vector<Sleeper> sl;
  const int n = 50;
  for (int i = 0; i < n; ++i) sl.push_back({Nanos((n - i) * 2) * 1000000, -1, &order, i});
  for (auto& x : sl)
    s.spawn(
        [](void* a) {
          auto* x = static_cast<Sleeper*>(a);
          Deadline d = deadline_after(x->delay);
          Scheduler::sleep_until(d);
          x->woke_late = now_ns() - d;
          x->order->push_back(x->id);
        },
        &x, {.detached = true});
  s.run();
  ASSERT_EQ(order.size(), size_t(n));
  for (int i = 0; i < n; ++i) EXPECT_EQ(order[i], n - 1 - i);
  for (auto& x : sl) {
    EXPECT_GE(x.woke_late, 0) << "woke before its deadline";
    EXPECT_LT(x.woke_late, 200 * 1000000) << "woke far too late";
  }
}
