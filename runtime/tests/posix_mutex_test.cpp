#include "posix_mutex.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>

#include "contend.h"

using namespace cohook;
using cohook::test::contend;
using cohook::test::on_coroutine;

namespace {

constexpr Nanos kMs = 1000000;

// Every kind excludes: coroutines on two carriers (some on copied stacks)
// and plain threads increment one counter, yielding while holding the lock.
void exclusive(int32_t kind, unsigned shared_stacks) {
  PosixMutex m(kind);
  long counter = 0;
  std::atomic<int> inside{0};
  std::atomic<bool> overlap{false};
  contend(
      6, 2,
      [&](int) {
        for (int i = 0; i < 1500; ++i) {
          ASSERT_EQ(m.lock(), 0);
          if (kind == PosixMutex::kRecursive) {  // and once more
            ASSERT_EQ(m.lock(), 0);
          }
          if (inside.fetch_add(1) != 0) overlap = true;
          long v = counter;
          if (i % 40 == 0) Scheduler::yield();
          counter = v + 1;
          inside.fetch_sub(1);
          if (kind == PosixMutex::kRecursive) {
            ASSERT_EQ(m.unlock(), 0);
          }
          ASSERT_EQ(m.unlock(), 0);
        }
      },
      shared_stacks);
  EXPECT_FALSE(overlap.load());
  EXPECT_EQ(counter, 14 * 1500);
  EXPECT_FALSE(m.is_locked());
}

}  // namespace

TEST(PosixMutex, NormalExcludesAcrossCarriersAndThreads) { exclusive(PosixMutex::kNormal, 0); }
TEST(PosixMutex, RecursiveExcludesAcrossCarriersAndThreads) { exclusive(PosixMutex::kRecursive, 0); }
TEST(PosixMutex, ErrorCheckExcludesAcrossCarriersAndThreads) { exclusive(PosixMutex::kErrorCheck, 0); }
TEST(PosixMutex, AdaptiveExcludesOnSharedStacks) { exclusive(PosixMutex::kAdaptive, 2); }

TEST(PosixMutex, AllZeroStorageIsAnUnlockedNormalMutex) {
  alignas(8) unsigned char storage[48] = {};
  auto* m = reinterpret_cast<PosixMutex*>(storage);
  EXPECT_EQ(m->kind(), PosixMutex::kNormal);
  EXPECT_EQ(m->try_lock(), 0);
  EXPECT_EQ(m->try_lock(), EBUSY);
  EXPECT_EQ(m->unlock(), 0);
  // glibc's static initializers put the kind at offset 16.
  storage[PosixMutex::kKindOffset] = PosixMutex::kRecursive;
  EXPECT_EQ(m->kind(), PosixMutex::kRecursive);
  EXPECT_EQ(m->lock(), 0);
  EXPECT_EQ(m->lock(), 0);
  EXPECT_EQ(m->unlock(), 0);
  EXPECT_EQ(m->unlock(), 0);
  EXPECT_EQ(m->unlock(), EPERM);
}

TEST(PosixMutex, ErrorCheckErrors) {
  PosixMutex m(PosixMutex::kErrorCheck);
  EXPECT_EQ(m.unlock(), EPERM);  // not locked
  ASSERT_EQ(m.lock(), 0);
  EXPECT_EQ(m.lock(), EDEADLK);
  EXPECT_EQ(m.lock_until(deadline_after(kMs)), EDEADLK);
  EXPECT_EQ(m.try_lock(), EBUSY);  // glibc: trylock by the owner is EBUSY
  EXPECT_EQ(m.destroy(), EBUSY);
  std::thread([&] {
    EXPECT_EQ(m.unlock(), EPERM);  // not the owner
    EXPECT_EQ(m.try_lock(), EBUSY);
  }).join();
  on_coroutine([&] { EXPECT_EQ(m.unlock(), EPERM); });  // a coroutine of this thread is another owner
  EXPECT_EQ(m.unlock(), 0);
  EXPECT_EQ(m.destroy(), 0);
}

// A thread that becomes a carrier (gets a Scheduler) while it holds a lock
// is still the owner: identity is the thread, not its Parker.
TEST(PosixMutex, OwnerStaysTheOwnerWhenItsThreadBecomesACarrier) {
  PosixMutex m(PosixMutex::kRecursive), e(PosixMutex::kErrorCheck);
  std::thread([&] {
    ASSERT_EQ(m.lock(), 0);
    ASSERT_EQ(e.lock(), 0);
    Scheduler s;
    EXPECT_EQ(m.lock(), 0);
    EXPECT_EQ(e.lock(), EDEADLK);
    Coroutine* co = s.spawn([](void* p) { EXPECT_EQ(static_cast<PosixMutex*>(p)->unlock(), EPERM); }, &m);
    Scheduler::join(co);
    EXPECT_EQ(m.unlock(), 0);
    EXPECT_EQ(m.unlock(), 0);
    EXPECT_EQ(e.unlock(), 0);
  }).join();
  EXPECT_FALSE(m.is_locked());
  EXPECT_FALSE(e.is_locked());
}

