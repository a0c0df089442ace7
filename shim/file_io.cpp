// Regular-file I/O with COHOOK_FILE_IO=offload: read, write, pread, pwrite,
// their vector and 64-bit forms, fsync, fdatasync, and open, openat, creat.
//
// A regular file is always "ready" to epoll, so there is nothing to park on:
// a read that misses the page cache (or an fsync, or an open on a slow
// network file system) holds its carrier and every coroutine on it. In
// offload mode the call runs on the offload pool and the caller parks.
// Sockets, pipes, FIFOs and ttys never come here (io.cpp parks on them).
//
// In the default inline mode every hook here is one comparison in front of
// libc's function. Opens are offloaded whatever they open: which file a path
// names is unknown until it is open, and an open can be the slow part (a
// FIFO's open(O_RDONLY) waits for a writer natively; an NFS open waits for
// the server). In inline mode an open of a FIFO blocks its carrier as a
// regular open would: telling FIFOs apart first would cost every open a
// stat, which inline mode promises not to add.
//
// Buffers: a caller on a copy stack (COHOOK_STACK_MODE=shared) has its stack
// overwritten by others while it is parked, so a buffer on that stack is
// bounced through the heap; a vector whose pieces live there runs inline.
// Paths are always copied.
#include "file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <climits>
#include <cstdarg>
#include <cstdlib>
#include <cstring>

#include "hook.h"
#include "offloaded.h"

using namespace cohook;
using namespace cohook::shim;

