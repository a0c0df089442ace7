// Data transfer: read/write, recv/send and their vector, message and
// _FORTIFY_SOURCE forms, sendfile. What happens when a legacy server calls
// read() is here (translation) and in runtime/blocking_io.h (the park loop).
//
// Sockets: one attempt with MSG_DONTWAIT, so the fd's flags never change.
// Other pollable fds (pipes, FIFOs, ttys...): preadv2/pwritev2 with
// RWF_NOWAIT where the kernel supports it for that file, else a zero-timeout
// poll before the real call. Regular files: the real call, inline.
// Blocking writes transfer everything (or stop at a timeout/error with the
// partial count), as a blocking socket or pipe write does.
#include <sys/uio.h>

#include <climits>
#include <cstring>
#include <memory>
#include <new>

#include "file_io.h"
#include "hook.h"

using namespace cohook;
using namespace cohook::shim;

namespace {

Deadline recv_deadline(const FdInfo* fi) { return io_deadline(fi->rcv_timeout_ns, g_config.io_timeout_ms); }
Deadline send_deadline(const FdInfo* fi) { return io_deadline(fi->snd_timeout_ns, g_config.io_timeout_ms); }

size_t iov_total(const iovec* iov, int n) {
  size_t t = 0;
  for (int i = 0; i < n; ++i) t += iov[i].iov_len;
  return t;
}

// A copy of an iovec array that can be advanced past what was transferred.
// Small arrays stay inline; coroutine stacks are small.
struct IovCursor {
  iovec inline_v[8];
  std::unique_ptr<iovec[]> heap;
  iovec* v = inline_v;
  int n = 0;
  bool init(const iovec* iov, int cnt) {
    if (cnt < 0 || cnt > IOV_MAX) return false;
    if (cnt > 8) {
      heap.reset(new (std::nothrow) iovec[size_t(cnt)]);
      if (!heap) return false;
      v = heap.get();
    }
    std::memcpy(v, iov, sizeof(iovec) * size_t(cnt));
    n = cnt;
    return true;
  }
  iovec* first() {
    iovec* p = v;
    while (p < v + n && p->iov_len == 0) ++p;
    return p;
  }
  int left(const iovec* p) const { return int(v + n - p); }
  void advance(size_t k) {
    for (int i = 0; i < n && k; ++i) {
      size_t t = std::min(k, v[i].iov_len);
      v[i].iov_base = static_cast<char*>(v[i].iov_base) + t;
      v[i].iov_len -= t;
      k -= t;
    }
  }
};

// One non-blocking attempt on a pollable non-socket fd, either direction:
// preadv2/pwritev2 with RWF_NOWAIT, or where the kernel refuses that for the
// file (ttys, some char devices) a zero-timeout poll before the real call.
ssize_t nowait_transfer(int fd, FdInfo* fi, IoDir dir, const iovec* iov, int cnt) {
  bool rd = dir == IoDir::Read;
  if (!fi->no_rwf_nowait) {
    ssize_t r = rd ? REAL(preadv2)(fd, iov, cnt, -1, RWF_NOWAIT) : REAL(pwritev2)(fd, iov, cnt, -1, RWF_NOWAIT);
    if (r >= 0 || errno != EOPNOTSUPP) return r;
    fi->no_rwf_nowait = true;
  }
  pollfd p{fd, short(rd ? POLLIN : POLLOUT), 0};
  if (REAL(poll)(&p, 1, 0) == 0) {
    errno = EAGAIN;
    return -1;
  }
  return rd ? REAL(readv)(fd, iov, cnt) : REAL(writev)(fd, iov, cnt);
}

// May a short transfer on this fd be read as "the buffer is now empty"? Only
// for TCP: a tty in canonical mode returns a line at a time, an AF_UNIX
// stream stops at a message carrying SCM_RIGHTS, an O_DIRECT pipe returns a
// packet at a time -- short, with more queued behind it.
bool short_means_drained(const FdInfo* fi) {
  return fi->kind.load(std::memory_order_relaxed) == FdKind::Socket && fi->is_stream() &&
         (fi->family == AF_INET || fi->family == AF_INET6);
}

// A blocking receive of up to `want` bytes made of attempts op(flags).
template <class Op>
ssize_t receive(int fd, FdInfo* fi, size_t want, Deadline d, Op op) {
  BlockingCall c{fd, IoDir::Read, d, short_means_drained(fi) ? &fi->read_drained : nullptr, want};
  c.restartable = fi->rcv_timeout_ns == 0;
  BlockingOutcome out;
  ssize_t r = run_blocking(
      c, [&] { return op(MSG_DONTWAIT); },
      [&] {
        note_native_block(fd);
        return op(0);
      },
      &out);
  count_outcome(out);
  return r;
}

// A blocking vector transfer of everything in `cur` (writes, and reads with
// MSG_WAITALL): attempts op(iov, cnt, flags) until all is moved, EOF, an
// error, or the deadline. Returns what was moved if anything was.
template <class Op>
ssize_t transfer_all(int fd, FdInfo* fi, IoDir dir, IovCursor& cur, Deadline d, Op op) {
  size_t total = iov_total(cur.v, cur.n), done = 0;
  while (done < total) {
    iovec* p = cur.first();
    std::atomic<uint64_t>* hint = dir == IoDir::Read ? &fi->read_drained : &fi->write_drained;
    BlockingCall c{fd, dir, d, short_means_drained(fi) ? hint : nullptr, total - done};
    c.restartable = (dir == IoDir::Read ? fi->rcv_timeout_ns : fi->snd_timeout_ns) == 0;
    BlockingOutcome out;
    ssize_t r = run_blocking(
        c, [&] { return op(p, cur.left(p), MSG_DONTWAIT); },
        [&] {
          note_native_block(fd);
          return op(p, cur.left(p), 0);
        },
        &out);
    count_outcome(out);
    if (r < 0) return done ? ssize_t(done) : -1;
    if (r == 0 && dir == IoDir::Read) break;  // EOF
    done += size_t(r);
    cur.advance(size_t(r));
  }
  return ssize_t(done);
}

bool is_socket(const FdInfo* fi) { return fi->kind.load(std::memory_order_relaxed) == FdKind::Socket; }
bool is_dgram(const FdInfo* fi) { return is_socket(fi) && !fi->is_stream(); }

// ---- the shared paths behind the entry points ------------------------------

ssize_t do_recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* from, socklen_t* fromlen) {
  FdInfo* fi = (flags & MSG_DONTWAIT) ? nullptr : parkable(fd);
  if (!fi || !is_socket(fi)) return REAL(recvfrom)(fd, buf, n, flags, from, fromlen);
  Deadline d = recv_deadline(fi);
  if ((flags & MSG_WAITALL) && fi->is_stream() && !(flags & MSG_PEEK)) {
    IovCursor cur;
    iovec one{buf, n};
    cur.init(&one, 1);
    return transfer_all(fd, fi, IoDir::Read, cur, d, [&](iovec* p, int, int f) {
      return REAL(recvfrom)(fd, p->iov_base, p->iov_len, (flags & ~MSG_WAITALL) | f, from, fromlen);
    });
  }
  if (flags & MSG_PEEK) {  // a peek leaves data queued: never a drained hint
    BlockingCall c{fd, IoDir::Read, d};
    c.restartable = fi->rcv_timeout_ns == 0;
    BlockingOutcome out;
    ssize_t r = run_blocking(
        c, [&] { return REAL(recvfrom)(fd, buf, n, flags | MSG_DONTWAIT, from, fromlen); },
        [&] { return REAL(recvfrom)(fd, buf, n, flags, from, fromlen); }, &out);
    count_outcome(out);
    return r;
  }
  return receive(fd, fi, n, d, [&](int f) { return REAL(recvfrom)(fd, buf, n, flags | f, from, fromlen); });
}