TEST(PosixMutex, RecursiveCountsAndChecksOwner) {
  PosixMutex m(PosixMutex::kRecursive);
  EXPECT_EQ(m.unlock(), EPERM);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(m.lock(), 0);
  EXPECT_EQ(m.try_lock(), 0);
  EXPECT_EQ(m.lock_until(deadline_after(kMs)), 0);
  std::thread([&] {
    EXPECT_EQ(m.unlock(), EPERM);
    EXPECT_EQ(m.try_lock(), EBUSY);
    EXPECT_EQ(m.lock_until(deadline_after(5 * kMs)), ETIMEDOUT);
  }).join();
  for (int i = 0; i < 7; ++i) ASSERT_EQ(m.unlock(), 0);
  EXPECT_TRUE(m.is_locked() == false);
  EXPECT_EQ(m.unlock(), EPERM);
}

TEST(PosixMutex, NormalRelockWaitsAndUnlockByAnyoneReleases) {
  PosixMutex m;
  ASSERT_EQ(m.lock(), 0);
  EXPECT_EQ(m.lock_until(deadline_after(5 * kMs)), ETIMEDOUT);  // no EDEADLK for a normal mutex
  EXPECT_EQ(m.try_lock(), EBUSY);
  std::thread([&] { EXPECT_EQ(m.unlock(), 0); }).join();  // glibc allows it for a normal mutex
  EXPECT_FALSE(m.is_locked());
  EXPECT_EQ(m.unlock(), 0);  // unlocking an unlocked normal mutex: no error, as glibc
}

TEST(PosixMutex, TimedLockNeverEarlyOnThreadsAndCoroutines) {
  for (int32_t kind : {PosixMutex::kNormal, PosixMutex::kRecursive, PosixMutex::kErrorCheck}) {
    PosixMutex m(kind);
    ASSERT_EQ(m.lock(), 0);
    std::thread([&] {
      Nanos t0 = now_ns();
      Deadline d = t0 + 30 * kMs;
      EXPECT_EQ(m.lock_until(d), ETIMEDOUT);
      EXPECT_GE(now_ns(), d);
    }).join();
    std::thread([&] {
      on_coroutine([&] {
        Deadline d = now_ns() + 20 * kMs;
        EXPECT_EQ(m.lock_until(d), ETIMEDOUT);
        EXPECT_GE(now_ns(), d);
        EXPECT_EQ(m.lock_until(now_ns() - kMs), ETIMEDOUT);  // already past
      });
    }).join();
    EXPECT_EQ(m.unlock(), 0);
    EXPECT_EQ(m.lock_until(now_ns() - kMs), 0);  // free: a past deadline does not matter
    EXPECT_EQ(m.unlock(), 0);
  }
}

// A timed waiter that gives up must not strand the waiters behind it.
TEST(PosixMutex, TimeoutsDoNotStrandOtherWaiters) {
  PosixMutex m;
  std::atomic<int> got{0}, timed_out{0};
  ASSERT_EQ(m.lock(), 0);
  std::thread holder_release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    m.unlock();
  });
  contend(4, 2, [&](int id) {
    if (id % 2) {
      if (m.lock_until(deadline_after(kMs * (id % 5 + 1))) == 0) {
        got++;
        m.unlock();
      } else {
        timed_out++;
      }
    } else {
      ASSERT_EQ(m.lock(), 0);
      got++;
      m.unlock();
    }
  });
  holder_release.join();
  EXPECT_GE(got.load(), 5);
  EXPECT_EQ(got + timed_out, 10);
}

// The last owner frees the mutex right after its unlock returns while the
// previous owner may still be inside its unlock (glibc bug 13690's pattern).
// Under ASan a touch after release shows up as a use-after-free.
TEST(PosixMutex, LastOwnerMayFreeAtOnce) {
  for (int round = 0; round < 2000; ++round) {
    struct Obj {
      PosixMutex m;
      int refs = 2;
    };
    auto* o = new Obj;
    auto drop = [](Obj* o) {
      o->m.lock();
      bool last = --o->refs == 0;
      o->m.unlock();
      if (last) {
        EXPECT_EQ(o->m.destroy(), 0);
        delete o;
      }
    };
    std::thread t([&] { drop(o); });
    drop(o);
    t.join();
  }
}

TEST(PosixMutex, ReleaseForWaitKeepsTheDepth) {
  PosixMutex m(PosixMutex::kRecursive);
  ASSERT_EQ(m.lock(), 0);
  ASSERT_EQ(m.lock(), 0);
  ASSERT_EQ(m.lock(), 0);
  uint32_t saved;
  ASSERT_EQ(m.release_for_wait(saved), 0);
  EXPECT_FALSE(m.is_locked());
  std::thread([&] {
    uint32_t other;
    EXPECT_EQ(m.release_for_wait(other), EPERM);
  }).join();
  m.reacquire(saved);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(m.unlock(), 0);
  EXPECT_EQ(m.unlock(), EPERM);
}
