// COHOOK_FILE_IO=offload: regular-file I/O on the offload pool (shim/file_io.cpp).
// read/write/readv/writev are hooked in io.cpp, which hands a call here only
// when the fd is not one it parks on and the mode is on; the default
// (inline) costs that one comparison.
#pragma once
#include <sys/types.h>
#include <sys/uio.h>

#include "state.h"

namespace cohook::shim {

inline bool file_io_offload() { return g_config.file_io == FileIoMode::Offload; }

// The call on the offload pool if fd is a regular file (or block device,
// directory) and the caller can park; otherwise the plain call.
ssize_t file_read(int fd, void* buf, size_t n);
ssize_t file_write(int fd, const void* buf, size_t n);
ssize_t file_readv(int fd, const iovec* iov, int cnt);
ssize_t file_writev(int fd, const iovec* iov, int cnt);

}  // namespace cohook::shim
