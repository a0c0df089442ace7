// Child waits and blocking file locks: calls with no fd to park on.
//  - waitpid/wait4/waitid for one specific child park on a pidfd
//    (pidfd_open, Linux >= 5.3), which becomes readable when the child
//    exits; the status is then collected with WNOHANG -- exactly what the
//    blocking call returns.
//  - Waits for any child, waits that also report stopped or continued
//    children, and blocking locks (flock, lockf F_LOCK, fcntl F_SETLKW /
//    F_OFD_SETLKW in fd.cpp) run on the offload pool: a real thread blocks
//    natively while the caller parks and its carrier keeps serving.
//  - system() and pclose() wait for their child inside libc (an internal
//    waitpid no hook sees): the whole call runs on the offload pool.
// Non-blocking forms (WNOHANG, LOCK_NB, F_TLOCK) go straight to libc.
#include <sys/file.h>
#include <cstring>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "hook.h"
#include "offloaded.h"
#include "sys.h"

using namespace cohook;
using namespace cohook::shim;

namespace {

using waitpid_t = pid_t (*)(pid_t, int*, int);
using wait4_t = pid_t (*)(pid_t, int*, int, rusage*);
using waitid_t = int (*)(idtype_t, id_t, siginfo_t*, int);
using flock_t = int (*)(int, int);

enum class ChildWait { Exited, Interrupted, Restart, NoPidfd };

// Park until child `pid` has exited (its pidfd is readable), or a signal
// handler interrupts the wait. NoPidfd: no pidfd can be had (no such child,
// an old kernel); the caller then offloads.
ChildWait park_until_exited(pid_t pid) {
  long fd = sys::call6(SYS_pidfd_open, pid, 0);
  if (fd < 0) return ChildWait::NoPidfd;
  int pfd = move_to_reserved_fd_band(int(fd));  // not the program's number
  Poller::own(pfd, true);
  Scheduler* s = Scheduler::ensure();
  count_park(ParkReason::Child);
  ChildWait result = ChildWait::Exited;
  for (;;) {
    uint64_t epoch = fd_epoch(pfd, IoDir::Read);
    pollfd p{pfd, POLLIN, 0};
    if (REAL(poll)(&p, 1, 0) > 0) break;
    WaitResult w = wait_fd(s->poller(), pfd, IoDir::Read, epoch, kForever);
    if (w == WaitResult::Interrupted || w == WaitResult::Restart) {
      result = w == WaitResult::Restart ? ChildWait::Restart : ChildWait::Interrupted;
      break;
    }
  }
  forget_fd(pfd);
  Poller::own(pfd, false);
  REAL(close)(pfd);
  return result;
}

// The pidfd path applies to one child, waiting for its exit only.
bool one_child_exit(pid_t pid, int options) { return pid > 0 && !(options & (WUNTRACED | WCONTINUED)); }

}  // namespace

COHOOK_HOOK pid_t waitpid(pid_t pid, int* status, int options) {
  static auto real_waitpid = next<waitpid_t>("waitpid");
  if ((options & WNOHANG) || !may_offload()) return real_waitpid(pid, status, options);
  Thread::test_cancel();
  if (one_child_exit(pid, options)) {
    Parker::current()->begin_interruptible();
    for (;;) {
      pid_t r = real_waitpid(pid, status, options | WNOHANG);
      if (r != 0) return r;  // its status, or an error (ECHILD...)
      ChildWait w = park_until_exited(pid);
      if (w == ChildWait::NoPidfd) break;
      if (w == ChildWait::Interrupted) {
        Thread::test_cancel();
        errno = EINTR;  // a handler without SA_RESTART (with it, waitpid restarts)
        return -1;
      }
    }
  }
  struct Out {
    pid_t r;
    int status;
  };
  Out o = offloaded(ParkReason::Child, [=] {
    Out x{};
    x.r = real_waitpid(pid, &x.status, options);
    return x;
  });
  if (o.r > 0 && status) *status = o.status;
  return o.r;
}

COHOOK_HOOK pid_t wait(int* status) { return waitpid(-1, status, 0); }

