// Where a process running with COHOOK_STATS answers `cohook stats PID`: the
// abstract Unix socket "\0cohook-stats-<pid>" (docs/architecture.md, "Live
// stats"). Shared by the shim (server) and the launcher (client).
#pragma once
#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdio>

namespace cohook {

// Fills `addr`; returns the address length to pass to bind/connect.
inline socklen_t stats_socket_address(long pid, sockaddr_un& addr) {
  addr = sockaddr_un{};
  addr.sun_family = AF_UNIX;
  // Abstract: the name starts with a NUL byte and is not NUL-terminated.
  int n = std::snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "cohook-stats-%ld", pid);
  return socklen_t(offsetof(sockaddr_un, sun_path) + 1 + size_t(n));
}

}  // namespace cohook
