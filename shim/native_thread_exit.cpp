#include "native_thread_exit.h"

#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <new>

#include "park.h"
#include "sanitizers.h"
#include "spinlock.h"
#include "state.h"
#include "thread.h"
#include "wait_queue.h"

namespace cohook::shim::native_exit {

struct Record {
  Start fn = nullptr;
  void* arg = nullptr;
  pthread_t handle = 0;
  bool joinable = false;
  bool has_name = false;
  char name[16] = "";
  char why[256] = "";
  // One reference for the thread, one for the registry while joinable,
  // one per joiner between find() and release().
  std::atomic<int> refs{1};
  SpinLock lock;
  bool done = false;  // under lock
  WaitQueue waiters;  // under lock
  Record* next = nullptr;  // the registry's list
};

namespace {

SpinLock g_registry_lock;
Record* g_registry = nullptr;  // newest first: a reused handle finds the new thread
std::atomic<int> g_tracked{0};

// Takes over the registry's reference.
void add(Record* r) {
  SpinGuard g(g_registry_lock);
  r->next = g_registry;
  g_registry = r;
  g_tracked.fetch_add(1, std::memory_order_relaxed);
}

// The start routine is done: record it and wake the joiners. Runs however it
// ends (DoneOnExit): by returning, or by pthread_exit or cancellation, whose
// forced unwinding runs the trampoline frame's destructors.
//
// Joiners are unparked after the lock is released: a woken joiner must not
// spin on it while this thread, just descheduled by its futex wake-up, still
// holds it (seen: 2-7 ms per join on a loaded machine). That is safe because
// a joiner that was taken off the queue goes on to glibc's blocking join,
// which returns only after this thread has exited -- its Parker outlives our
// unpark. Two or more joiners are undefined natively; past kMax they are
// woken under the lock.
__attribute__((noinline)) void mark_done(Record* r) {
  constexpr int kMax = 8;
  Parker* wake[kMax];
  int n = 0;
  {
    SpinGuard g(r->lock);
    r->done = true;
    // wake_matching visits every node (it reads `next` before calling us):
    // we take the first kMax off ourselves and let it wake the rest.
    r->waiters.wake_matching(1 << 30, [&](WaitNode& node) {
      if (n == kMax) return true;  // woken here, under the lock
      wake[n++] = node.parker;
      r->waiters.remove(&node);  // queued = false: the joiner may go on
      return false;
    });
  }
  for (int i = 0; i < n; ++i) wake[i]->unpark();
  release(r);
}

struct DoneOnExit {
  Record* r;
  ~DoneOnExit() {
#ifdef COHOOK_ASAN
    // Frames that pthread_exit's unwinding abandoned keep their shadow, and
    // mark_done's frame lies where they were (ASan clears it this way for
    // longjmp and throw, which it intercepts; glibc's unwinding it does not).
    __asan_handle_no_return();
#endif
    mark_done(r);
  }
};

void* trampoline(void* p) {
  auto* r = static_cast<Record*>(p);
  block_natively_here();
  if (r->has_name) prctl(PR_SET_NAME, r->name);
  log(LogLevel::Info, "thread %d stays native: %s", int(gettid()), r->why);
  DoneOnExit done{r};
  return r->fn(r->arg);
}

}  // namespace

int create(Create real, pthread_t* out, const pthread_attr_t* attr, Start fn, void* arg, const char* name,
           const char* why) {
  auto* r = new (std::nothrow) Record;
  if (!r) return EAGAIN;
  r->fn = fn;
  r->arg = arg;
  int detach = PTHREAD_CREATE_JOINABLE;
  if (attr) pthread_attr_getdetachstate(attr, &detach);
  r->joinable = detach == PTHREAD_CREATE_JOINABLE;
  if (name) {
    std::strncpy(r->name, name, sizeof r->name - 1);
    r->has_name = true;
  }
  std::strncpy(r->why, why, sizeof r->why - 1);
  // The registry's reference is taken before the thread can end; the record
  // is published under its handle once glibc has given one, before the
  // program sees the handle.
  if (r->joinable) r->refs.fetch_add(1, std::memory_order_relaxed);
  pthread_t h;
  int rc = real(&h, attr, &trampoline, r);
  if (rc != 0) {
    delete r;
    return rc;
  }
  if (r->joinable) {
    r->handle = h;
    add(r);
  }
  *out = h;
  return 0;
}

Record* find(pthread_t handle) {
  if (g_tracked.load(std::memory_order_relaxed) == 0) return nullptr;
  SpinGuard g(g_registry_lock);
  for (Record* r = g_registry; r; r = r->next) {
    if (r->handle == handle) {
      r->refs.fetch_add(1, std::memory_order_relaxed);
      return r;
    }
  }
  return nullptr;
}

void release(Record* r) {
  if (r->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete r;
}

void forget(Record* r) {
  {
    SpinGuard g(g_registry_lock);
    Record** p = &g_registry;
    while (*p && *p != r) p = &(*p)->next;
    if (!*p) return;  // forgotten already (two joiners)
    *p = r->next;
    g_tracked.fetch_sub(1, std::memory_order_relaxed);
  }
  release(r);
}

bool wait_done(Record* r, Deadline deadline) {
  WaitNode& node = Parker::current()->node();
  {
    SpinGuard g(r->lock);
    if (r->done) return true;
    r->waiters.push(&node);
  }
  for (;;) {
    bool in_time = node.parker->park_until(deadline);
    if (!node.queued.load(std::memory_order_acquire)) return true;  // taken off by the end
    SpinGuard g(r->lock);
    if (!node.queued.load(std::memory_order_relaxed)) return true;  // woken by the end
    if (!in_time || Thread::cancel_requested()) {
      r->waiters.remove(&node);
      return false;
    }
  }
}

}  // namespace cohook::shim::native_exit