ssize_t do_readv(int fd, FdInfo* fi, const iovec* iov, int cnt) {
  if (!fi) return REAL(readv)(fd, iov, cnt);
  size_t want = iov_total(iov, cnt);
  if (is_socket(fi)) {
    return receive(fd, fi, want, recv_deadline(fi), [&](int f) {
      msghdr m{};
      m.msg_iov = const_cast<iovec*>(iov);
      m.msg_iovlen = size_t(cnt);
      return REAL(recvmsg)(fd, &m, f);
    });
  }
  return receive(fd, fi, want, io_deadline(0, g_config.io_timeout_ms), [&](int f) {
    return f ? nowait_transfer(fd, fi, IoDir::Read, iov, cnt) : REAL(readv)(fd, iov, cnt);
  });
}

// sock_flags: send flags (from sendmsg) for a socket; callers without an fi
// (not parkable) come from writev, so the plain call is the native one.
ssize_t do_writev(int fd, FdInfo* fi, const iovec* iov, int cnt, int sock_flags) {
  if (!fi) return REAL(writev)(fd, iov, cnt);
  IovCursor cur;
  if (!cur.init(iov, cnt)) return REAL(writev)(fd, iov, cnt);  // EINVAL, as native
  if (is_socket(fi)) {
    auto op = [&](iovec* p, int left, int f) {
      if (left == 1) return REAL(send)(fd, p->iov_base, p->iov_len, sock_flags | f);  // cheaper than sendmsg
      msghdr m{};
      m.msg_iov = p;
      m.msg_iovlen = size_t(left);
      return REAL(sendmsg)(fd, &m, sock_flags | f);
    };
    if (is_dgram(fi)) {  // a datagram goes whole or not at all
      BlockingCall c{fd, IoDir::Write, send_deadline(fi)};
      c.restartable = fi->snd_timeout_ns == 0;
      BlockingOutcome out;
      ssize_t r = run_blocking(
          c, [&] { return op(cur.v, cur.n, MSG_DONTWAIT); }, [&] { return op(cur.v, cur.n, 0); }, &out);
      count_outcome(out);
      return r;
    }
    return transfer_all(fd, fi, IoDir::Write, cur, send_deadline(fi), op);
  }
  return transfer_all(fd, fi, IoDir::Write, cur, io_deadline(0, g_config.io_timeout_ms),
                      [&](iovec* p, int left, int f) {
                        return f ? nowait_transfer(fd, fi, IoDir::Write, p, left) : REAL(writev)(fd, p, left);
                      });
}

