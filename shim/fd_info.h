// FdInfo: what the shim knows about each fd, so that the hot path of a hooked
// call is a table lookup instead of extra syscalls.
//
// Learned when a hooked call creates the fd (socket, accept, pipe2...) or, for
// fds the shim never saw created (inherited over exec, opened by libc
// internally), by probing once with fstat/fcntl/getsockopt on first use.
// Forgotten when a hooked close (or fclose, close_range...) releases the number.
//
// O_NONBLOCK and socket timeouts belong to the open file description, which
// dup'd fds share: entries made by dup share a description id, and a change
// through one fd is applied to every fd with the same id.
#pragma once
#include <sys/socket.h>

#include <atomic>
#include <cstdint>

#include "fd_table.h"

namespace cohook::shim {

enum class FdKind : uint8_t {
  Unknown = 0,  // not probed yet
  Socket,
  Pollable,     // pipe, FIFO, tty, eventfd...: wait for readiness first
  File,         // regular file, directory, block device: never "not ready"
};

struct FdInfo {
  std::atomic<FdKind> kind{FdKind::Unknown};
  int sock_type = 0;            // SOCK_STREAM, SOCK_DGRAM...
  int family = 0;               // AF_INET, AF_UNIX...
  bool user_nonblock = false;   // the program set O_NONBLOCK: hooks pass through
  bool no_rwf_nowait = false;   // preadv2(RWF_NOWAIT) unsupported on this fd
  int64_t rcv_timeout_ns = 0;   // SO_RCVTIMEO (0 = none)
  int64_t snd_timeout_ns = 0;   // SO_SNDTIMEO
  uint32_t desc = 0;            // open file description id (shared by dups)
  std::atomic<int> nonblock_scopes{0};  // NonblockScope users right now
  int scope_flags = -1;                 // F_GETFL to restore when they end
  bool sticky_nonblock = false;         // keep O_NONBLOCK set after scopes (shared listeners)
  std::atomic<uint64_t> read_drained{0};   // blocking_io hints
  std::atomic<uint64_t> write_drained{0};

  bool shared_desc = false;     // a dup exists: changes go to every fd of desc

  bool is_stream() const { return sock_type == SOCK_STREAM; }
};

namespace detail {
extern FdTable<FdInfo> g_fd_infos;
FdInfo* fd_info_slow(int fd);
}  // namespace detail

// Info for fd, probing it on first use; nullptr for fds out of range or not
// open (the hook then passes the call through and libc reports EBADF).
// Inline: it is on every hooked call's path.
inline FdInfo* fd_info(int fd) {
  FdInfo* fi = detail::g_fd_infos.get(fd, false);
  if (fi && fi->kind.load(std::memory_order_acquire) != FdKind::Unknown) return fi;
  return detail::fd_info_slow(fd);
}
// Same, without probing: nullptr if unknown.
FdInfo* fd_info_if_known(int fd);

// What we knew about fd turned out wrong (a socket call said ENOTSOCK: the
// number was closed and reused behind the shim's back): forget it, so the
// next lookup probes the file as it is now.
void fd_relearn(int fd);
// A hooked call just created fd (socket, accept, socketpair, pipe...).
void fd_created(int fd, FdKind kind, int sock_type, int family, bool nonblock);
// fd is about to be released (close): forget everything, wake its waiters.
void fd_released(int fd);
// newfd now refers to oldfd's open file description (dup, dup2, F_DUPFD).
void fd_duplicated(int oldfd, int newfd);
// O_NONBLOCK changed through fd: apply to its whole description.
void fd_set_nonblock(int fd, bool on);
// SO_RCVTIMEO / SO_SNDTIMEO changed through fd.
void fd_set_timeout(int fd, bool send, int64_t ns);

// Makes the fd's description O_NONBLOCK for the duration of a call that has
// no per-call non-blocking flag (accept, connect, sendfile). Nested and
// concurrent scopes on the same fd share one set/restore pair.
class NonblockScope {
 public:
  NonblockScope(int fd, FdInfo* fi);
  ~NonblockScope();
  NonblockScope(const NonblockScope&) = delete;
  NonblockScope& operator=(const NonblockScope&) = delete;

 private:
  int fd_;
  FdInfo* fi_;
};

}  // namespace cohook::shim
