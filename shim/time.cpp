// The sleep family: sleep, usleep, nanosleep, clock_nanosleep. A sleeping
// coroutine parks on its carrier's timer heap; the carrier sleeps in epoll
// until the earliest deadline, so nothing wakes early and idle costs nothing.
// Argument checking and return values are libc's own.
#include "hook.h"
#include "thread.h"

using namespace cohook;
using namespace cohook::shim;

namespace {

bool valid(const timespec* ts) { return ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000; }

Nanos to_ns(const timespec* ts) {
  constexpr Nanos kMaxSec = INT64_MAX / 1000000000 - 1;
  return ts->tv_sec > kMaxSec ? kForever : Nanos(ts->tv_sec) * 1000000000 + ts->tv_nsec;
}

// false if a signal handler interrupted the sleep; `left` then holds the rest.
bool park_until(Deadline d, timespec* left = nullptr) {
  count_park(ParkReason::Sleep);
  Thread::test_cancel();  // sleeps are cancellation points
  if (Scheduler::sleep_until(d)) return true;
  Thread::test_cancel();  // pthread_cancel interrupts the sleep
  if (left) {
    Nanos rest = std::max<Nanos>(0, d - now_ns());
    left->tv_sec = rest / 1000000000;
    left->tv_nsec = rest % 1000000000;
  }
  return false;
}

// Deadline on our monotonic clock for an absolute time on `clock`.
bool absolute_deadline(clockid_t clock, const timespec* ts, Deadline& out) {
  timespec now;
  if (clock_gettime(clock, &now) != 0) return false;
  Nanos delta = to_ns(ts) - (Nanos(now.tv_sec) * 1000000000 + now.tv_nsec);
  out = deadline_after(delta < 0 ? 0 : delta);
  return true;
}

}  // namespace

COHOOK_HOOK int nanosleep(const timespec* req, timespec* rem) noexcept {
  if (!can_park() || !req || !valid(req)) return REAL(nanosleep)(req, rem);
  if (park_until(deadline_after(to_ns(req)), rem)) return 0;
  errno = EINTR;
  return -1;
}

COHOOK_HOOK int clock_nanosleep(clockid_t clock, int flags, const timespec* req, timespec* rem) noexcept {
  if (!can_park() || !req || !valid(req)) return REAL(clock_nanosleep)(clock, flags, req, rem);
  // Clocks we can map onto the monotonic timer heap; others (CPU-time
  // clocks, invalid ids) go to libc, which gives the native answer.
  if (clock != CLOCK_MONOTONIC && clock != CLOCK_REALTIME && clock != CLOCK_BOOTTIME)
    return REAL(clock_nanosleep)(clock, flags, req, rem);
  Deadline d;
  if (flags & TIMER_ABSTIME) {
    // Absolute realtime: converted once (a clock jump during the sleep is
    // not followed; documented).
    if (!absolute_deadline(clock, req, d)) return REAL(clock_nanosleep)(clock, flags, req, rem);
  } else {
    d = deadline_after(to_ns(req));
  }
  // Returns the error number itself; `rem` only for relative sleeps.
  return park_until(d, (flags & TIMER_ABSTIME) ? nullptr : rem) ? 0 : EINTR;
}

COHOOK_HOOK int usleep(useconds_t us) noexcept {
  if (!can_park()) return REAL(usleep)(us);
  if (park_until(deadline_after(Nanos(us) * 1000))) return 0;
  errno = EINTR;
  return -1;
}

COHOOK_HOOK unsigned int sleep(unsigned int seconds) noexcept {
  if (!can_park()) return REAL(sleep)(seconds);
  timespec left{};
  if (park_until(deadline_after(Nanos(seconds) * 1000000000), &left)) return 0;
  return unsigned(left.tv_sec);  // glibc truncates what is left
}