ssize_t do_recvmsg(int fd, msghdr* msg, int flags) {
  FdInfo* fi = (flags & MSG_DONTWAIT) ? nullptr : parkable(fd);
  if (!fi || !is_socket(fi)) return REAL(recvmsg)(fd, msg, flags);
  Deadline d = recv_deadline(fi);
  if ((flags & MSG_WAITALL) && fi->is_stream() && !(flags & MSG_PEEK)) {
    IovCursor cur;
    if (!cur.init(msg->msg_iov, int(msg->msg_iovlen))) return REAL(recvmsg)(fd, msg, flags);
    return transfer_all(fd, fi, IoDir::Read, cur, d, [&](iovec* p, int left, int f) {
      msghdr m = *msg;
      m.msg_iov = p;
      m.msg_iovlen = size_t(left);
      ssize_t r = REAL(recvmsg)(fd, &m, (flags & ~MSG_WAITALL) | f);
      msg->msg_flags = m.msg_flags;
      msg->msg_controllen = m.msg_controllen;
      return r;
    });
  }
  size_t want = (flags & MSG_PEEK) ? 0 : iov_total(msg->msg_iov, int(msg->msg_iovlen));
  return receive(fd, fi, want, d, [&](int f) { return REAL(recvmsg)(fd, msg, flags | f); });
}

ssize_t do_sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* to, socklen_t tolen) {
  FdInfo* fi = (flags & MSG_DONTWAIT) ? nullptr : parkable(fd);
  if (!fi || !is_socket(fi)) return REAL(sendto)(fd, buf, n, flags, to, tolen);
  IovCursor cur;
  iovec one{const_cast<void*>(buf), n};
  cur.init(&one, 1);
  auto op = [&](iovec* p, int, int f) { return REAL(sendto)(fd, p->iov_base, p->iov_len, flags | f, to, tolen); };
  if (is_dgram(fi) || n == 0) {
    BlockingCall c{fd, IoDir::Write, send_deadline(fi)};
    c.restartable = fi->snd_timeout_ns == 0;
    BlockingOutcome out;
    ssize_t r = run_blocking(
        c, [&] { return op(cur.v, 1, MSG_DONTWAIT); }, [&] { return op(cur.v, 1, 0); }, &out);
    count_outcome(out);
    return r;
  }
  return transfer_all(fd, fi, IoDir::Write, cur, send_deadline(fi), op);
}

}  // namespace

// ---- read / write -----------------------------------------------------------------

COHOOK_HOOK ssize_t read(int fd, void* buf, size_t n) noexcept {
  FdInfo* fi = parkable(fd);
  if (!fi) return file_io_offload() ? file_read(fd, buf, n) : REAL(read)(fd, buf, n);
  if (is_socket(fi)) {
    ssize_t r = receive(fd, fi, n, recv_deadline(fi),
                        [&](int f) { return REAL(recvfrom)(fd, buf, n, f, nullptr, nullptr); });
    if (r < 0 && errno == ENOTSOCK) {  // closed and reused behind our back
      fd_relearn(fd);
      return read(fd, buf, n);
    }
    return r;
  }
  iovec one{buf, n};
  return do_readv(fd, fi, &one, 1);
}

