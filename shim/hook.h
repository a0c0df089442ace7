// Shared by the hook files: how an interposed symbol is declared, and the
// question every hook asks first -- would this call block natively, and can we
// park instead?
#pragma once
#include <cerrno>

#include "blocking_io.h"
#include "fd_info.h"
#include "park_stats.h"
#include "real.h"
#include "state.h"

// An interposed libc symbol: exported (the rest of libcohook.so is hidden),
// C linkage, and noexcept so no C++ exception can reach the host program.
#define COHOOK_HOOK extern "C" __attribute__((visibility("default")))

extern "C" [[noreturn]] void __chk_fail(void);

namespace cohook::shim {

// The fd's info if a blocking call on it should park: the shim is active,
// we are in a context that can park, and the program did not make the fd
// non-blocking itself. Regular files never "block" in the poll sense.
inline FdInfo* parkable(int fd) {
  if (!can_park()) return nullptr;
  FdInfo* fi = fd_info(fd);
  if (!fi || fi->user_nonblock || fi->kind.load(std::memory_order_relaxed) == FdKind::File) return nullptr;
  return fi;
}

// A blocking call that could not park (epoll refuses the fd, no carrier):
// it blocks the thread as natively; say so once per process at warn level.
inline void note_native_block(int fd) {
  if (g_stats.native_blocks.fetch_add(1, std::memory_order_relaxed) == 0)
    log(LogLevel::Warn, "fd %d: a call blocks its thread natively (epoll refuses the fd, or no carrier)", fd);
}

// A read/write-family call that parked is a read or write park, unless the
// caller names another reason (accept).
inline void count_outcome(const BlockingOutcome& o, ParkReason why) {
  if (o.waits) count_park(why);
  if (o.wasted) g_stats.eagain_attempts.fetch_add(o.wasted, std::memory_order_relaxed);
  if (o.last == WaitResult::TimedOut) g_stats.timeouts.fetch_add(1, std::memory_order_relaxed);
  if (o.last == WaitResult::Closed) g_stats.closed_waits.fetch_add(1, std::memory_order_relaxed);
}
inline void count_outcome(const BlockingOutcome& o) {
  count_outcome(o, o.dir == IoDir::Write ? ParkReason::Write : ParkReason::Read);
}

// fcntl(F_SETLKW / F_OFD_SETLKW): the lock, waited for off the carrier
// (shim/wait.cpp).
int fcntl_lock_wait(int fd, int cmd, long arg);

// Keeps errno as the hook's caller must see it, whatever runs in between.
class ErrnoGuard {
 public:
  ErrnoGuard() : saved_(errno) {}
  ~ErrnoGuard() { errno = saved_; }

 private:
  int saved_;
};

}  // namespace cohook::shim
