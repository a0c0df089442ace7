// Config: every COHOOK_* environment variable, parsed in one place.
//
// A malformed value is an error, never a silent default: load_config() fails
// with one line naming the variable, what it got and the accepted form, and
// the caller (the shim, the demo) prints it and exits before the program runs.
// docs/configuration.md is the user-facing table; keep the two in step.
#pragma once
#include <cstddef>
#include <cstdint>

namespace cohook {

struct Config {
  size_t stack_size = 128 * 1024;         // COHOOK_STACK_SIZE
  size_t stack_cache = 64;                // COHOOK_STACK_CACHE
  unsigned shared_stacks = 0;             // COHOOK_SHARED_STACKS (0 = private stacks)
  size_t shared_stack_size = 128 * 1024;  // COHOOK_SHARED_STACK_SIZE
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
