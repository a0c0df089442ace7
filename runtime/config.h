// Config: every COHOOK_* environment variable, parsed in one place.
//
// A malformed value is an error, never a silent default: load_config() fails
// with one line naming the variable, what it got and the accepted form, and
// the caller (the shim, the demo) prints it and exits before the program runs.
// docs/env-vars.md is the user-facing table; keep the two in step.
#pragma once
#include <cstddef>
#include <cstdint>

namespace cohook {

enum class StackMode : uint8_t { Private, Shared };
enum class ThreadMode : uint8_t { Coroutine, Native };
enum class FileIoMode : uint8_t { Inline, Offload };
enum class LogLevel : uint8_t { Off, Error, Warn, Info, Debug };

struct Config {
  size_t stack_size = 128 * 1024;         // COHOOK_STACK_SIZE
  size_t stack_max = 8 << 20;             // COHOOK_STACK_MAX: cap for pthread_attr_setstacksize
  size_t stack_cache = 64;                // COHOOK_STACK_CACHE
  StackMode stack_mode = StackMode::Private;  // COHOOK_STACK_MODE
  unsigned shared_stacks = 64;            // COHOOK_SHARED_STACKS (slots, in shared mode)
  size_t shared_stack_size = 128 * 1024;  // COHOOK_SHARED_STACK_SIZE
  unsigned carriers = 0;                  // COHOOK_CARRIERS (0 = CPUs we may run on)
  uint64_t io_timeout_ms = 0;             // COHOOK_IO_TIMEOUT_MS (0 = off)
  uint64_t connect_timeout_ms = 0;        // COHOOK_CONNECT_TIMEOUT_MS (0 = off)
  ThreadMode threads = ThreadMode::Coroutine;  // COHOOK_THREADS
  unsigned offload_threads = 16;          // COHOOK_OFFLOAD_THREADS: pool bound
  LogLevel log = LogLevel::Warn;          // COHOOK_LOG
  char stats[256] = "";                   // COHOOK_STATS: "" off, "stderr", or a file path
  uint64_t stall_ms = 100;                // COHOOK_STALL_MS: watchdog threshold (0 = off)
  FileIoMode file_io = FileIoMode::Inline;  // COHOOK_FILE_IO
  char native_threads[512] = "";          // COHOOK_NATIVE_THREADS: comma-separated names
  bool disable = false;                   // COHOOK_DISABLE

  // Copy-stack slots the schedulers should make (0 in private mode).
  unsigned shared_stack_slots() const { return stack_mode == StackMode::Shared ? shared_stacks : 0; }
};

using EnvLookup = const char* (*)(const char* name);

// Fill `out` from the environment (or `lookup`). On a bad value: false, and
// `error` holds one line such as
//   cohook: COHOOK_STACK_SIZE="12q" is invalid: expected a size like 65536, 64k or 1m (16k..256m)
bool load_config(Config& out, char* error, size_t error_size, EnvLookup lookup = nullptr);

// The parsers, exposed for tests. Both reject signs, spaces, junk and overflow.
bool parse_size(const char* text, size_t& out);        // 4096, 64k, 1m, 2g (powers of 1024)
bool parse_count(const char* text, uint64_t& out);     // plain decimal

}  // namespace cohook
