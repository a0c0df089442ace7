// The process-wide counters behind COHOOK_STATS: parks by reason (counted
// once per blocking call), switches and epoll waits summed over carriers that
// are gone too, live/peak coroutines, stack bytes, offload waits.
#include <gtest/gtest.h>
#include <pthread.h>

#include "offload.h"
#include "park_stats.h"
#include "scheduler.h"
#include "scheduler_counters.h"
#include "stack_pool.h"

using namespace cohook;

TEST(ParkStats, ParkOnceCountsTheFirstParkOnly) {
  uint64_t before = parks_for(ParkReason::Dns), total = parks_total();
  ParkOnce once(ParkReason::Dns);
  once.note();
  once.note();
  once.note();
  EXPECT_EQ(parks_for(ParkReason::Dns), before + 1);
  EXPECT_EQ(parks_total(), total + 1);
  EXPECT_STREQ(park_reason_name(ParkReason::Dns), "dns");
  EXPECT_STREQ(park_reason_name(ParkReason::Offload), "offload");
}

TEST(ParkStats, AJoinThatWaitsIsOneJoinPark) {
  Scheduler s;
  uint64_t before = parks_for(ParkReason::Join);
  Coroutine* sleeper = s.spawn([](void*) { Scheduler::sleep_for(20 * 1000 * 1000); }, nullptr);
  Scheduler::join(sleeper);  // it has not even started: the join parks
  EXPECT_EQ(parks_for(ParkReason::Join), before + 1);
  Coroutine* quick = s.spawn([](void*) {}, nullptr);
  Scheduler::yield();  // it runs and finishes
  Scheduler::join(quick);  // nothing to wait for
  EXPECT_EQ(parks_for(ParkReason::Join), before + 1);
}

TEST(SchedulerCounters, SumsOutliveTheirSchedulerAndLiveHasAPeak) {
  CarrierCounters::Totals t0 = CarrierCounters::sum();
  size_t peak0 = LiveCoroutines::peak(), live0 = LiveCoroutines::now();
  uint64_t switches = 0;
  {
    Scheduler s;
    for (int i = 0; i < 3; ++i) s.spawn([](void*) { Scheduler::yield(); }, nullptr, Scheduler::SpawnOptions{0, true});
    EXPECT_EQ(LiveCoroutines::now(), live0 + 3);
    s.run();
    EXPECT_EQ(LiveCoroutines::now(), live0);
    EXPECT_GE(LiveCoroutines::peak(), std::max(peak0, live0 + 3));
    switches = s.stats().switches;
    EXPECT_GE(switches, 6u);  // each ran twice
  }
  CarrierCounters::Totals t1 = CarrierCounters::sum();
  EXPECT_GE(t1.switches, t0.switches + switches);  // still counted once it is gone
  EXPECT_GE(t1.carriers, 1u);

  // A new scheduler reuses the slot but counts its own from zero.
  Scheduler s2;
  EXPECT_EQ(s2.stats().switches, 0u);
  EXPECT_GE(CarrierCounters::sum().switches, t1.switches);
}

TEST(StackBytes, CommittedFollowsWhatThePoolHoldsReservedCoversIt) {
  uint64_t r0 = StackPool::reserved_bytes(), c0 = StackPool::committed_bytes();
  {
    StackPool pool(StackPool::Options{64 * 1024, 1, 0});  // one hot stack, no cold cache
    Stack a, b;
    ASSERT_TRUE(pool.acquire(a));
    ASSERT_TRUE(pool.acquire(b));
    EXPECT_EQ(StackPool::committed_bytes(), c0 + a.usable() + b.usable());
    EXPECT_GE(StackPool::reserved_bytes(), r0 + a.mapped + b.mapped);
    size_t usable = a.usable();
    pool.release(a);  // kept hot, pages and all
    EXPECT_EQ(StackPool::committed_bytes(), c0 + 2 * usable);
    pool.release(b);  // beyond the caches: its pages go back
    EXPECT_EQ(StackPool::committed_bytes(), c0 + usable);
  }
  EXPECT_EQ(StackPool::committed_bytes(), c0);
  EXPECT_EQ(StackPool::reserved_bytes(), r0);
}

TEST(OffloadStats, WaitMaxAndStartedJobs) {
  static OffloadPool pool;
  pool.configure(1, [](void* (*fn)(void*), void* arg) {
    pthread_t t;
    int r = pthread_create(&t, nullptr, fn, arg);
    if (r == 0) pthread_detach(t);
    return r;
  });
  Scheduler s;
  for (int i = 0; i < 4; ++i)
    s.spawn([](void*) { pool.run([](void*) { usleep(5 * 1000); }, nullptr); }, nullptr,
            Scheduler::SpawnOptions{0, true});
  s.run();
  OffloadPool::Stats st = pool.stats();
  EXPECT_EQ(st.started, 4u);
  EXPECT_EQ(st.queued, 0u);
  EXPECT_GE(st.queue_peak, 2u);  // one thread, four jobs at once
  EXPECT_GE(st.wait_max_ns * st.started, st.wait_ns);  // the max is at least the mean
  EXPECT_GE(st.wait_max_ns, 5u * 1000 * 1000);  // the last waited for at least one job before it
}
