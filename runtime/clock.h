// Monotonic time in nanoseconds: the one clock every deadline in the runtime uses.
#pragma once
#include <cstdint>
#include <ctime>

namespace cohook {

using Nanos = int64_t;
// A deadline is an absolute CLOCK_MONOTONIC time in ns; kForever means none.
using Deadline = int64_t;
inline constexpr Deadline kForever = INT64_MAX;

inline Nanos now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return Nanos(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// now + d, saturating at kForever (a timeout of "years" must not wrap).
inline Deadline deadline_after(Nanos d) {
  if (d < 0) d = 0;
  Nanos n = now_ns();
  return d > kForever - n ? kForever : n + d;
}

}  // namespace cohook