COHOOK_HOOK pid_t wait4(pid_t pid, int* status, int options, rusage* ru) {
  static auto real_wait4 = next<wait4_t>("wait4");
  if ((options & WNOHANG) || !may_offload()) return real_wait4(pid, status, options, ru);
  Thread::test_cancel();
  if (one_child_exit(pid, options)) {
    Parker::current()->begin_interruptible();
    for (;;) {
      pid_t r = real_wait4(pid, status, options | WNOHANG, ru);
      if (r != 0) return r;
      ChildWait w = park_until_exited(pid);
      if (w == ChildWait::NoPidfd) break;
      if (w == ChildWait::Interrupted) {
        errno = EINTR;
        return -1;
      }
    }
  }
  struct Out {
    pid_t r;
    int status;
    rusage ru;
  };
  Out o = offloaded(ParkReason::Child, [=] {
    Out x{};
    x.r = real_wait4(pid, &x.status, options, &x.ru);
    return x;
  });
  if (o.r > 0) {
    if (status) *status = o.status;
    if (ru) *ru = o.ru;
  }
  return o.r;
}

COHOOK_HOOK int waitid(idtype_t type, id_t id, siginfo_t* info, int options) {
  static auto real_waitid = next<waitid_t>("waitid");
  if ((options & WNOHANG) || !may_offload()) return real_waitid(type, id, info, options);
  Thread::test_cancel();
  struct Out {
    int r;
    siginfo_t info;
  };
  Out o = offloaded(ParkReason::Child, [=] {
    Out x{};
    x.r = real_waitid(type, id, &x.info, options);
    return x;
  });
  if (o.r == 0 && info) *info = o.info;
  return o.r;
}

COHOOK_HOOK int flock(int fd, int op) noexcept {
  static auto real_flock = next<flock_t>("flock");
  if ((op & LOCK_NB) || !may_offload()) return real_flock(fd, op);
  int r = real_flock(fd, op | LOCK_NB);  // free: no need for a thread
  if (r == 0 || errno != EWOULDBLOCK) return r;
  return offloaded([=] { return real_flock(fd, op); });
}

namespace {
using lockf_t = int (*)(int, int, off64_t);
int lockf_impl(lockf_t real, int fd, int cmd, off64_t len) {
  if (cmd != F_LOCK || !may_offload()) return real(fd, cmd, len);
  int r = real(fd, F_TLOCK, len);
  if (r == 0 || (errno != EACCES && errno != EAGAIN)) return r;
  return offloaded([=] { return real(fd, cmd, len); });
}
}  // namespace

// off_t is 64 bits on the 64-bit ABIs we build for, so both share one body.
static_assert(sizeof(off_t) == sizeof(off64_t));
COHOOK_HOOK int lockf(int fd, int cmd, off_t len) noexcept {
  static auto real = next<lockf_t>("lockf");
  return lockf_impl(real, fd, cmd, len);
}
// Programs built with _FILE_OFFSET_BITS=64 call lockf64.
COHOOK_HOOK int lockf64(int fd, int cmd, off64_t len) noexcept {
  static auto real = next<lockf_t>("lockf64");
  return lockf_impl(real, fd, cmd, len);
}

// fcntl F_SETLKW / F_OFD_SETLKW (from fd.cpp): try the lock without
// waiting, and wait for it on the offload pool.
int cohook::shim::fcntl_lock_wait(int fd, int cmd, long arg) {
  if (!may_offload()) return int(REAL(fcntl)(fd, cmd, arg));
  int try_cmd = cmd == F_OFD_SETLKW ? F_OFD_SETLK : F_SETLK;
  int r = int(REAL(fcntl)(fd, try_cmd, arg));
  if (r == 0 || (errno != EAGAIN && errno != EACCES)) return r;
  struct flock lock = *reinterpret_cast<const struct flock*>(arg);  // F_SETLKW only reads it
  return offloaded([=]() mutable { return int(REAL(fcntl)(fd, cmd, reinterpret_cast<long>(&lock))); });
}

COHOOK_HOOK int system(const char* command) {
  using fn_t = int (*)(const char*);
  static auto real = next<fn_t>("system");
  if (!command || !may_offload()) return real(command);  // NULL: "is there a shell?"
  char* copy = ::strdup(command);  // the caller's stack may be a copy stack
  if (!copy) return real(command);
  int r = offloaded(ParkReason::Child, [=] { return real(copy); });
  free(copy);
  return r;
}

COHOOK_HOOK int pclose(FILE* stream) {
  using fn_t = int (*)(FILE*);
  static auto real = next<fn_t>("pclose");
  if (!may_offload()) return real(stream);
  return offloaded(ParkReason::Child, [=] { return real(stream); });
}
