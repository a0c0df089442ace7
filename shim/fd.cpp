// The fd lifecycle as the shim must see it: close (and the libc calls that
// close fds: fclose, close_range, closefrom), dup, fcntl, ioctl(FIONBIO), pipe.
//
// close while another coroutine waits on the fd: the wait ends with EBADF at
// once (natively Linux leaves the reader blocked on the old file until data
// or shutdown). A coroutine can therefore never be handed events or data of
// a new file that reuses the number. docs/architecture.md explains why.
#include <linux/close_range.h>
#include <sys/ioctl.h>

#include <cstdarg>

#include "hook.h"

using namespace cohook;
using namespace cohook::shim;

COHOOK_HOOK int close(int fd) noexcept {
  if (active()) {
    if (Poller::owns_fd(fd)) {  // the carrier's own epoll/eventfd: not the program's
      errno = EBADF;
      return -1;
    }
    fd_released(fd);
  }
  return REAL(close)(fd);
}

COHOOK_HOOK int fclose(FILE* f) noexcept {
  if (active() && f) {
    int fd = fileno(f);
    if (fd >= 0) fd_released(fd);
  }
  return REAL(fclose)(f);
}

namespace {
// close_range over [first, last], skipping the runtime's own fds.
int close_range_sparing_runtime(unsigned first, unsigned last, int flags) {
  if (!REAL(close_range)) {
    errno = ENOSYS;
    return -1;
  }
  uint64_t from = first;  // 64-bit: own + 1 must not wrap
  int r = 0;
  for (int own : Poller::owned_fds_snapshot()) {  // sorted
    if (uint64_t(own) < from || unsigned(own) > last) continue;
    if (uint64_t(own) > from) r |= REAL(close_range)(unsigned(from), unsigned(own) - 1, flags);
    from = uint64_t(own) + 1;
  }
  if (from <= last) r |= REAL(close_range)(unsigned(from), last, flags);
  return r ? -1 : 0;
}
}  // namespace

COHOOK_HOOK int close_range(unsigned first, unsigned last, int flags) noexcept {
  if (!active()) return REAL(close_range) ? REAL(close_range)(first, last, flags) : (errno = ENOSYS, -1);
  if (first > last) return REAL(close_range)(first, last, flags);  // EINVAL as native
  if (!(flags & CLOSE_RANGE_CLOEXEC))
    for (unsigned fd = first; fd <= last && fd < unsigned(kMaxTrackedFd); ++fd)
      if (fd_info_if_known(int(fd))) fd_released(int(fd));
  return close_range_sparing_runtime(first, last, flags);
}

COHOOK_HOOK void closefrom(int lowfd) noexcept {
  if (!active()) {
    if (REAL(closefrom)) REAL(closefrom)(lowfd);
    return;
  }
  close_range(unsigned(lowfd < 0 ? 0 : lowfd), ~0u, 0);
}

COHOOK_HOOK int dup(int fd) noexcept {
  int r = REAL(dup)(fd);
  if (r >= 0 && active()) fd_duplicated(fd, r);
  return r;
}

COHOOK_HOOK int dup2(int oldfd, int newfd) noexcept {
  if (active() && oldfd != newfd && fd_info_if_known(newfd)) fd_released(newfd);
  int r = REAL(dup2)(oldfd, newfd);
  if (r >= 0 && active() && oldfd != newfd) fd_duplicated(oldfd, r);
  return r;
}

COHOOK_HOOK int dup3(int oldfd, int newfd, int flags) noexcept {
  if (active() && oldfd != newfd && fd_info_if_known(newfd)) fd_released(newfd);
  int r = REAL(dup3)(oldfd, newfd, flags);
  if (r >= 0 && active()) fd_duplicated(oldfd, r);
  return r;
}

namespace {
int do_fcntl(int fd, int cmd, long arg) {
  if ((cmd == F_SETLKW || cmd == F_OFD_SETLKW) && active()) return fcntl_lock_wait(fd, cmd, arg);
  int r = int(REAL(fcntl)(fd, cmd, arg));
  if (r < 0 || !active()) return r;
  switch (cmd) {
    case F_SETFL:
      fd_set_nonblock(fd, arg & O_NONBLOCK);
      break;
    case F_GETFL:
      // While an accept/connect/sendfile has the description non-blocking,
      // report the program's own view of the flag.
      if (FdInfo* fi = fd_info_if_known(fd); fi && (fi->nonblock_scopes.load() > 0 || fi->sticky_nonblock))
        r = fi->user_nonblock ? (r | O_NONBLOCK) : (r & ~O_NONBLOCK);
      break;
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
      fd_duplicated(fd, r);
      break;
    default:
      break;
  }
  return r;
}
}  // namespace

COHOOK_HOOK int fcntl(int fd, int cmd, ...) noexcept {
  va_list ap;
  va_start(ap, cmd);
  long arg = va_arg(ap, long);  // every fcntl argument fits a long (int or pointer)
  va_end(ap);
  return do_fcntl(fd, cmd, arg);
}

COHOOK_HOOK int fcntl64(int fd, int cmd, ...) noexcept {
  va_list ap;
  va_start(ap, cmd);
  long arg = va_arg(ap, long);
  va_end(ap);
  return do_fcntl(fd, cmd, arg);
}

COHOOK_HOOK int ioctl(int fd, unsigned long request, ...) noexcept {
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  int r = REAL(ioctl)(fd, request, arg);
  if (r == 0 && request == FIONBIO && arg && active()) fd_set_nonblock(fd, *static_cast<int*>(arg) != 0);
  return r;
}

COHOOK_HOOK int pipe(int fds[2]) noexcept {
  int r = REAL(pipe)(fds);
  if (r == 0 && active()) {
    fd_created(fds[0], FdKind::Pollable, 0, 0, false);
    fd_created(fds[1], FdKind::Pollable, 0, 0, false);
  }
  return r;
}

COHOOK_HOOK int pipe2(int fds[2], int flags) noexcept {
  int r = REAL(pipe2)(fds, flags);
  if (r == 0 && active()) {
    fd_created(fds[0], FdKind::Pollable, 0, 0, flags & O_NONBLOCK);
    fd_created(fds[1], FdKind::Pollable, 0, 0, flags & O_NONBLOCK);
  }
  return r;
}
