// Raw system calls for the runtime's own event loop.
//
// libcohook.so exports read, write, close, epoll_wait, syscall... and the
// runtime is linked into it, so a libc call made by the runtime would land in
// the shim's own hooks. The calls the loop makes (epoll, eventfd, futex) go
// straight to the kernel instead. They return -errno on failure, like the
// kernel, and never touch errno.
#pragma once
#include <sys/syscall.h>

#include <cstdint>

namespace cohook::sys {

inline long call6(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
#if defined(__x86_64__)
  register long r10 asm("r10") = d;
  register long r8 asm("r8") = e;
  register long r9 asm("r9") = f;
  long ret;
  asm volatile("syscall"
               : "=a"(ret)
               : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
               : "rcx", "r11", "memory");
  return ret;
#elif defined(__aarch64__)
  register long x8 asm("x8") = n;
  register long x0 asm("x0") = a;
  register long x1 asm("x1") = b;
  register long x2 asm("x2") = c;
  register long x3 asm("x3") = d;
  register long x4 asm("x4") = e;
  register long x5 asm("x5") = f;
  asm volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  return x0;
#else
#error "unsupported architecture"
#endif
}

inline long read(int fd, void* buf, unsigned long n) { return call6(SYS_read, fd, long(buf), long(n)); }
inline long write(int fd, const void* buf, unsigned long n) {
  return call6(SYS_write, fd, long(buf), long(n));
}
inline long close(int fd) { return call6(SYS_close, fd); }
inline long sched_yield() { return call6(SYS_sched_yield); }
inline long eventfd(unsigned initval, int flags) { return call6(SYS_eventfd2, initval, flags); }
inline long epoll_create(int flags) { return call6(SYS_epoll_create1, flags); }
inline long epoll_ctl(int epfd, int op, int fd, void* ev) { return call6(SYS_epoll_ctl, epfd, op, fd, long(ev)); }
inline long epoll_pwait(int epfd, void* evs, int max, int timeout_ms) {
  return call6(SYS_epoll_pwait, epfd, long(evs), max, timeout_ms, 0, 8);
}
#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif
inline long epoll_pwait2(int epfd, void* evs, int max, const void* ts) {
  return call6(SYS_epoll_pwait2, epfd, long(evs), max, long(ts), 0, 8);
}
inline long futex(void* uaddr, int op, uint32_t val, const void* ts, void* uaddr2, uint32_t val3) {
  return call6(SYS_futex, long(uaddr), op, long(val), long(ts), long(uaddr2), long(val3));
}
inline long fcntl(int fd, int cmd, long arg) { return call6(SYS_fcntl, fd, cmd, arg); }

}  // namespace cohook::sys
