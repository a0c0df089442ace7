// Coroutine and StackPool without a scheduler: resume/yield/finish, depth,
// recycling, shared (copy) stacks.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "coroutine.h"
#include "sanitizers.h"
#include "stack_pool.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22  // Linux 5.14
#endif

using namespace cohook;

TEST(Coroutine, ResumeYieldFinish) {
  StackPool pool;
  int steps = 0;
  Coroutine co(
      [](void* a) {
        int* s = static_cast<int*>(a);
        ++*s;
        Coroutine::yield();
        ++*s;
        Coroutine::yield();
        ++*s;
      },
      &steps);
  ASSERT_TRUE(co.use_private_stack(pool));
  EXPECT_EQ(co.state(), CoState::Created);
  co.resume();
  EXPECT_EQ(steps, 1);
  EXPECT_EQ(Coroutine::current(), nullptr);
  co.resume();
  EXPECT_EQ(steps, 2);
  co.resume();
  EXPECT_EQ(steps, 3);
  EXPECT_TRUE(co.finished());
  co.release_stack(pool);
}

// libco keeps resumers in a 128-entry array; we chain them: nest 1000 deep.
struct Nest {
  StackPool* pool;
  int depth;
  int* deepest;
};
static void nest_entry(void* a) {
  auto* n = static_cast<Nest*>(a);
  *n->deepest = std::max(*n->deepest, n->depth);
  if (n->depth == 1000) return;
  Nest child{n->pool, n->depth + 1, n->deepest};
  Coroutine co(nest_entry, &child);
  if (!co.use_private_stack(*n->pool, 16 * 1024)) abort();
  co.resume();
  if (!co.finished()) abort();
  co.release_stack(*n->pool);
}
TEST(Coroutine, NoNestingLimit) {
  StackPool pool;
  int deepest = 0;
  Nest root{&pool, 1, &deepest};
  Coroutine co(nest_entry, &root);
  ASSERT_TRUE(co.use_private_stack(pool));
  co.resume();
  EXPECT_TRUE(co.finished());
  EXPECT_EQ(deepest, 1000);
  co.release_stack(pool);
}

TEST(StackPool, HundredThousandCoroutinesRecycleStacks) {
  StackPool pool(StackPool::Options{128 * 1024, 64, 256});
  long sum = 0;
  for (int i = 0; i < 100000; ++i) {
    Coroutine co([](void* a) { ++*static_cast<long*>(a); }, &sum);
    ASSERT_TRUE(co.use_private_stack(pool));
    co.resume();
    ASSERT_TRUE(co.finished());
    co.release_stack(pool);
  }
  EXPECT_EQ(sum, 100000);
  EXPECT_EQ(pool.stats().maps, 1u);  // one stack, reused 99,999 times
  EXPECT_EQ(pool.stats().reuses, 99999u);
  EXPECT_EQ(pool.stats().in_use, 0u);
}

TEST(StackPool, CacheIsBoundedHotThenColdThenUnmapped) {
  StackPool pool(StackPool::Options{64 * 1024, 2, 3});
  std::vector<Stack> s(10);
  for (auto& x : s) ASSERT_TRUE(pool.acquire(x));
  // Touch every page so we can see madvise give them back.
  for (auto& x : s) std::memset(x.limit(), 1, x.usable());
  for (auto& x : s) pool.release(x);
  EXPECT_EQ(pool.stats().cached_hot, 2u);
  EXPECT_EQ(pool.stats().cached_cold, 3u);
  EXPECT_EQ(pool.stats().unmaps, 5u);
  // Reuse: hot first (pages kept), then cold (pages zero again: released).
  Stack a, b, c;
  ASSERT_TRUE(pool.acquire(a));
  ASSERT_TRUE(pool.acquire(b));
  ASSERT_TRUE(pool.acquire(c));
  EXPECT_EQ(a.limit()[100], 1);
  EXPECT_EQ(c.limit()[100], 0);
  pool.release(a);
  pool.release(b);
  pool.release(c);
}

