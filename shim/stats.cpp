// COHOOK_STATS: one line of counters, at exit and on request.
//
// Live requests are answered by a plain OS thread blocked in accept on the
// abstract socket "\0cohook-stats-<pid>" (runtime/stats_socket.h): not a
// carrier, so a request never takes time from the program's coroutines, and
// it makes raw system calls only, so no hook sees it. Its signals are
// blocked: process-directed signals stay with the program's threads. Only a
// peer with the process's effective uid (SO_PEERCRED) gets the line; any
// other is closed on without a byte.
#include "stats.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "park_stats.h"
#include "real.h"
#include "scheduler_counters.h"
#include "stack_pool.h"
#include "state.h"
#include "stats_socket.h"
#include "sys.h"

namespace cohook::shim {

namespace {

// COHOOK_STATS=stderr writes here: a copy of fd 2 made at start-up, because
// programs close stderr in their own atexit handlers (coreutils does), which
// run before ours.
int g_stats_fd = -1;
int g_listen_fd = -1;  // the live socket, in the reserved fd band

// Appends "key value" pairs to a fixed buffer; ok() false once it overflowed.
class Line {
 public:
  Line(char* buf, size_t size) : buf_(buf), size_(size) {}
  void put(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    if (used_ >= size_) return;
    va_list ap;
    va_start(ap, fmt);
    int n = std::vsnprintf(buf_ + used_, size_ - used_, fmt, ap);
    va_end(ap);
    used_ = n < 0 ? size_ : used_ + size_t(n);
  }
  void num(const char* key, unsigned long long v) { put(" %s %llu", key, v); }
  size_t finish() {
    put("\n");
    return used_ < size_ ? used_ : 0;
  }

 private:
  char* buf_;
  size_t size_;
  size_t used_ = 0;
};

void write_all(int fd, const char* p, size_t n) {
  while (n) {
    long w = sys::write(fd, p, n);
    if (w == -EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= size_t(w);
  }
}

void print_stats() {
  if (!g_config.stats[0]) return;
  char buf[2048];
  size_t n = format_stats(buf, sizeof buf);
  if (!n) return;
  if (std::strcmp(g_config.stats, "stderr") == 0) {
    write_all(g_stats_fd >= 0 ? g_stats_fd : STDERR_FILENO, buf, n);
  } else {
    // One write with O_APPEND: lines of several processes never interleave.
    int fd = int(sys::call6(SYS_openat, AT_FDCWD, long(g_config.stats), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
                            0666));
    if (fd < 0) return;
    write_all(fd, buf, n);
    sys::close(fd);
  }
}

// One request: the line for a peer of our effective uid, nothing for others.
void answer(int conn) {
  ucred peer{};
  socklen_t len = sizeof peer;
  long r = sys::call6(SYS_getsockopt, conn, SOL_SOCKET, SO_PEERCRED, long(&peer), long(&len));
  if (r != 0 || peer.uid != geteuid()) return;
  char buf[2048];
  if (size_t n = format_stats(buf, sizeof buf)) write_all(conn, buf, n);
}

void* serve(void* arg) {
  const int listener = int(reinterpret_cast<long>(arg));
  for (;;) {
    long c = sys::call6(SYS_accept4, listener, 0, 0, SOCK_CLOEXEC);
    if (c < 0) {
      if (c == -EBADF || c == -EINVAL || c == -ENOTSOCK) return nullptr;  // closed (a forked child's copy)
      if (c == -EMFILE || c == -ENFILE || c == -ENOBUFS || c == -ENOMEM) REAL(usleep)(100 * 1000);  // don't spin
      continue;
    }
    // Out of the program's fd numbers while it is open.
    int conn = move_to_reserved_fd_band(int(c));
    if (conn < 0) continue;
    Poller::own(conn, true);
    answer(conn);
    Poller::own(conn, false);
    sys::close(conn);
  }
}

void start_server() {
  sockaddr_un addr;
  socklen_t len = stats_socket_address(long(getpid()), addr);
  long s = sys::call6(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    log(LogLevel::Warn, "COHOOK_STATS: no live stats socket (socket: %s)", std::strerror(int(-s)));
    return;
  }
  int fd = move_to_reserved_fd_band(int(s));
  long r = fd < 0 ? -EMFILE : sys::call6(SYS_bind, fd, long(&addr), len);
  if (r == 0) r = sys::call6(SYS_listen, fd, 16);
  if (r != 0) {
    log(LogLevel::Warn, "COHOOK_STATS: no live stats socket (%s)", std::strerror(int(-r)));
    if (fd >= 0) sys::close(fd);
    return;
  }
  Poller::own(fd, true);  // the program cannot close it: not its fd
  // The thread starts with every signal blocked.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int e = start_os_thread(&serve, reinterpret_cast<void*>(long(fd)), 256 * 1024);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (e != 0) {
    log(LogLevel::Warn, "COHOOK_STATS: no live stats thread (%s)", std::strerror(e));
    Poller::own(fd, false);
    sys::close(fd);
    return;
  }
  g_listen_fd = fd;
}

}  // namespace

size_t format_stats(char* buf, size_t size) {
  Line l(buf, size);
  l.put("cohook stats: pid %d", int(getpid()));
  l.num("parks", parks_total());
  for (size_t i = 0; i < kParkReasons; ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "parks_%s", park_reason_name(ParkReason(i)));
    l.num(key, parks_for(ParkReason(i)));
  }
  l.num("eagain_attempts", g_stats.eagain_attempts.load());
  l.num("timeouts", g_stats.timeouts.load());
  l.num("closed_waits", g_stats.closed_waits.load());
  l.num("native_blocks", g_stats.native_blocks.load());
  l.num("carriers", g_stats.carriers.load());
  l.num("threads_created", g_stats.threads_created.load());
  l.num("coroutines_live", LiveCoroutines::now());
  l.num("coroutines_peak", LiveCoroutines::peak());
  CarrierCounters::Totals t = CarrierCounters::sum();
  l.num("switches", t.switches);
  l.num("epoll_waits", t.polls);
  OffloadPool::Stats o = offload().stats();
  l.num("offloaded", g_stats.offloaded.load());
  l.num("offload_threads", o.threads);
  l.num("offload_queue_depth", o.queued);
  l.num("offload_queue_peak", o.queue_peak);
  l.num("offload_wait_mean_ns", o.started ? o.wait_ns / o.started : 0);
  l.num("offload_wait_max_ns", o.wait_max_ns);
  l.num("stalls", g_stats.stalls.load());
  l.num("stack_reserved_bytes", StackPool::reserved_bytes());
  l.num("stack_committed_bytes", StackPool::committed_bytes());
  return l.finish();
}

void start_stats() {
  if (!g_config.stats[0]) return;
  if (std::strcmp(g_config.stats, "stderr") == 0) {
    g_stats_fd = move_to_reserved_fd_band(int(REAL(fcntl)(STDERR_FILENO, F_DUPFD_CLOEXEC, 0)));
    Poller::own(g_stats_fd, true);  // the program cannot close it: not its fd
  }
  std::atexit(print_stats);
  start_server();
}

void restart_stats_after_fork() {
  if (!g_config.stats[0]) return;
  if (g_listen_fd >= 0) {
    // The parent's socket (and name): ours to drop, its server is not here.
    Poller::own(g_listen_fd, false);
    sys::close(g_listen_fd);
    g_listen_fd = -1;
  }
  start_server();
}

}  // namespace cohook::shim
