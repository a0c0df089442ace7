// Poller: one carrier's epoll instance, and the process-wide table of fds that
// coroutines wait on.
//
// Contract with the rest of the runtime:
//  - An fd is added to a carrier's epoll once, edge-triggered for read and
//    write, when a coroutine of that carrier first waits on it, and stays
//    there until forget_fd() (the shim calls it before close). A wait in the
//    steady state is therefore a few atomic operations and no epoll_ctl
//    (libco does ADD + DEL per wait). Each carrier that waits on an fd has it
//    in its own epoll, so no waiter depends on another thread's dispatcher.
//  - Readiness is counted per fd and direction as an epoch. A waiter samples
//    the epoch *before* its non-blocking attempt and passes it to wait_fd();
//    if any event arrived since, wait_fd returns at once. With edge-triggered
//    epoll this is what makes a lost wake-up impossible.
//  - An event seen by any carrier wakes the fd's waiters on every carrier.
//  - Each registration carries the fd's generation; events of a closed fd that
//    are still in flight are recognised and dropped, so a waiter can never be
//    handed the readiness of a new file that reuses the number.
#pragma once
#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "clock.h"
#include "fd_table.h"

namespace cohook {

enum class IoDir : uint8_t { Read = 0, Write = 1 };
inline constexpr uint64_t kEpochFinal = uint64_t(1) << 63;

enum class WaitResult : uint8_t {
  Ready,        // an event arrived (or had arrived since the epoch sample)
  TimedOut,     // the deadline passed first
  Closed,       // forget_fd() was called for it (the program closed it)
  NotPollable,  // epoll refuses this fd (regular files: EPERM); block natively
  Interrupted,  // a signal handler ran while it waited (no SA_RESTART)
  Restart,      // ... a handler with SA_RESTART: restartable calls go on
};

// The interrupt a woken waiter found, as a WaitResult (Ready if none).
WaitResult take_interrupt_result(class Parker* p);

class Poller {
 public:
  Poller();
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  bool ok() const { return epfd_ >= 0 && wakefd_ >= 0; }
  int epoll_fd() const { return epfd_; }

  // Sleep in epoll until an event, wake() or the deadline; dispatch fd events
  // to their waiters. Returns the number of events handled.
  int poll(Deadline deadline);
  // Interrupt poll() from any thread (eventfd write).
  void wake();

  // Add fd to this epoll (edge-triggered, read + write). false + errno.
  bool add(int fd, uint32_t generation);
  // Register a timeout precision hint: true if epoll_pwait2 (ns precision) is used.
  static bool has_ns_precision();
  // Is fd one of the runtime's own (a carrier's epoll or eventfd)? The shim
  // keeps the program from closing those: to the program they do not exist.
  static bool owns_fd(int fd);
  // Add/remove another fd of the runtime's (or the shim's) to that set.
  static void own(int fd, bool add);
  // All of them, sorted (for close_range).
  static std::vector<int> owned_fds_snapshot();
  // epoll_ctl calls made by all pollers (registration cost is observable).
  static uint64_t epoll_ctl_calls();

 private:
  int epfd_ = -1;
  int wakefd_ = -1;
};

// Readiness epoch of fd in one direction; sample it before trying the I/O.
// kEpochFinal is set, for good, once a hang-up or error was reported: from
// then on no new edge will come, so every attempt must really be made (a
// short read no longer means "drained": EOF may be waiting behind the data).
uint64_t fd_epoch(int fd, IoDir dir);
// Park the current coroutine (or thread) until fd is ready in `dir`, unless
// an event arrived after `epoch` was sampled. `poller` is the carrier's, used
// if the fd has no registration yet.
WaitResult wait_fd(Poller& poller, int fd, IoDir dir, uint64_t epoch, Deadline deadline);
// The fd number now names a different file than before (it was just
// returned by socket/accept/open/dup...): drop any registration it had.
inline void fd_renewed(int fd);
// One fd of a multi-fd wait (poll, select): which directions, and the
// epochs sampled before the caller's non-blocking check.
struct FdInterest {
  int fd;
  bool read, write;
  uint64_t read_epoch, write_epoch;
};
// Park until any of them is ready (Ready), the deadline (TimedOut), or an
// fd of the set is closed (Closed; *closed_index says which). Unpollable fds
// count as Ready, as poll(2) reports regular files always ready.
WaitResult wait_any(Poller& poller, FdInterest* set, size_t n, Deadline deadline,
                    size_t* closed_index = nullptr);

// The fd is being closed: drop its registration and wake its waiters with
// Closed. Safe for fds nobody waited on (a cheap check).
void forget_fd(int fd);
// The runtime's own fds (each carrier's epoll and eventfd) live in a reserved
// band at the top of the fd table, min(RLIMIT_NOFILE/8, 256) fds just below
// the soft limit, so they never take a number or a slot the program would
// have had below it. Returns the fd moved there (CLOEXEC), or -1 (fd closed)
// when the band is full: the caller must then do without.
int move_to_reserved_fd_band(int fd);
// Wake every waiter of fd as if an event had arrived (they retry their call):
// for state changes the kernel does not report through epoll.
void notify_fd(int fd);

inline void fd_renewed(int fd) { forget_fd(fd); }

// In a forked child: every epoll instance of the parent's carriers is gone
// from this process's point of view; drop all registrations so waits
// register afresh with the child's new carriers.
void forget_all_fds_after_fork();

}  // namespace cohook