TEST(StackPool, GuardPageIsInaccessibleAndSizesArePageRounded) {
  Stack s;
  ASSERT_TRUE(StackPool::map_stack(s, normalize_stack_size(100000)));
  EXPECT_EQ(s.usable() % page_size(), 0u);
  EXPECT_GE(s.usable(), 100000u);
  if (StackPool::guard_regions()) {
    // A guard region (no VMA of its own): the kernel refuses to populate it.
    errno = 0;
    EXPECT_EQ(madvise(s.base, page_size(), MADV_POPULATE_READ), -1);
    EXPECT_EQ(errno, EFAULT);
  } else {
    // The guard page is mapped with no access at all (/proc/self/maps: ---p).
    char want[64];
    snprintf(want, sizeof want, "%lx-", reinterpret_cast<unsigned long>(s.base));
    std::string maps, line;
    FILE* f = fopen("/proc/self/maps", "r");
    ASSERT_NE(f, nullptr);
    char buf[512];
    while (fgets(buf, sizeof buf, f))
      if (strncmp(buf, want, strlen(want)) == 0) line = buf;
    fclose(f);
    ASSERT_FALSE(line.empty());
    EXPECT_NE(line.find(" ---p "), std::string::npos) << line;
  }
  EXPECT_TRUE(s.overflow_hit(s.base));
  EXPECT_TRUE(s.overflow_hit(s.base + page_size() - 1));
  EXPECT_FALSE(s.overflow_hit(s.limit()));
  StackPool::unmap_stack(s);
  EXPECT_EQ(normalize_stack_size(1), 16u * 1024);
}

// When the kernel refuses a mapping (vm.max_map_count or address space), the
// pool fails cleanly with EAGAIN and keeps working. RLIMIT_AS in a child
// process stands in for the map-count limit, which is a system-wide sysctl.
[[noreturn]] static void exhaust_pool() {
      rlimit rl{512u << 20, 512u << 20};
      if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(10);
      StackPool pool(StackPool::Options{1 << 20, 0, 0});
      std::vector<Stack> got;
      Stack s;
      while (pool.acquire(s)) got.push_back(s);
      if (errno != EAGAIN || s.valid() || got.size() > 600) _exit(11);
      pool.release(got.back());
      got.pop_back();
      if (!pool.acquire(s)) _exit(12);  // freed room is usable again
      got.push_back(s);
      for (auto& x : got) pool.release(x);
      _exit(pool.stats().in_use == 0 ? 0 : 13);
}

TEST(StackPoolDeathTest, MappingExhaustionIsEagainAndRecoverable) {
  GTEST_FLAG_SET(death_test_style, COHOOK_DEATH_TEST_STYLE);
#if defined(COHOOK_ASAN) || defined(COHOOK_UNDER_QEMU)
  GTEST_SKIP() << "ASan's shadow and qemu's own reservations need the address space";
#endif
  EXPECT_EXIT(exhaust_pool(), testing::ExitedWithCode(0), "");
}

// Shared stacks: coroutines on the same slot keep their own stack contents.
struct Filler {
  int seed;
  long checksum_ok = 0;
};
static void fill_and_check(void* a) {
  auto* f = static_cast<Filler*>(a);
  volatile unsigned char buf[6000];
  for (int round = 0; round < 50; ++round) {
    for (size_t i = 0; i < sizeof buf; ++i) buf[i] = (unsigned char)(f->seed * 31 + i + round);
    Coroutine::yield();  // someone else now runs on our slot
    bool ok = true;
    for (size_t i = 0; i < sizeof buf; ++i) ok &= buf[i] == (unsigned char)(f->seed * 31 + i + round);
    f->checksum_ok += ok;
  }
}
TEST(SharedStack, ContentsSurviveConflicts) {
  SharedStack slots[2];
  ASSERT_TRUE(StackPool::map_stack(slots[0].stack, 64 * 1024));
  ASSERT_TRUE(StackPool::map_stack(slots[1].stack, 64 * 1024));
  StackPool unused;
  std::vector<Filler> f(7);
  std::vector<std::unique_ptr<Coroutine>> cos;
  for (int i = 0; i < 7; ++i) {
    f[i].seed = i + 1;
    cos.emplace_back(new Coroutine(fill_and_check, &f[i]));
    cos.back()->use_shared_stack(&slots[i % 2]);
  }
  bool all_done = false;
  while (!all_done) {
    all_done = true;
    for (auto& c : cos)
      if (!c->finished()) {
        c->resume();
        all_done = false;
      }
  }
  for (auto& x : f) EXPECT_EQ(x.checksum_ok, 50);
  // Swapped-out coroutines held right-sized copies (~6 KB, not 64 KB).
  for (auto& c : cos) {
    EXPECT_LT(c->saved_bytes(), 16u * 1024);
    c->release_stack(unused);
  }
  EXPECT_EQ(slots[0].owner, nullptr);
  StackPool::unmap_stack(slots[0].stack);
  StackPool::unmap_stack(slots[1].stack);
}
