// offloaded(call): run a call that cannot park on the offload pool
// (runtime/offload.h) while the caller parks; its result, and errno.
#pragma once
#include <new>

#include "hook.h"

namespace cohook::shim {

using real::next;

// Can this caller park, and is there somewhere else to block?
inline bool may_offload() { return can_park() && Scheduler::ensure(); }

// Does [p, p + n) overlap the caller's copy stack (COHOOK_STACK_MODE=shared)?
// Others overwrite it while the caller is parked: a pool thread must not
// read or write there.
inline bool on_copy_stack(const void* p, size_t n) {
  Coroutine* co = Coroutine::current();
  if (!co || !co->on_shared_stack()) return false;
  const Stack& s = co->stack();
  auto* a = static_cast<const char*>(p);
  return a < s.top() && a + n > s.base;
}

// Run call() on the offload pool, parking the caller; its result, and errno.
// The call and its result live on the heap and call() captures by value:
// the caller's stack may be a copy stack that others overwrite while it is
// parked, so the pool thread must not touch it. Outputs are copied to the
// program's pointers by the caller once it runs again.
// `why` says what the caller waits for (COHOOK_STATS parks by reason).
template <class Call>
auto offloaded(ParkReason why, Call call) -> decltype(call()) {
  using Result = decltype(call());
  struct Job {
    Call call;
    Result result;
  };
  auto* job = new (std::nothrow) Job{call, Result{}};
  if (!job) return call();  // no memory for the hand-over: block here
  g_stats.offloaded.fetch_add(1, std::memory_order_relaxed);
  count_park(why);
  offload().run([](void* p) {
    auto* j = static_cast<Job*>(p);
    j->result = j->call();
  }, job);
  int e = errno;
  Result r = job->result;
  delete job;
  errno = e;
  return r;
}
template <class Call>
auto offloaded(Call call) -> decltype(call()) {
  return offloaded(ParkReason::Offload, call);
}

}  // namespace cohook::shim
