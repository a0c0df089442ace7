#include "fd_info.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <new>

#include "poller.h"
#include "real.h"
#include "spinlock.h"

namespace cohook::shim {

namespace {

std::atomic<uint32_t> g_next_desc{1};
SpinLock g_desc_lock;  // serialises description-wide updates

FdInfo* slot(int fd, bool create) { return detail::g_fd_infos.get(fd, create); }

void reset(FdInfo& fi) {
  fi.kind.store(FdKind::Unknown, std::memory_order_relaxed);
  fi.sock_type = fi.family = 0;
  fi.user_nonblock = fi.no_rwf_nowait = fi.shared_desc = false;
  fi.rcv_timeout_ns = fi.snd_timeout_ns = 0;
  fi.desc = g_next_desc.fetch_add(1, std::memory_order_relaxed);
  fi.read_drained.store(0, std::memory_order_relaxed);
  fi.write_drained.store(0, std::memory_order_relaxed);
}

int64_t timeout_ns(int fd, int opt) {
  timeval tv{};
  socklen_t len = sizeof tv;
  if (REAL(getsockopt)(fd, SOL_SOCKET, opt, &tv, &len) != 0) return 0;
  return int64_t(tv.tv_sec) * 1000000000 + int64_t(tv.tv_usec) * 1000;
}

// First use of an fd the shim did not see created.
bool probe(int fd, FdInfo& fi) {
  struct stat st;
  int fl = int(REAL(fcntl)(fd, F_GETFL));
  if (fl < 0 || fstat(fd, &st) != 0) return false;
  reset(fi);
  fi.user_nonblock = fl & O_NONBLOCK;
  FdKind kind;
  if (S_ISSOCK(st.st_mode)) {
    kind = FdKind::Socket;
    socklen_t len = sizeof fi.sock_type;
    REAL(getsockopt)(fd, SOL_SOCKET, SO_TYPE, &fi.sock_type, &len);
    len = sizeof fi.family;
    REAL(getsockopt)(fd, SOL_SOCKET, SO_DOMAIN, &fi.family, &len);
    fi.rcv_timeout_ns = timeout_ns(fd, SO_RCVTIMEO);
    fi.snd_timeout_ns = timeout_ns(fd, SO_SNDTIMEO);
  } else if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode)) {
    kind = FdKind::File;
  } else {
    kind = FdKind::Pollable;  // FIFO, char device, anon inodes (eventfd...)
  }
  fi.kind.store(kind, std::memory_order_release);
  return true;
}

// Apply f to every fd sharing fd's description (only dups ever share one).
template <class F>
void for_description(int fd, F f) {
  FdInfo* fi = slot(fd, false);
  if (!fi) return;
  SpinGuard g(g_desc_lock);
  f(*fi);
  if (!fi->shared_desc) return;  // the common case: no dup, nothing to scan
  uint32_t desc = fi->desc;
  detail::g_fd_infos.for_each([&](FdInfo& other) {
    if (&other != fi && other.desc == desc && other.kind.load() != FdKind::Unknown) f(other);
  });
}

}  // namespace

FdInfo* fd_info_if_known(int fd) {
  FdInfo* fi = slot(fd, false);
  return fi && fi->kind.load(std::memory_order_acquire) != FdKind::Unknown ? fi : nullptr;
}

FdTable<FdInfo> detail::g_fd_infos;

FdInfo* detail::fd_info_slow(int fd) {
  FdInfo* fi = slot(fd, true);
  if (!fi) return nullptr;
  if (fi->kind.load(std::memory_order_acquire) != FdKind::Unknown) return fi;
  return probe(fd, *fi) ? fi : nullptr;
}

void fd_created(int fd, FdKind kind, int sock_type, int family, bool nonblock) {
  fd_renewed(fd);  // any registration under this number is of an old file
  FdInfo* fi = slot(fd, true);
  if (!fi) return;
  reset(*fi);
  fi->sock_type = sock_type;
  fi->family = family;
  fi->user_nonblock = nonblock;
  fi->kind.store(kind, std::memory_order_release);
}

void fd_relearn(int fd) {
  forget_fd(fd);
  if (FdInfo* fi = slot(fd, false)) fi->kind.store(FdKind::Unknown, std::memory_order_release);
}

void fd_released(int fd) {
  forget_fd(fd);
  if (FdInfo* fi = slot(fd, false)) {
    fi->kind.store(FdKind::Unknown, std::memory_order_release);
    fi->desc = 0;
  }
}

void fd_duplicated(int oldfd, int newfd) {
  fd_renewed(newfd);
  FdInfo* to = slot(newfd, true);
  if (!to) return;
  FdInfo* from = fd_info(oldfd);
  if (!from) {
    to->kind.store(FdKind::Unknown, std::memory_order_release);
    return;
  }
  reset(*to);
  to->sock_type = from->sock_type;
  to->family = from->family;
  to->user_nonblock = from->user_nonblock;
  to->no_rwf_nowait = from->no_rwf_nowait;
  to->rcv_timeout_ns = from->rcv_timeout_ns;
  to->snd_timeout_ns = from->snd_timeout_ns;
  to->desc = from->desc;
  to->shared_desc = from->shared_desc = true;
  to->kind.store(from->kind.load(), std::memory_order_release);
}

void fd_set_nonblock(int fd, bool on) {
  if (!fd_info(fd)) return;
  for_description(fd, [on](FdInfo& fi) { fi.user_nonblock = on; });
}

void fd_set_timeout(int fd, bool send, int64_t ns) {
  if (!fd_info(fd)) return;
  for_description(fd, [send, ns](FdInfo& fi) { (send ? fi.snd_timeout_ns : fi.rcv_timeout_ns) = ns; });
}

NonblockScope::NonblockScope(int fd, FdInfo* fi) : fd_(fd), fi_(fi) {
  if (fi_->nonblock_scopes.fetch_add(1) == 0) {
    int fl = int(REAL(fcntl)(fd_, F_GETFL));
    if (fl >= 0 && !(fl & O_NONBLOCK)) {
      REAL(fcntl)(fd_, F_SETFL, fl | O_NONBLOCK);
      fi_->scope_flags = fl;
    } else {
      fi_->scope_flags = -1;  // nothing to restore
    }
  }
}

NonblockScope::~NonblockScope() {
  int saved = errno;
  if (fi_->nonblock_scopes.fetch_sub(1) == 1 && fi_->scope_flags >= 0 && !fi_->user_nonblock &&
      !fi_->sticky_nonblock)
    REAL(fcntl)(fd_, F_SETFL, fi_->scope_flags);
  errno = saved;
}

}  // namespace cohook::shim
