// StackPool: slabs with guard regions (Linux >= 6.13), the mprotect fallback,
// guard faults, and how many mappings 100k stacks cost.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "sanitizers.h"
#include "stack_pool.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

using namespace cohook;

namespace {

size_t vma_count() {
  FILE* f = fopen("/proc/self/maps", "r");
  if (!f) return 0;
  size_t n = 0;
  for (int c; (c = fgetc(f)) != EOF;) n += c == '\n';
  fclose(f);
  return n;
}

// The /proc/self/maps line of the mapping that starts at p ("" if none does).
std::string maps_line_at(const void* p) {
  char want[64];
  snprintf(want, sizeof want, "%lx-", reinterpret_cast<unsigned long>(p));
  std::string line;
  FILE* f = fopen("/proc/self/maps", "r");
  if (!f) return line;
  char buf[512];
  while (fgets(buf, sizeof buf, f))
    if (strncmp(buf, want, strlen(want)) == 0) line = buf;
  fclose(f);
  return line;
}

bool is_mapped(const void* p) {
  unsigned char v;
  return mincore(const_cast<void*>(p), page_size(), &v) == 0;
}

// Makes the pool behave as on a kernel without guard regions, for one scope.
struct LegacyGuards {
  LegacyGuards() { StackPool::force_legacy_guards_for_tests(true); }
  ~LegacyGuards() { StackPool::force_legacy_guards_for_tests(false); }
};

// Touch `addr` (inside a guard) in a death-test child: exits 42 if the fault
// comes with si_addr == addr and the stack claims it as its overflow.
const Stack* volatile g_stack;  // volatile: stored before the faulting access
volatile char* volatile g_addr;
void on_segv(int, siginfo_t* info, void*) {
  bool ok = info->si_addr == g_addr && g_stack->overflow_hit(info->si_addr);
  _exit(ok ? 42 : 43);
}
[[noreturn]] void touch_guard(const Stack& s, size_t offset) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, nullptr);
  sigaction(SIGBUS, &sa, nullptr);
  g_stack = &s;
  g_addr = s.base + offset;
  *g_addr = 1;
  _exit(44);  // no fault: no guard
}

}  // namespace

TEST(StackPool, ReportsGuardKind) {
  // Informational: which path the rest of this file exercises.
  std::printf("guard regions (MADV_GUARD_INSTALL): %s\n",
              StackPool::guard_regions() ? "yes, slabs" : "no, mprotect per stack");
  StackPool pool;
  EXPECT_EQ(pool.stacks_per_slab(), 64u);  // 128 KiB stacks
  EXPECT_EQ(StackPool(StackPool::Options{1 << 30, 0, 0}).stacks_per_slab(), 1u);
}

TEST(StackPoolDeathTest, SlabGuardFaultsWithItsAddress) {
  GTEST_FLAG_SET(death_test_style, COHOOK_DEATH_TEST_STYLE);
  StackPool pool(StackPool::Options{64 * 1024, 4, 4});
  Stack s[3];
  for (auto& x : s) ASSERT_TRUE(pool.acquire(x));
  EXPECT_EQ(s[1].in_slab, StackPool::guard_regions());
  EXPECT_EXIT(touch_guard(s[1], 100), testing::ExitedWithCode(42), "");
  EXPECT_EXIT(touch_guard(s[1], page_size() - 1), testing::ExitedWithCode(42), "");
  // The stack below is untouched by its neighbour's guard, and vice versa.
  memset(s[0].limit(), 7, s[0].usable());
  memset(s[2].limit(), 7, s[2].usable());
  EXPECT_EQ(s[1].limit()[0], 0);
  for (auto& x : s) pool.release(x);
}

TEST(StackPoolDeathTest, OtherSizesAreOneMappingWithAGuard) {
  GTEST_FLAG_SET(death_test_style, COHOOK_DEATH_TEST_STYLE);
  StackPool pool;
  Stack s;
  ASSERT_TRUE(pool.acquire(s, 100000));
  EXPECT_FALSE(s.in_slab);
  EXPECT_GE(s.usable(), 100000u);
  EXPECT_EXIT(touch_guard(s, 8), testing::ExitedWithCode(42), "");
  pool.release(s);
  EXPECT_EQ(pool.stats().unmaps, 0u);  // kept for the next stack of its size
  // map_stack (Scheduler's shared-stack slots): one VMA each with guard
  // regions (often none at all: it merges with its neighbours), two without.
  const size_t n = 100, before = vma_count();
  std::vector<Stack> v(n);
  for (auto& x : v) ASSERT_TRUE(StackPool::map_stack(x, 64 * 1024));
  const size_t grew = vma_count() - before;
  if (StackPool::guard_regions()) EXPECT_LE(grew, n);
  else EXPECT_GE(grew, 2 * n);
  EXPECT_EXIT(touch_guard(v[50], 0), testing::ExitedWithCode(42), "");
  for (auto& x : v) StackPool::unmap_stack(x);
}

