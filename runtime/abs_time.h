// Absolute timeouts as POSIX gives them (a timespec on CLOCK_REALTIME or
// CLOCK_MONOTONIC) turned into the runtime's monotonic Deadline.
//
// The conversion happens once, when the call starts: a wait on CLOCK_REALTIME
// does not follow a later jump of the realtime clock (settimeofday, NTP
// steps); it ends after the time that was left when it began. Reading the
// caller's clock before the monotonic one makes any error err late, never
// early.
#pragma once
#include <ctime>

#include "clock.h"

namespace cohook {

// glibc's valid_nanoseconds: what makes a timed call fail with EINVAL.
inline bool valid_timespec_nsec(const timespec& ts) { return ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000; }

// The clocks glibc's timed waits accept (futex_abstimed_supported_clockid).
inline bool supported_wait_clock(clockid_t c) { return c == CLOCK_REALTIME || c == CLOCK_MONOTONIC; }

// `abs` must have a valid tv_nsec. A time already past (or a negative one)
// gives a deadline that has passed; a far one saturates at kForever.
inline Deadline deadline_from_abs(clockid_t clock, const timespec& abs) {
  timespec now;
  clock_gettime(clock, &now);
  Nanos mono = now_ns();
  constexpr Nanos kSec = 1000000000;
  // Seconds first, so that a huge tv_sec cannot overflow.
  __int128 left = (__int128(abs.tv_sec) - now.tv_sec) * kSec + (abs.tv_nsec - now.tv_nsec);
  if (left <= 0) return mono;
  if (left >= __int128(kForever - mono)) return kForever;
  return mono + Nanos(left);
}

}  // namespace cohook
