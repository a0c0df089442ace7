#include "posix_rwlock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "contend.h"

using namespace cohook;
using cohook::test::contend;
using cohook::test::on_coroutine;

namespace {
constexpr Nanos kMs = 1000000;

void readers_and_writers(uint32_t kind) {
  RwLock rw(kind);
  std::atomic<int> readers{0}, writers{0}, max_readers{0};
  std::atomic<bool> bad{false};
  long value = 0, writes = 0;
  contend(6, 3, [&](int id) {
    for (int i = 0; i < 1500; ++i) {
      if ((i + id) % 4 == 0) {
        ASSERT_EQ(rw.wrlock(), 0);
        if (writers.fetch_add(1) != 0 || readers.load() != 0) bad = true;
        long v = value;
        if (i % 64 == 0) Scheduler::yield();
        value = v + 1;
        ++writes;
        writers.fetch_sub(1);
        ASSERT_EQ(rw.unlock(), 0);
      } else {
        ASSERT_EQ(rw.rdlock(), 0);
        int r = readers.fetch_add(1) + 1;
        if (writers.load() != 0) bad = true;
        int m = max_readers.load();
        while (r > m && !max_readers.compare_exchange_weak(m, r)) {
        }
        if (i % 16 == 0) Scheduler::yield();
        readers.fetch_sub(1);
        ASSERT_EQ(rw.unlock(), 0);
      }
    }
  });
  EXPECT_FALSE(bad.load());
  EXPECT_EQ(value, writes);
  EXPECT_GT(max_readers.load(), 1);  // readers do share
  EXPECT_EQ(rw.destroy(), 0);
}
}  // namespace

TEST(RwLock, ReaderPreferringAcrossCarriersAndThreads) { readers_and_writers(RwLock::kPreferReader); }
TEST(RwLock, WriterPreferringAcrossCarriersAndThreads) {
  readers_and_writers(RwLock::kPreferWriterNonrecursive);
}

TEST(RwLock, ErrorsAsGlibc) {
  RwLock rw;
  EXPECT_EQ(rw.unlock(), EPERM);  // nothing held
  ASSERT_EQ(rw.wrlock(), 0);
  EXPECT_EQ(rw.wrlock(), EDEADLK);
  EXPECT_EQ(rw.rdlock(), EDEADLK);
  EXPECT_EQ(rw.wrlock_until(deadline_after(kMs)), EDEADLK);
  EXPECT_EQ(rw.try_wrlock(), EBUSY);
  EXPECT_EQ(rw.try_rdlock(), EBUSY);
  EXPECT_EQ(rw.destroy(), EBUSY);
  std::thread([&] {
    EXPECT_EQ(rw.unlock(), EPERM);  // not the writer
    EXPECT_EQ(rw.try_rdlock(), EBUSY);
    EXPECT_EQ(rw.try_wrlock(), EBUSY);
    Deadline d = now_ns() + 20 * kMs;
    EXPECT_EQ(rw.rdlock_until(d), ETIMEDOUT);
    EXPECT_GE(now_ns(), d);
    d = now_ns() + 20 * kMs;
    EXPECT_EQ(rw.wrlock_until(d), ETIMEDOUT);
    EXPECT_GE(now_ns(), d);
  }).join();
  on_coroutine([&] {
    Deadline d = now_ns() + 15 * kMs;
    EXPECT_EQ(rw.wrlock_until(d), ETIMEDOUT);
    EXPECT_GE(now_ns(), d);
    EXPECT_EQ(rw.unlock(), EPERM);
  });
  ASSERT_EQ(rw.unlock(), 0);
  ASSERT_EQ(rw.rdlock(), 0);
  ASSERT_EQ(rw.try_rdlock(), 0);
  EXPECT_EQ(rw.readers(), 2u);
  EXPECT_EQ(rw.try_wrlock(), EBUSY);
  std::thread([&] {
    Deadline d = now_ns() + 20 * kMs;
    EXPECT_EQ(rw.wrlock_until(d), ETIMEDOUT);
    EXPECT_GE(now_ns(), d);
  }).join();
  EXPECT_EQ(rw.unlock(), 0);
  EXPECT_EQ(rw.unlock(), 0);
  EXPECT_EQ(rw.unlock(), EPERM);
  EXPECT_EQ(rw.destroy(), 0);
}

// Default (reader-preferring): with a writer waiting, the reader that
// already holds the lock may take it again -- no deadlock.
TEST(RwLock, ReaderPreferringAllowsRecursiveReadWhileWriterWaits) {
  RwLock rw;
  ASSERT_EQ(rw.rdlock(), 0);
  std::atomic<bool> wrote{false};
  std::thread w([&] {
    ASSERT_EQ(rw.wrlock(), 0);
    wrote = true;
    rw.unlock();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the writer waits
  EXPECT_EQ(rw.rdlock_until(deadline_after(500 * kMs)), 0);
  EXPECT_EQ(rw.try_rdlock(), 0);
  EXPECT_FALSE(wrote.load());
  rw.unlock();
  rw.unlock();
  rw.unlock();
  w.join();
  EXPECT_TRUE(wrote.load());
}

// PREFER_WRITER_NONRECURSIVE: a new reader waits behind a waiting writer;
// when that writer gives up, the reader gets in.
TEST(RwLock, WriterPreferringHoldsReadersBackWhileWriterWaits) {
  RwLock rw(RwLock::kPreferWriterNonrecursive);
  ASSERT_EQ(rw.rdlock(), 0);
  std::thread w([&] { EXPECT_EQ(rw.wrlock_until(deadline_after(80 * kMs)), ETIMEDOUT); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::thread r([&] {
    EXPECT_EQ(rw.try_rdlock(), EBUSY);
    Nanos t0 = now_ns();
    ASSERT_EQ(rw.rdlock(), 0);  // after the writer's timeout
    EXPECT_GE(now_ns() - t0, 30 * kMs);
    rw.unlock();
  });
  w.join();
  r.join();
  rw.unlock();
  // And a waiting writer goes before waiting readers once the lock is free.
  ASSERT_EQ(rw.wrlock(), 0);
  std::atomic<int> order{0};
  int reader_pos = 0, writer_pos = 0;
  std::thread r2([&] {
    rw.rdlock();
    reader_pos = ++order;
    rw.unlock();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::thread w2([&] {
    rw.wrlock();
    writer_pos = ++order;
    rw.unlock();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  rw.unlock();
  r2.join();
  w2.join();
  EXPECT_EQ(writer_pos, 1);
  EXPECT_EQ(reader_pos, 2);
}

TEST(RwLock, AllZeroAndFlagsLayout) {
  alignas(8) unsigned char storage[56] = {};
  auto* rw = reinterpret_cast<RwLock*>(storage);
  EXPECT_EQ(rw->rdlock(), 0);
  EXPECT_EQ(rw->unlock(), 0);
  uint32_t flags = RwLock::kPreferWriterNonrecursive;
  memcpy(storage + RwLock::kFlagsOffset, &flags, 4);
  EXPECT_EQ(rw->wrlock(), 0);
  EXPECT_EQ(rw->unlock(), 0);
  int32_t shared;
  memcpy(&shared, storage + RwLock::kSharedOffset, 4);
  EXPECT_EQ(shared, 0);
}