// Released stacks beyond the hot cache lose their pages but not their guard.
TEST(StackPoolDeathTest, DontneedKeepsTheGuard) {
  GTEST_FLAG_SET(death_test_style, COHOOK_DEATH_TEST_STYLE);
  StackPool pool(StackPool::Options{64 * 1024, 0, 1});
  Stack s;
  ASSERT_TRUE(pool.acquire(s));
  char* base = s.base;
  memset(s.limit(), 1, s.usable());
  pool.release(s);  // cold: MADV_DONTNEED
  EXPECT_EQ(pool.stats().cached_cold, 1u);
  ASSERT_TRUE(pool.acquire(s));
  ASSERT_EQ(s.base, base);
  EXPECT_EQ(s.limit()[0], 0);
  EXPECT_EQ(s.top()[-1], 0);
  if (StackPool::guard_regions()) {
    errno = 0;
    EXPECT_EQ(madvise(s.base, page_size(), MADV_POPULATE_READ), -1);
    EXPECT_EQ(errno, EFAULT);  // still a guard region
  }
  EXPECT_EXIT(touch_guard(s, 0), testing::ExitedWithCode(42), "");
  pool.release(s);
}

// The point of the slabs: 100k parked stacks, each with a guard, in far fewer
// than vm.max_map_count (65530) mappings.
TEST(StackPool, HundredThousandStacksFewMappings) {
  if (!StackPool::guard_regions())
    GTEST_SKIP() << "no MADV_GUARD_INSTALL here (kernel < 6.13 or qemu-user): two VMAs per stack";
  const size_t n = 100000;
  StackPool pool(StackPool::Options{128 * 1024, 64, 1024});
  std::vector<Stack> v(n);
  const size_t before = vma_count();
  auto t0 = std::chrono::steady_clock::now();
  for (auto& x : v) ASSERT_TRUE(pool.acquire(x));
  auto t1 = std::chrono::steady_clock::now();
  const size_t grew = vma_count() - before;
  for (size_t i = 0; i < n; i += 97) v[i].top()[-1] = 1;  // some are used
  const size_t slabs = (n + pool.stacks_per_slab() - 1) / pool.stacks_per_slab();
  EXPECT_EQ(pool.stats().slabs, slabs);
  EXPECT_EQ(pool.stats().maps, slabs);
  EXPECT_LT(grew, 5000u);
  std::printf("%zu stacks: %zu slabs, %zu more VMAs, %.0f ns per fresh acquire\n", n, slabs, grew,
              std::chrono::duration<double, std::nano>(t1 - t0).count() / n);

  for (auto& x : v) pool.release(x);
  EXPECT_EQ(pool.stats().in_use, 0u);
  EXPECT_EQ(pool.stats().cached_hot, 64u);
  EXPECT_EQ(pool.stats().cached_cold, 1024u);
  EXPECT_EQ(pool.stats().cached_free, n - 64 - 1024);
  EXPECT_LE(vma_count() - before, grew + 8);  // released: nothing unmapped or split (8: malloc's)

  // All of them come back without a new mapping, pages zeroed beyond the hot cache.
  for (auto& x : v) ASSERT_TRUE(pool.acquire(x));
  EXPECT_EQ(pool.stats().maps, slabs);
  EXPECT_EQ(pool.stats().reuses, n);
  for (auto& x : v) ASSERT_TRUE(x.in_slab);
  size_t dirty = 0;
  for (auto& x : v) dirty += x.top()[-1] != 0;
  EXPECT_LE(dirty, 64u);
  for (auto& x : v) pool.release(x);
}

TEST(StackPool, ReleasedStacksAreReused) {
  StackPool pool(StackPool::Options{16 * 1024, 2, 3});
  const size_t n = 3 * std::max<size_t>(pool.stacks_per_slab(), 1) + 5;
  std::vector<Stack> v(n);
  for (auto& x : v) ASSERT_TRUE(pool.acquire(x));
  std::vector<char*> bases;
  for (auto& x : v) bases.push_back(x.base);
  const uint64_t maps = pool.stats().maps;
  for (auto& x : v) pool.release(x);
  for (auto& x : v) ASSERT_TRUE(pool.acquire(x));
  if (StackPool::guard_regions()) {
    // Every stack came back (none was unmapped): same addresses, no new mapping.
    EXPECT_EQ(pool.stats().maps, maps);
    EXPECT_EQ(pool.stats().reuses, n);
    std::vector<char*> again;
    for (auto& x : v) again.push_back(x.base);
    std::sort(bases.begin(), bases.end());
    std::sort(again.begin(), again.end());
    EXPECT_EQ(bases, again);
  } else {
    EXPECT_EQ(pool.stats().reuses, 5u);  // the caches only; the rest were unmapped
  }
  for (auto& x : v) pool.release(x);
  EXPECT_EQ(pool.stats().in_use, 0u);
}