COHOOK_HOOK ssize_t write(int fd, const void* buf, size_t n) noexcept {
  FdInfo* fi = parkable(fd);
  if (!fi) return file_io_offload() ? file_write(fd, buf, n) : REAL(write)(fd, buf, n);
  // The common case first: there is room for all of it.
  if (!is_socket(fi) && !fi->no_rwf_nowait) {
    iovec v{const_cast<void*>(buf), n};
    ssize_t r = REAL(pwritev2)(fd, &v, 1, -1, RWF_NOWAIT);
    if (r == ssize_t(n) || (r < 0 && errno != EAGAIN && errno != EOPNOTSUPP)) return r;
    if (r > 0) {
      ssize_t more = write(fd, static_cast<const char*>(buf) + r, n - size_t(r));
      return more < 0 ? r : r + more;
    }
  }
  if (is_socket(fi)) {
    ssize_t r = REAL(send)(fd, buf, n, MSG_DONTWAIT);
    if (r < 0 && errno == ENOTSOCK) {  // closed and reused behind our back
      fd_relearn(fd);
      return write(fd, buf, n);
    }
    if (r == ssize_t(n) || (r < 0 && errno != EAGAIN) || (r >= 0 && is_dgram(fi))) return r;
    if (r > 0) {  // partial: the rest the blocking way
      ssize_t more = write(fd, static_cast<const char*>(buf) + r, n - size_t(r));
      return more < 0 ? r : r + more;
    }
  }
  iovec one{const_cast<void*>(buf), n};
  return do_writev(fd, fi, &one, 1, 0);
}

COHOOK_HOOK ssize_t readv(int fd, const iovec* iov, int cnt) noexcept {
  FdInfo* fi = parkable(fd);
  if (!fi && file_io_offload()) return file_readv(fd, iov, cnt);
  return do_readv(fd, fi, iov, cnt);
}
COHOOK_HOOK ssize_t writev(int fd, const iovec* iov, int cnt) noexcept {
  FdInfo* fi = parkable(fd);
  if (!fi && file_io_offload()) return file_writev(fd, iov, cnt);
  return do_writev(fd, fi, iov, cnt, 0);
}

// ---- recv / send ----------------------------------------------------------------------

COHOOK_HOOK ssize_t recv(int fd, void* buf, size_t n, int flags) noexcept {
  return do_recvfrom(fd, buf, n, flags, nullptr, nullptr);
}
COHOOK_HOOK ssize_t recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* from, socklen_t* fromlen) noexcept {
  return do_recvfrom(fd, buf, n, flags, from, fromlen);
}
COHOOK_HOOK ssize_t recvmsg(int fd, msghdr* msg, int flags) noexcept { return do_recvmsg(fd, msg, flags); }

COHOOK_HOOK int recvmmsg(int fd, mmsghdr* v, unsigned int vlen, int flags, timespec* timeout) noexcept {
  FdInfo* fi = (flags & MSG_DONTWAIT) ? nullptr : parkable(fd);
  if (!fi || !is_socket(fi)) return REAL(recvmmsg)(fd, v, vlen, flags, timeout);
  // Natively: block for the first datagram; with MSG_WAITFORONE return what
  // is queued after it, otherwise keep blocking until vlen have arrived. The
  // timeout argument is looked at only after each datagram (recvmmsg(2),
  // BUGS); each wait is bounded by SO_RCVTIMEO alone.
  Deadline by_timeout =
      timeout ? deadline_after(int64_t(timeout->tv_sec) * 1000000000 + timeout->tv_nsec) : kForever;
  unsigned got = 0;
  while (got < vlen) {
    BlockingCall c{fd, IoDir::Read, recv_deadline(fi)};
    c.restartable = fi->rcv_timeout_ns == 0;
    BlockingOutcome out;
    ssize_t r = run_blocking(
        c, [&] { return ssize_t(REAL(recvmmsg)(fd, v + got, vlen - got, (flags & ~MSG_WAITFORONE) | MSG_DONTWAIT, nullptr)); },
        [&] { return ssize_t(REAL(recvmmsg)(fd, v + got, vlen - got, flags, nullptr)); }, &out);
    count_outcome(out);
    if (r < 0) return got ? int(got) : -1;
    got += unsigned(r);
    if ((flags & MSG_WAITFORONE) || now_ns() >= by_timeout) break;
  }
  return int(got);
}

COHOOK_HOOK ssize_t send(int fd, const void* buf, size_t n, int flags) noexcept {
  return do_sendto(fd, buf, n, flags, nullptr, 0);
}
COHOOK_HOOK ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* to, socklen_t tolen) noexcept {
  return do_sendto(fd, buf, n, flags, to, tolen);
}

