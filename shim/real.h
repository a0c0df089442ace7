// The real definitions behind every interposed symbol (libc's, normally),
// found with dlsym(RTLD_NEXT) -- lazily, because a hooked call can arrive from
// another library's constructor before ours has run.
//
// REAL(read)(fd, buf, n) calls libc's read whatever state the shim is in.
#pragma once
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

// Every libc function the shim forwards to or calls (hooked or not).
// Optional ones (missing from an older libc) resolve to nullptr and their
// hooks report ENOSYS.
#define COHOOK_FOR_EACH_REAL(X)                                                                 \
  X(read) X(write) X(readv) X(writev) X(recv) X(recvfrom) X(recvmsg)                           \
  X(recvmmsg) X(send) X(sendto) X(sendmsg) X(sendmmsg) X(sendfile) X(sendfile64) X(socket)     \
  X(socketpair) X(accept) X(accept4) X(connect) X(close) X(shutdown) X(dup) X(dup2) X(dup3)    \
  X(fcntl) X(fcntl64) X(ioctl) X(setsockopt) X(getsockopt) X(poll) X(ppoll) X(select)          \
  X(pselect) X(epoll_wait) X(epoll_pwait) X(epoll_pwait2) X(sleep) X(usleep) X(nanosleep)      \
  X(clock_nanosleep) X(fclose) X(close_range) X(closefrom) X(pipe) X(pipe2) X(sigaction)       \
  X(preadv2) X(pwritev2)

namespace cohook::real {

#define COHOOK_DECLARE_REAL(name)                      \
  using name##_t = decltype(&::name);                  \
  extern name##_t name##_fn;                           \
  name##_t resolve_##name();                           \
  inline name##_t name() {                             \
    name##_t f = name##_fn;                            \
    return __builtin_expect(f != nullptr, 1) ? f : resolve_##name(); \
  }
COHOOK_FOR_EACH_REAL(COHOOK_DECLARE_REAL)
#undef COHOOK_DECLARE_REAL

// Resolve everything now (from the shim's constructor).
void resolve_all();
// The next definition of any symbol (for hooks that keep their own cache).
void* lookup_symbol(const char* name);
// The same, typed: static auto real = real::next<int (*)(int)>("name");
template <class F>
F next(const char* name) {
  return reinterpret_cast<F>(lookup_symbol(name));
}

}  // namespace cohook::real

#define REAL(name) (::cohook::real::name())