// Released stacks of another size are kept for acquires of that size (no
// mmap/munmap per thread of a program that sets a stack size), within the
// count and byte bounds; the rest are unmapped.
TEST(StackPool, OtherSizesAreReusedWithinBounds) {
  StackPool::Options o{16 * 1024, 64, 64};
  o.sized_cache_bytes = 4 * 256 * 1024;
  StackPool pool(o);
  std::vector<Stack> v(6);
  for (auto& x : v) ASSERT_TRUE(pool.acquire(x, 256 * 1024));
  std::vector<char*> bases;
  for (auto& x : v) bases.push_back(x.base);
  const uint64_t maps = pool.stats().maps;
  for (auto& x : v) pool.release(x);
  EXPECT_EQ(pool.stats().unmaps, 2u);  // 4 fit in the byte bound
  Stack other;
  ASSERT_TRUE(pool.acquire(other, 64 * 1024));  // another size: a new mapping
  EXPECT_EQ(pool.stats().maps, maps + 1);
  for (size_t i = 0; i < 4; i++) {
    ASSERT_TRUE(pool.acquire(v[i], 256 * 1024));
    EXPECT_NE(std::find(bases.begin(), bases.end(), v[i].base), bases.end());
    EXPECT_EQ(v[i].usable(), 256u * 1024);
    v[i].top()[-1] = 1;  // usable
  }
  EXPECT_EQ(pool.stats().maps, maps + 1);
  EXPECT_EQ(pool.stats().reuses, 4u);
  ASSERT_TRUE(pool.acquire(v[4], 256 * 1024));  // the cache is empty now
  EXPECT_EQ(pool.stats().maps, maps + 2);
  for (size_t i = 0; i < 5; i++) pool.release(v[i]);
  pool.release(other);
  EXPECT_EQ(pool.stats().in_use, 0u);
  // A pool told to keep no stacks keeps none of other sizes either.
  StackPool none(StackPool::Options{16 * 1024, 0, 0});
  Stack s;
  ASSERT_TRUE(none.acquire(s, 256 * 1024));
  none.release(s);
  EXPECT_EQ(none.stats().unmaps, 1u);
}

// unmap_stack on a slab stack must not punch a hole in the slab.
TEST(StackPool, UnmapStackLeavesTheSlabAlone) {
  if (!StackPool::guard_regions()) GTEST_SKIP() << "no slabs without guard regions";
  StackPool pool;
  Stack a, b;
  ASSERT_TRUE(pool.acquire(a));
  ASSERT_TRUE(pool.acquire(b));
  char* limit = a.limit();
  StackPool::unmap_stack(a);
  EXPECT_FALSE(a.valid());
  EXPECT_TRUE(is_mapped(limit));
  b.top()[-1] = 1;  // its neighbour is fine
  pool.release(b);
}

// Kernels without MADV_GUARD_INSTALL: one mapping per stack, an mprotect
// guard (visible in /proc/self/maps), hot then cold then unmapped.
TEST(StackPoolDeathTest, LegacyGuardsWithoutGuardRegions) {
  GTEST_FLAG_SET(death_test_style, COHOOK_DEATH_TEST_STYLE);
  LegacyGuards legacy;
  ASSERT_FALSE(StackPool::guard_regions());
  StackPool pool(StackPool::Options{64 * 1024, 2, 3});
  std::vector<Stack> v(10);
  const size_t before = vma_count();
  for (auto& x : v) ASSERT_TRUE(pool.acquire(x));
  EXPECT_GE(vma_count() - before, 2 * v.size());
  EXPECT_EQ(pool.stats().slabs, 0u);
  EXPECT_EQ(pool.stats().maps, v.size());
  for (auto& x : v) {
    EXPECT_FALSE(x.in_slab);
    std::string line = maps_line_at(x.base);
    EXPECT_NE(line.find(" ---p "), std::string::npos) << line;
  }
  EXPECT_EXIT(touch_guard(v[3], 0), testing::ExitedWithCode(42), "");
  for (auto& x : v) pool.release(x);
  EXPECT_EQ(pool.stats().cached_hot, 2u);
  EXPECT_EQ(pool.stats().cached_cold, 3u);
  EXPECT_EQ(pool.stats().cached_free, 0u);
  EXPECT_EQ(pool.stats().unmaps, 5u);
}

// The probe's answer changing under a live pool (the test hook; or a kernel
// refusing a guard region later, e.g. after mlockall): both kinds coexist.
TEST(StackPool, SlabAndLegacyStacksMix) {
  StackPool pool(StackPool::Options{32 * 1024, 1, 1});
  std::vector<Stack> v(6);
  for (size_t i = 0; i < v.size(); ++i) {
    std::optional<LegacyGuards> legacy;
    if (i % 2) legacy.emplace();
    ASSERT_TRUE(pool.acquire(v[i]));
  }
  for (auto& x : v) memset(x.limit(), 3, x.usable());
  for (auto& x : v) pool.release(x);
  for (auto& x : v) ASSERT_TRUE(pool.acquire(x));
  for (auto& x : v) memset(x.limit(), 4, x.usable());
  for (auto& x : v) pool.release(x);
  EXPECT_EQ(pool.stats().in_use, 0u);
}