namespace {

static_assert(sizeof(off_t) == sizeof(off64_t), "one body serves pread and pread64");

// Should a call on fd run on the pool?
bool offloadable(int fd) {
  if (!file_io_offload() || !may_offload()) return false;
  FdInfo* fi = fd_info(fd);
  return fi && fi->kind.load(std::memory_order_relaxed) == FdKind::File;
}

// io(buffer) on the pool; `into`: the call fills the buffer (a read).
template <class Io>
ssize_t one_buffer(void* buf, size_t n, bool into, Io io) {
  int caller_errno = errno;  // a call that succeeds leaves errno alone
  ssize_t r;
  if (!on_copy_stack(buf, n)) {
    r = offloaded([=] { return io(buf); });
  } else {
    auto* tmp = static_cast<char*>(malloc(n ? n : 1));
    if (!tmp) return io(buf);
    if (!into) std::memcpy(tmp, buf, n);
    r = offloaded([=] { return io(tmp); });
    int e = errno;
    if (into && r > 0) std::memcpy(buf, tmp, size_t(r));
    free(tmp);
    errno = e;
  }
  if (r >= 0) errno = caller_errno;
  return r;
}

// A read on the pool unless the page cache has all of it: preadv2 with
// RWF_NOWAIT returns cached data at once and EAGAIN where it would wait for
// the device, so a cache hit costs no thread hand-over. What is missing of
// a partly cached read is read on the pool, as one call would natively.
// off -1: at (and moving) the file position, as read().
ssize_t read_file(int fd, void* buf, size_t n, off_t off) {
  FdInfo* fi = fd_info(fd);
  if (fi && !fi->no_rwf_nowait && n > 0) {
    iovec v{buf, n};
    ssize_t r = REAL(preadv2)(fd, &v, 1, off, RWF_NOWAIT);
    if (r < 0 && errno == EOPNOTSUPP) fi->no_rwf_nowait = true;  // this file system: always the pool
    if (r == ssize_t(n) || r == 0 || (r < 0 && errno != EAGAIN && errno != EOPNOTSUPP)) return r;
    if (r > 0) {
      int saved = errno;
      size_t rest = n - size_t(r);
      auto* more = static_cast<char*>(buf) + r;
      off_t at = off < 0 ? off : off + r;
      ssize_t m = one_buffer(more, rest, true, [=](void* b) {
        iovec w{b, rest};
        return REAL(preadv2)(fd, &w, 1, at, 0);
      });
      errno = saved;
      return m > 0 ? r + m : r;
    }
  }
  return one_buffer(buf, n, true, [=](void* b) {
    iovec w{b, n};
    return REAL(preadv2)(fd, &w, 1, off, 0);
  });
}

// io(iov, cnt) on the pool, with the iovec array itself on the heap.
template <class Io>
ssize_t vector(const iovec* iov, int cnt, Io io) {
  if (cnt <= 0 || cnt > IOV_MAX) return io(iov, cnt);  // the native result (0 or EINVAL)
  for (int i = 0; i < cnt; ++i)
    if (on_copy_stack(iov[i].iov_base, iov[i].iov_len)) return io(iov, cnt);
  auto* copy = static_cast<iovec*>(malloc(sizeof(iovec) * size_t(cnt)));
  if (!copy) return io(iov, cnt);
  std::memcpy(copy, iov, sizeof(iovec) * size_t(cnt));
  ssize_t r = offloaded([=] { return io(copy, cnt); });
  int e = errno;
  free(copy);
  errno = e;
  return r;
}

using pread_t = ssize_t (*)(int, void*, size_t, off_t);
using pwrite_t = ssize_t (*)(int, const void*, size_t, off_t);
using preadv_t = ssize_t (*)(int, const iovec*, int, off_t);
using sync_t = int (*)(int);

ssize_t do_pread(pread_t real, int fd, void* buf, size_t n, off_t off) {
  if (!offloadable(fd) || off < 0) return real(fd, buf, n, off);  // a negative offset: EINVAL, as native
  return read_file(fd, buf, n, off);
}

ssize_t do_pwrite(pwrite_t real, int fd, const void* buf, size_t n, off_t off) {
  if (!offloadable(fd)) return real(fd, buf, n, off);
  return one_buffer(const_cast<void*>(buf), n, false, [=](void* b) { return real(fd, b, n, off); });
}

ssize_t do_preadv(preadv_t real, int fd, const iovec* iov, int cnt, off_t off) {
  if (!offloadable(fd)) return real(fd, iov, cnt, off);
  return vector(iov, cnt, [=](const iovec* v, int c) { return real(fd, v, c, off); });
}

int do_sync(sync_t real, int fd) {
  if (!offloadable(fd)) return real(fd);
  return offloaded([=] { return real(fd); });
}

// open/openat/creat on the pool with the path copied. `open_at(path)` makes
// the real call.
template <class OpenAt>
int do_open(const char* path, OpenAt open_at) {
  if (!file_io_offload() || !path || !may_offload()) return open_at(path);
  char* copy = strdup(path);
  if (!copy) return open_at(path);
  int r = offloaded([=] { return open_at(copy); });
  int e = errno;
  free(copy);
  errno = e;
  return r;
}

// open's third argument exists only when the flags say a file may be made.
bool needs_mode(int flags) { return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE; }

}  // namespace

// ---- read/write/readv/writev (called from io.cpp) ------------------------------------

ssize_t cohook::shim::file_read(int fd, void* buf, size_t n) {
  if (!offloadable(fd)) return REAL(read)(fd, buf, n);
  return read_file(fd, buf, n, -1);
}

ssize_t cohook::shim::file_write(int fd, const void* buf, size_t n) {
  if (!offloadable(fd)) return REAL(write)(fd, buf, n);
  return one_buffer(const_cast<void*>(buf), n, false, [=](void* b) { return REAL(write)(fd, b, n); });
}

ssize_t cohook::shim::file_readv(int fd, const iovec* iov, int cnt) {
  if (!offloadable(fd)) return REAL(readv)(fd, iov, cnt);
  return vector(iov, cnt, [=](const iovec* v, int c) { return REAL(readv)(fd, v, c); });
}

ssize_t cohook::shim::file_writev(int fd, const iovec* iov, int cnt) {
  if (!offloadable(fd)) return REAL(writev)(fd, iov, cnt);
  return vector(iov, cnt, [=](const iovec* v, int c) { return REAL(writev)(fd, v, c); });
}

// ---- positioned and vector forms ----------------------------------------------------