COHOOK_HOOK ssize_t sendmsg(int fd, const msghdr* msg, int flags) noexcept {
  FdInfo* fi = (flags & MSG_DONTWAIT) ? nullptr : parkable(fd);
  if (!fi || !is_socket(fi) || msg->msg_name || msg->msg_controllen || is_dgram(fi)) {
    if (!fi || !is_socket(fi)) return REAL(sendmsg)(fd, msg, flags);
    // Addressed or ancillary data (fds, credentials): one message, sent whole.
    BlockingCall c{fd, IoDir::Write, send_deadline(fi)};
    c.restartable = fi->snd_timeout_ns == 0;
    BlockingOutcome out;
    ssize_t r = run_blocking(
        c, [&] { return REAL(sendmsg)(fd, msg, flags | MSG_DONTWAIT); },
        [&] { return REAL(sendmsg)(fd, msg, flags); }, &out);
    count_outcome(out);
    return r;
  }
  return do_writev(fd, fi, msg->msg_iov, int(msg->msg_iovlen), flags);
}

COHOOK_HOOK int sendmmsg(int fd, mmsghdr* v, unsigned int vlen, int flags) noexcept {
  FdInfo* fi = (flags & MSG_DONTWAIT) ? nullptr : parkable(fd);
  if (!fi || !is_socket(fi)) return REAL(sendmmsg)(fd, v, vlen, flags);
  // Blocking sendmmsg sends every message: keep going until all are out.
  Deadline d = send_deadline(fi);
  unsigned sent = 0;
  while (sent < vlen) {
    BlockingCall c{fd, IoDir::Write, d};
    c.restartable = fi->snd_timeout_ns == 0;
    BlockingOutcome out;
    ssize_t r = run_blocking(
        c, [&] { return ssize_t(REAL(sendmmsg)(fd, v + sent, vlen - sent, flags | MSG_DONTWAIT)); },
        [&] { return ssize_t(REAL(sendmmsg)(fd, v + sent, vlen - sent, flags)); }, &out);
    count_outcome(out);
    if (r < 0) return sent ? int(sent) : -1;
    sent += unsigned(r);
  }
  return int(sent);
}

// ---- sendfile ---------------------------------------------------------------------------

namespace {
ssize_t do_sendfile(int out_fd, int in_fd, off_t* offset, size_t count) {
  FdInfo* fi = parkable(out_fd);
  if (!fi) return REAL(sendfile)(out_fd, in_fd, offset, count);
  // No per-call flag exists for sendfile: make the socket non-blocking for
  // the duration of the call (see NonblockScope), wait for room, repeat.
  Deadline d = is_socket(fi) ? send_deadline(fi) : io_deadline(0, g_config.io_timeout_ms);
  size_t done = 0;
  while (done < count) {
    BlockingCall c{out_fd, IoDir::Write, d};
    BlockingOutcome out;
    ssize_t r = run_blocking(
        c,
        [&] {
          NonblockScope nb(out_fd, fi);
          return REAL(sendfile)(out_fd, in_fd, offset, count - done);
        },
        [&] { return REAL(sendfile)(out_fd, in_fd, offset, count - done); }, &out);
    count_outcome(out);
    if (r < 0) return done ? ssize_t(done) : -1;
    if (r == 0) break;  // end of the input file
    done += size_t(r);
  }
  return ssize_t(done);
}
}  // namespace

COHOOK_HOOK ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t count) noexcept {
  return do_sendfile(out_fd, in_fd, offset, count);
}
COHOOK_HOOK ssize_t sendfile64(int out_fd, int in_fd, off64_t* offset, size_t count) noexcept {
  return do_sendfile(out_fd, in_fd, reinterpret_cast<off_t*>(offset), count);
}

// ---- _FORTIFY_SOURCE entry points -----------------------------------------------------

COHOOK_HOOK ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen) noexcept {
  if (n > buflen) __chk_fail();
  return read(fd, buf, n);
}
COHOOK_HOOK ssize_t __recv_chk(int fd, void* buf, size_t n, size_t buflen, int flags) noexcept {
  if (n > buflen) __chk_fail();
  return do_recvfrom(fd, buf, n, flags, nullptr, nullptr);
}
COHOOK_HOOK ssize_t __recvfrom_chk(int fd, void* buf, size_t n, size_t buflen, int flags, sockaddr* from,
                                   socklen_t* fromlen) noexcept {
  if (n > buflen) __chk_fail();
  return do_recvfrom(fd, buf, n, flags, from, fromlen);
}
