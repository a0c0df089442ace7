// syscall(SYS_futex, ...): the futex waits programs make without libc's
// locks (libstdc++'s std::future and atomic waits, InnoDB, custom locks).
// A coroutine parks in runtime/futex_table instead of sleeping in the kernel,
// where the coroutine that will wake it -- often on the same carrier -- could
// never run. Wakes reach both: parked waiters here, then the kernel's for
// whatever count is left (threads that waited natively, other processes).
//
// A shared (non-PRIVATE) futex may be woken from another process, which only
// the kernel sees: such waits park in 20 ms slices and return (a spurious
// wake-up, allowed by futex(2)) once the word has changed.
// io_getevents, io_pgetevents and io_uring_enter: see shim/aio.cpp.
// clone/clone3 without CLONE_VM make a new process behind libc's back
// (vsftpd forks its sessions so, to add namespace flags): the child would
// keep using the parent's epoll instances, so the shim's fork handling runs.
// Every other system call goes straight to libc's syscall().
#include <linux/futex.h>
#include <linux/sched.h>
#include <sys/syscall.h>

#include <cstdarg>

#include "aio.h"
#include "futex_table.h"
#include "hook.h"

using namespace cohook;
using namespace cohook::shim;

namespace {

using syscall_t = long (*)(long, ...);
syscall_t real_syscall() {
  static auto f = real::next<syscall_t>("syscall");
  return f;
}

long fail(int e) {
  errno = e;
  return -1;
}

bool valid(const timespec* ts) { return ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000; }

long futex_wait(const long* a, bool bitset_form) {
  auto* addr = reinterpret_cast<const std::atomic<uint32_t>*>(a[0]);
  int op = int(a[1]);
  auto expected = uint32_t(a[2]);
  auto* ts = reinterpret_cast<const timespec*>(a[3]);
  uint32_t bits = bitset_form ? uint32_t(a[5]) : FUTEX_BITSET_MATCH_ANY;
  if (bits == 0) return fail(EINVAL);
  Deadline d = kForever;
  if (ts) {
    if (!valid(ts)) return fail(EINVAL);
    int64_t ns = int64_t(ts->tv_sec) * 1000000000 + ts->tv_nsec;
    if (bitset_form) {  // absolute, on CLOCK_MONOTONIC or (flag) CLOCK_REALTIME
      timespec now;
      clock_gettime(op & FUTEX_CLOCK_REALTIME ? CLOCK_REALTIME : CLOCK_MONOTONIC, &now);
      ns -= int64_t(now.tv_sec) * 1000000000 + now.tv_nsec;
    }
    d = deadline_after(ns < 0 ? 0 : ns);
  }
  count_park(ParkReason::Futex);
  bool shared = !(op & FUTEX_PRIVATE_FLAG);
  for (;;) {
    Deadline slice = shared ? std::min(d, deadline_after(20 * 1000 * 1000)) : d;
    int r = futex_table::wait(addr, expected, slice, bits);
    if (r == 0) return 0;
    if (r == ETIMEDOUT && slice != d) {
      if (addr->load(std::memory_order_acquire) != expected) return 0;
      continue;
    }
    return fail(r);
  }
}

long futex_wake(const long* a, bool bitset_form) {
  auto n = int(a[2]);
  uint32_t bits = bitset_form ? uint32_t(a[5]) : FUTEX_BITSET_MATCH_ANY;
  if (bits == 0) return fail(EINVAL);
  int here = futex_table::wake(reinterpret_cast<const void*>(a[0]), n, bits);
  if (here >= n) return here;
  long in_kernel = real_syscall()(SYS_futex, a[0], a[1], long(n - here), a[3], a[4], a[5]);
  return in_kernel < 0 ? (here ? here : in_kernel) : here + in_kernel;
}

// A clone that makes a process (no shared memory): the fork-like kind.
bool is_process_clone(long number, const long* a) {
  if (number == SYS_clone) return !(a[0] & CLONE_VM);
  if (number == SYS_clone3 && a[0] && size_t(a[1]) >= sizeof(uint64_t))
    return !(reinterpret_cast<const clone_args*>(a[0])->flags & CLONE_VM);
  return false;
}

}  // namespace

COHOOK_HOOK long syscall(long number, ...) noexcept {
  long a[6];
  va_list ap;
  va_start(ap, number);
  for (long& x : a) x = va_arg(ap, long);  // as libc's syscall(): always six
  va_end(ap);
  if (number == SYS_futex && active()) {
    int cmd = int(a[1]) & FUTEX_CMD_MASK;
    bool wait = cmd == FUTEX_WAIT || cmd == FUTEX_WAIT_BITSET;
    // Only where a carrier exists already: making one may itself run static
    // initialisers whose guards wait in futex(2) -- they must reach the kernel.
    if (wait && Scheduler::current() && can_park()) return futex_wait(a, cmd == FUTEX_WAIT_BITSET);
    if (cmd == FUTEX_WAKE || cmd == FUTEX_WAKE_BITSET) return futex_wake(a, cmd == FUTEX_WAKE_BITSET);
  }
  if (is_completion_wait(number) && active()) return completion_wait(number, a);
  if (is_process_clone(number, a) && active()) {
    long pid = real_syscall()(number, a[0], a[1], a[2], a[3], a[4], a[5]);
    if (pid >= 0) forked_without_libc(pid == 0);
    return pid;
  }
  return real_syscall()(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
