// Socket lifecycle: socket, socketpair, accept, connect, shutdown and the
// socket options the shim must know about (SO_RCVTIMEO, SO_SNDTIMEO).
#include <sys/un.h>

#include "hook.h"

using namespace cohook;
using namespace cohook::shim;

namespace {

bool is_socket(const FdInfo* fi) { return fi->kind.load(std::memory_order_relaxed) == FdKind::Socket; }

void track_socket(int fd, int type, int family) {
  if (fd < 0 || !active()) return;
  fd_created(fd, FdKind::Socket, type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC), family, type & SOCK_NONBLOCK);
}

int64_t kernel_timeout_ns(int fd, int opt) {
  timeval tv{};
  socklen_t len = sizeof tv;
  if (getsockopt(fd, SOL_SOCKET, opt, &tv, &len) != 0) return 0;
  return int64_t(tv.tv_sec) * 1000000000 + int64_t(tv.tv_usec) * 1000;
}

int do_accept(int fd, sockaddr* addr, socklen_t* len, int flags) {
  FdInfo* fi = parkable(fd);
  int r;
  if (!fi || !is_socket(fi)) {
    r = REAL(accept4)(fd, addr, len, flags);
  } else {
    // accept has no per-call non-blocking flag: the listener is made
    // non-blocking just for the attempt (docs/architecture.md, "flags").
    // SO_RCVTIMEO applies to accept natively, so it does here.
    BlockingCall c{fd, IoDir::Read, io_deadline(fi->rcv_timeout_ns, g_config.io_timeout_ms)};
    c.restartable = fi->rcv_timeout_ns == 0;
    BlockingOutcome out;
    r = int(run_blocking(
        c,
        [&] {
          // A listener shared with other processes (prefork): one process
          // ending its scope would clear the flag under another's accept4,
          // which would then block its carrier. Leave it set (the program
          // still sees its own view through F_GETFL).
          if (process_has_forked()) fi->sticky_nonblock = true;
          NonblockScope nb(fd, fi);
          return ssize_t(REAL(accept4)(fd, addr, len, flags));
        },
        [&] { return ssize_t(REAL(accept4)(fd, addr, len, flags)); }, &out));
    count_outcome(out, ParkReason::Accept);
  }
  if (r >= 0 && active()) {
    FdInfo* lfi = fd_info_if_known(fd);
    fd_created(r, FdKind::Socket, lfi ? lfi->sock_type : SOCK_STREAM, lfi ? lfi->family : 0,
               flags & SOCK_NONBLOCK);
    // The kernel copies the listener's timeouts to the new socket.
    if (lfi && (lfi->rcv_timeout_ns || lfi->snd_timeout_ns)) {
      fd_set_timeout(r, false, lfi->rcv_timeout_ns);
      fd_set_timeout(r, true, lfi->snd_timeout_ns);
    }
  }
  return r;
}

