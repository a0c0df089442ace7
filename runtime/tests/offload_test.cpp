// OffloadPool: a job runs on a pool thread while the caller parks, its
// carrier keeps running other coroutines, errno comes back, the pool stays
// within its bound.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "offload.h"
#include "scheduler.h"

using namespace cohook;

namespace {
int start_thread(void* (*fn)(void*), void* arg) {
  pthread_t t;
  int r = pthread_create(&t, nullptr, fn, arg);
  if (r == 0) pthread_detach(t);
  return r;
}
}  // namespace

TEST(OffloadPool, CallerParksCarrierKeepsRunningErrnoComesBack) {
  static OffloadPool pool;
  pool.configure(2, &start_thread);
  Scheduler s;
  struct Ctx {
    std::atomic<int> ticks{0};
    std::atomic<bool> done{false};
    int ticks_while_blocked = -1;
    int err = 0;
    bool ran_on_pool = false;
  } c;
  Coroutine* ticker = s.spawn([](void* p) {
    auto* c = static_cast<Ctx*>(p);
    while (!c->done) {
      c->ticks++;
      Scheduler::sleep_for(2 * 1000 * 1000);
    }
  }, &c);
  Coroutine* caller = s.spawn([](void* p) {
    auto* c = static_cast<Ctx*>(p);
    int before = c->ticks;
    pool.run([](void* p) {
      auto* c = static_cast<Ctx*>(p);
      c->ran_on_pool = OffloadPool::on_pool_thread();
      usleep(100 * 1000);  // blocks its OS thread, not the carrier
      errno = EDEADLK;
    }, c);
    c->err = errno;
    c->ticks_while_blocked = c->ticks - before;
    c->done = true;
  }, &c);
  Scheduler::join(caller);
  Scheduler::join(ticker);
  EXPECT_TRUE(c.ran_on_pool);
  EXPECT_EQ(c.err, EDEADLK);
  EXPECT_GE(c.ticks_while_blocked, 10);  // ~50 in 100 ms; 0 if the carrier had blocked
  EXPECT_FALSE(OffloadPool::on_pool_thread());
}

TEST(OffloadPool, ManyJobsStayWithinTheBound) {
  static OffloadPool pool;
  pool.configure(3, &start_thread);
  Scheduler s;
  static std::atomic<int> running{0}, peak{0}, finished{0};
  std::vector<Coroutine*> cs;
  for (int i = 0; i < 12; ++i)
    cs.push_back(s.spawn([](void*) {
      pool.run([](void*) {
        int now = ++running;
        int p = peak.load();
        while (now > p && !peak.compare_exchange_weak(p, now)) {
        }
        usleep(20 * 1000);
        --running;
        ++finished;
      }, nullptr);
    }, nullptr));
  for (Coroutine* c : cs) Scheduler::join(c);
  EXPECT_EQ(finished.load(), 12);
  EXPECT_LE(peak.load(), 3);
  EXPECT_LE(pool.stats().threads, 3u);
}

// After fork only the forking thread exists: the parent's idle pool thread
// did not come along. Without reset_after_fork the child's job would queue
// for it forever (the child dies of its alarm instead).
TEST(OffloadPool, ForkedChildMakesItsOwnThread) {
#if defined(COHOOK_UNDER_QEMU)
  // Under qemu-user the forked child exits with status 127 before it reports
  // (seen in CI, not investigated); natively and under ASan it passes.
  GTEST_SKIP() << "qemu-user: the forked child exits 127 (open, not investigated)";
#endif
  static OffloadPool pool;
  pool.configure(1, &start_thread);
  static std::atomic<bool> ran{false};
  pool.run([](void*) { ran = OffloadPool::on_pool_thread(); }, nullptr);
  ASSERT_TRUE(ran.load());
  ASSERT_EQ(pool.stats().threads, 1u);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    alarm(5);
    pool.reset_after_fork();
    ran = false;
    pool.run([](void*) { ran = OffloadPool::on_pool_thread(); }, nullptr);
    _exit(ran ? 0 : 1);
  }
  int st = 0;
  ASSERT_EQ(waitpid(child, &st, 0), child);
  EXPECT_TRUE(WIFEXITED(st)) << "child killed by signal " << (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  EXPECT_EQ(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
}
