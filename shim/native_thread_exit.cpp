#include "native_thread_exit.h"

#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <new>

#include "park.h"
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

// Runs however the start routine ends: by returning, or by pthread_exit or
// cancellation, whose forced unwinding runs this frame's destructors.
struct DoneOnExit {
  Record* r;
  ~DoneOnExit() {
    {
      SpinGuard g(r->lock);
      r->done = true;
      r->waiters.wake_all();
    }
    release(r);
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
    SpinGuard g(r->lock);
    if (!node.queued.load(std::memory_order_relaxed)) return true;  // woken by the end
    if (!in_time || Thread::cancel_requested()) {
      r->waiters.remove(&node);
      return false;
    }
  }
}

}  // namespace cohook::shim::native_exit