COHOOK_HOOK ssize_t pread(int fd, void* buf, size_t n, off_t off) noexcept {
  static auto real = next<pread_t>("pread");
  return do_pread(real, fd, buf, n, off);
}
COHOOK_HOOK ssize_t pread64(int fd, void* buf, size_t n, off64_t off) noexcept {
  static auto real = next<pread_t>("pread64");
  return do_pread(real, fd, buf, n, off);
}
COHOOK_HOOK ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) noexcept {
  static auto real = next<pwrite_t>("pwrite");
  return do_pwrite(real, fd, buf, n, off);
}
COHOOK_HOOK ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t off) noexcept {
  static auto real = next<pwrite_t>("pwrite64");
  return do_pwrite(real, fd, buf, n, off);
}
COHOOK_HOOK ssize_t preadv(int fd, const iovec* iov, int cnt, off_t off) noexcept {
  static auto real = next<preadv_t>("preadv");
  return do_preadv(real, fd, iov, cnt, off);
}
COHOOK_HOOK ssize_t preadv64(int fd, const iovec* iov, int cnt, off64_t off) noexcept {
  static auto real = next<preadv_t>("preadv64");
  return do_preadv(real, fd, iov, cnt, off);
}
// pwritev has preadv's shape: the vector is only read either way.
COHOOK_HOOK ssize_t pwritev(int fd, const iovec* iov, int cnt, off_t off) noexcept {
  static auto real = next<preadv_t>("pwritev");
  return do_preadv(real, fd, iov, cnt, off);
}
COHOOK_HOOK ssize_t pwritev64(int fd, const iovec* iov, int cnt, off64_t off) noexcept {
  static auto real = next<preadv_t>("pwritev64");
  return do_preadv(real, fd, iov, cnt, off);
}

COHOOK_HOOK int fsync(int fd) {
  static auto real = next<sync_t>("fsync");
  return do_sync(real, fd);
}
COHOOK_HOOK int fdatasync(int fd) {
  static auto real = next<sync_t>("fdatasync");
  return do_sync(real, fd);
}

// ---- opens ---------------------------------------------------------------------------

namespace {
using open_t = int (*)(const char*, int, ...);
using openat_t = int (*)(int, const char*, int, ...);
using creat_t = int (*)(const char*, mode_t);

int open_impl(open_t real, const char* path, int flags, mode_t mode) {
  return do_open(path, [=](const char* p) { return real(p, flags, mode); });
}
int openat_impl(openat_t real, int dirfd, const char* path, int flags, mode_t mode) {
  return do_open(path, [=](const char* p) { return real(dirfd, p, flags, mode); });
}
}  // namespace

#define COHOOK_MODE_ARG(flags, last)         \
  mode_t mode = 0;                           \
  if (needs_mode(flags)) {                   \
    va_list ap;                              \
    va_start(ap, last);                      \
    mode = mode_t(va_arg(ap, int));          \
    va_end(ap);                              \
  }

COHOOK_HOOK int open(const char* path, int flags, ...) {
  static auto real = next<open_t>("open");
  COHOOK_MODE_ARG(flags, flags)
  return open_impl(real, path, flags, mode);
}
COHOOK_HOOK int open64(const char* path, int flags, ...) {
  static auto real = next<open_t>("open64");
  COHOOK_MODE_ARG(flags, flags)
  return open_impl(real, path, flags, mode);
}
COHOOK_HOOK int openat(int dirfd, const char* path, int flags, ...) {
  static auto real = next<openat_t>("openat");
  COHOOK_MODE_ARG(flags, flags)
  return openat_impl(real, dirfd, path, flags, mode);
}
COHOOK_HOOK int openat64(int dirfd, const char* path, int flags, ...) {
  static auto real = next<openat_t>("openat64");
  COHOOK_MODE_ARG(flags, flags)
  return openat_impl(real, dirfd, path, flags, mode);
}
#undef COHOOK_MODE_ARG

COHOOK_HOOK int creat(const char* path, mode_t mode) {
  static auto real = next<creat_t>("creat");
  return do_open(path, [=](const char* p) { return real(p, mode); });
}
COHOOK_HOOK int creat64(const char* path, mode_t mode) {
  static auto real = next<creat_t>("creat64");
  return do_open(path, [=](const char* p) { return real(p, mode); });
}
