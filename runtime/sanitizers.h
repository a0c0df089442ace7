// ASan fiber annotations and valgrind stack registration, in one place, so the
// rest of the runtime can switch stacks without knowing which tool is watching.
#pragma once
#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define COHOOK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COHOOK_ASAN 1
#endif
#endif

#ifdef COHOOK_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define COHOOK_VALGRIND 1
#endif

namespace cohook {

struct Stack;

// Bounds of the stack a context runs on, for the sanitizer's bookkeeping.
struct StackBounds {
  const void* bottom = nullptr;  // lowest address
  size_t size = 0;
};

// Call right before cohook_switch. `fake` receives the old side's fake-stack
// handle; pass nullptr when the old side will never run again.
inline void asan_before_switch([[maybe_unused]] void** fake, [[maybe_unused]] const StackBounds& to) {
#ifdef COHOOK_ASAN
  __sanitizer_start_switch_fiber(fake, to.bottom, to.size);
#endif
}

// Call right after cohook_switch returns (and first thing in a new context).
inline void asan_after_switch([[maybe_unused]] void* fake) {
#ifdef COHOOK_ASAN
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

// A stack being reused (pool, shared slot) still carries the shadow poison
// of frames that never returned (a finished or swapped-out coroutine's).
inline void asan_unpoison([[maybe_unused]] const void* p, [[maybe_unused]] size_t n) {
#ifdef COHOOK_ASAN
  ASAN_UNPOISON_MEMORY_REGION(p, n);
#endif
}

void valgrind_stack_register(Stack& s);
void valgrind_stack_deregister(Stack& s);

}  // namespace cohook