// A blocking connect: start it non-blocking, wait until writable, then ask
// with a second connect() -- exactly what the blocking call returns (0,
// ECONNREFUSED, ETIMEDOUT, ENETUNREACH...), leaving the socket in the state
// the blocking call leaves it. SO_SNDTIMEO bounds it as natively (EINPROGRESS).
int do_connect(int fd, FdInfo* fi, const sockaddr* addr, socklen_t len) {
  uint64_t epoch = fd_epoch(fd, IoDir::Write);
  int r;
  {
    NonblockScope nb(fd, fi);
    r = REAL(connect)(fd, addr, len);
  }
  if (r == 0) return 0;
  Deadline by_program = fi->snd_timeout_ns ? deadline_after(fi->snd_timeout_ns) : kForever;
  Deadline by_cap = g_config.connect_timeout_ms ? deadline_after(int64_t(g_config.connect_timeout_ms) * 1000000)
                                                : kForever;
  Deadline d = std::min(by_program, by_cap);
  if (errno == EAGAIN && fi->family == AF_UNIX) {
    // A full listen backlog: blocking connect waits for room. The kernel has
    // no readiness event for that, so retry on a short, growing sleep.
    count_park(ParkReason::Connect);
    Nanos pause = 100000;
    for (;;) {
      if (now_ns() >= d) {
        errno = d == by_program ? EAGAIN : ETIMEDOUT;
        return -1;
      }
      Scheduler::sleep_until(std::min(d, deadline_after(pause)));
      pause = std::min<Nanos>(pause * 2, 20000000);
      {
        NonblockScope nb(fd, fi);
        r = REAL(connect)(fd, addr, len);
      }
      if (r == 0 || errno != EAGAIN) return r;
    }
  }
  if (errno != EINPROGRESS) return r;
  count_park(ParkReason::Connect);
  Scheduler* carrier = Scheduler::ensure();
  for (;;) {
    WaitResult w = carrier ? wait_fd(carrier->poller(), fd, IoDir::Write, epoch, d) : WaitResult::NotPollable;
    if (w == WaitResult::TimedOut) {
      g_stats.timeouts.fetch_add(1, std::memory_order_relaxed);
      errno = d == by_program ? EINPROGRESS : ETIMEDOUT;
      return -1;
    }
    if (w == WaitResult::Closed) {
      errno = EBADF;
      return -1;
    }
    // connect is restarted after an SA_RESTART handler unless the socket has
    // a send timeout (signal(7)); the connection itself goes on either way.
    if (w == WaitResult::Interrupted || (w == WaitResult::Restart && fi->snd_timeout_ns)) {
      errno = EINTR;
      return -1;
    }
    // Ask the kernel how it went the way its own blocking connect does: one
    // more connect() on the socket. Reading SO_ERROR instead would leave the
    // socket in SS_CONNECTING, and a later connect() would then say
    // ECONNABORTED or 0 where natively it says ECONNREFUSED or EISCONN.
    epoch = fd_epoch(fd, IoDir::Write);
    {
      NonblockScope nb(fd, fi);
      r = REAL(connect)(fd, addr, len);
    }
    if (r == 0) return 0;
    if (errno == EISCONN) return 0;  // completed in between
    if (errno != EALREADY && errno != EINPROGRESS) return -1;  // ECONNREFUSED...
    if (w == WaitResult::NotPollable) Scheduler::sleep_for(1000000);
  }
}

}  // namespace

COHOOK_HOOK int socket(int domain, int type, int protocol) noexcept {
  int fd = REAL(socket)(domain, type, protocol);
  track_socket(fd, type, domain);
  return fd;
}

COHOOK_HOOK int socketpair(int domain, int type, int protocol, int sv[2]) noexcept {
  int r = REAL(socketpair)(domain, type, protocol, sv);
  if (r == 0) {
    track_socket(sv[0], type, domain);
    track_socket(sv[1], type, domain);
  }
  return r;
}

COHOOK_HOOK int accept(int fd, sockaddr* addr, socklen_t* len) noexcept { return do_accept(fd, addr, len, 0); }
COHOOK_HOOK int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) noexcept {
  return do_accept(fd, addr, len, flags);
}

COHOOK_HOOK int connect(int fd, const sockaddr* addr, socklen_t len) noexcept {
  FdInfo* fi = parkable(fd);
  if (!fi || !is_socket(fi)) return REAL(connect)(fd, addr, len);
  int caller_errno = errno;  // success leaves errno as it was, not EINPROGRESS
  int r = do_connect(fd, fi, addr, len);
  if (r == 0) errno = caller_errno;
  return r;
}

COHOOK_HOOK int shutdown(int fd, int how) noexcept {
  int r = REAL(shutdown)(fd, how);
  // Not every socket family signals its own side's shutdown to epoll; make
  // sure parked readers and writers retry and see EOF/EPIPE as natively.
  if (r == 0 && active()) notify_fd(fd);
  return r;
}

COHOOK_HOOK int setsockopt(int fd, int level, int opt, const void* val, socklen_t len) noexcept {
  int r = REAL(setsockopt)(fd, level, opt, val, len);
  if (r != 0 || level != SOL_SOCKET || !active()) return r;
  bool rcv = opt == SO_RCVTIMEO_OLD || opt == SO_RCVTIMEO_NEW;
  bool snd = opt == SO_SNDTIMEO_OLD || opt == SO_SNDTIMEO_NEW;
  if (rcv || snd) {
    ErrnoGuard keep;
    // Read back what the kernel stored (it rounds to its tick), so waits end
    // when the native call would.
    fd_set_timeout(fd, snd, kernel_timeout_ns(fd, snd ? SO_SNDTIMEO : SO_RCVTIMEO));
  }
  return r;
}
