// Matching a new thread against COHOOK_NATIVE_THREADS (native_threads.h has
// the rule). Names come from the symbolizer (ELF .symtab, else .dynsym,
// demangled), so a program's own functions match even when they are not
// exported; a stripped program still has its dynamic symbols.
#include "native_threads.h"

#include <dlfcn.h>
#include <unwind.h>

#include <atomic>
#include <cstdio>
#include <cstring>

#include "state.h"
#include "symbolizer.h"

namespace cohook::shim {

namespace {

struct Selector {
  bool from = false;  // from:NAME (on the creating stack) or NAME (what runs)
  const char* name = nullptr;
};

// Parsed once from g_config.native_threads (no allocation).
struct Selectors {
  char text[sizeof g_config.native_threads];
  Selector list[64];
  int count = 0;

  Selectors() {
    std::memcpy(text, g_config.native_threads, sizeof text);
    for (char* p = text; *p && count < int(sizeof list / sizeof list[0]);) {
      char* end = std::strchr(p, ',');
      if (end) *end = 0;
      Selector s;
      if (std::strncmp(p, "from:", 5) == 0) {
        s.from = true;
        p += 5;
      }
      s.name = p;
      if (*p) list[count++] = s;  // empty items (",,") select nothing
      if (!end) break;
      p = end + 1;
    }
  }
};

const Selectors& selectors() {
  static const Selectors s;
  return s;
}

bool identifier_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool ends_with(const char* s, size_t len, const char* tail) {
  size_t t = std::strlen(tail);
  return len >= t && std::memcmp(s + len - t, tail, t) == 0;
}

// Length of the qualified name at the start of a demangled function name:
// without its parameter list, cv/ref qualifiers and gcc's " [clone .x]"
// suffixes ("ns::worker(int) const" -> "ns::worker").
size_t qualified_length(const char* name) {
  size_t len = std::strlen(name);
  for (bool again = true; again;) {
    again = false;
    while (len && name[len - 1] == ' ') --len;
    if (len && name[len - 1] == ']') {  // " [clone .constprop.0]"
      const char* open = static_cast<const char*>(memrchr(name, '[', len));
      if (open) {
        len = size_t(open - name);
        again = true;
        continue;
      }
    }
    for (const char* q : {" const", " volatile", " &&", " &"}) {
      if (ends_with(name, len, q)) {
        len -= std::strlen(q);
        again = true;
      }
    }
  }
  if (!len || name[len - 1] != ')') return len;  // a C name: no parameters
  int depth = 0;
  for (size_t i = len; i-- > 0;) {
    if (name[i] == ')') ++depth;
    else if (name[i] == '(' && --depth == 0) return i;
  }
  return len;
}

// Does selector name `want` name the function `fn` (demangled)? Equal, or
// equal to its qualified name, or to a ::-suffix of it.
bool names_function(const char* want, const char* fn) {
  if (std::strcmp(want, fn) == 0) return true;
  size_t q = qualified_length(fn), w = std::strlen(want);
  if (q == w) return std::memcmp(fn, want, w) == 0;
  return q > w + 2 && std::memcmp(fn + q - w, want, w) == 0 && fn[q - w - 1] == ':' && fn[q - w - 2] == ':';
}

// Does `want` appear in `text` as whole identifiers (not inside a longer
// one)? "io_handler" in "io_handler()::{lambda()#1}", not in "io_handler2".
bool appears_in(const char* want, const char* text) {
  size_t w = std::strlen(want);
  for (const char* p = std::strstr(text, want); p; p = std::strstr(p + 1, want)) {
    bool starts = p == text || !identifier_char(p[-1]);
    bool ends = !identifier_char(p[w]);
    if (starts && ends) return true;
  }
  return false;
}

// The demangled name of the function containing pc; also true for the
// raw (mangled) dynamic symbol when a selector spells it that way.
bool matches_code(const char* want, const void* pc, char* name, size_t n) {
  if (function_name(pc, name, n) && names_function(want, name)) return true;
  Dl_info info;
  return dladdr(pc, &info) && info.dli_sname && info.dli_saddr == pc && std::strcmp(info.dli_sname, want) == 0;
}

// Is pc the first byte of a function (what a function pointer holds)?
bool function_start(const void* pc) {
  char s[512];
  if (!symbolize(pc, s, sizeof s)) return false;
  // "name+0 (object)" or "name+0x0 (object)"
  return std::strstr(s, "+0 (") || std::strstr(s, "+0x0 (");
}

// std::thread starts every thread through libstdc++'s (static, unnamed)
// execute_native_thread_routine from std::thread::_M_start_thread; arg is
// then a std::thread::_State*. The caller's address is remembered once seen.
std::atomic<const void*> g_start_thread_caller{nullptr};

bool from_std_thread(const void* caller) {
  if (caller == g_start_thread_caller.load(std::memory_order_relaxed)) return true;
  char name[256];
  if (!function_name(caller, name, sizeof name)) return false;
  if (std::strncmp(name, "std::thread::_M_start_thread(", 29) != 0) return false;
  g_start_thread_caller.store(caller, std::memory_order_relaxed);
  return true;
}

// The callable's type out of _M_run's name:
//   std::thread::_State_impl<std::thread::_Invoker<std::tuple<TYPES> > >::_M_run()
// (gcc 12's libstdc++; another layout leaves the whole name, which still
// contains the types).
void callable_types(const char* run, char* out, size_t n) {
  static const char kHead[] = "std::thread::_State_impl<std::thread::_Invoker<std::tuple<";
  static const char kTail[] = "> > >::_M_run()";
  const char* b = std::strncmp(run, kHead, sizeof kHead - 1) == 0 ? run + sizeof kHead - 1 : run;
  size_t len = std::strlen(b);
  if (ends_with(b, len, kTail)) len -= sizeof kTail - 1;
  len = len < n - 1 ? len : n - 1;
  std::memcpy(out, b, len);
  out[len] = 0;
}

// The words a _State_impl stores after its vtable pointer: the std::tuple of
// the callable and its arguments (libstdc++ lays a tuple out last element
// first, so the callable comes after its arguments: fn(7) is {7, fn},
// (&S::run, obj) is {obj, run, adj}). Read only when the type says a code
// pointer is among them, at most kWords: the object holds at least one
// pointer then; the words after a small heap object are the allocator's
// (mapped), and are only ever compared with function starts. Not
// instrumented: under ASan they may be a redzone.
constexpr int kWords = 4;
__attribute__((no_sanitize_address)) void stored_words(const void* state, uintptr_t out[kWords]) {
  auto* w = static_cast<const uintptr_t*>(state);
  for (int i = 0; i < kWords; ++i) out[i] = w[1 + i];
}

bool std_thread_matches(const Selector& s, void* state, char* why, size_t n) {
  // vtable slot 2 is _M_run (0 and 1: the destructors), checked by name.
  void* const* vtable = *static_cast<void* const* const*>(state);
  char run[1024];
  if (!function_name(vtable[2], run, sizeof run) || !std::strstr(run, "_M_run")) return false;
  char types[1024];
  callable_types(run, types, sizeof types);
  if (appears_in(s.name, types)) {
    std::snprintf(why, n, "std::thread running %s: \"%s\" is in the callable's type", types, s.name);
    return true;
  }
  if (!std::strstr(types, "(*)") && !std::strstr(types, "::*)")) return false;
  uintptr_t words[kWords];
  stored_words(state, words);
  for (uintptr_t w : words) {
    char fn[512];
    if (w < 4096) continue;
    if (matches_code(s.name, reinterpret_cast<void*>(w), fn, sizeof fn) &&
        function_start(reinterpret_cast<void*>(w))) {
      std::snprintf(why, n, "std::thread running %s: matches \"%s\"", fn, s.name);
      return true;
    }
  }
  return false;
}

// The return addresses on the creating stack (the calling coroutine's, or
// the OS thread's), innermost first.
struct Frames {
  static constexpr int kMax = 32;
  uintptr_t pc[kMax];
  int count = 0;
};

_Unwind_Reason_Code collect(_Unwind_Context* ctx, void* arg) {
  auto* f = static_cast<Frames*>(arg);
  uintptr_t pc = _Unwind_GetIP(ctx);
  if (!pc) return _URC_END_OF_STACK;
  f->pc[f->count++] = pc;
  return f->count == Frames::kMax ? _URC_END_OF_STACK : _URC_NO_REASON;
}

}  // namespace

bool native_threads_selected() { return g_config.native_threads[0] != 0; }

bool stays_native(void* (*fn)(void*), void* arg, const void* caller, char* why, size_t n) {
  const Selectors& sel = selectors();
  bool std_thread = arg && from_std_thread(caller);
  Frames frames;
  bool have_frames = false;
  for (int i = 0; i < sel.count; ++i) {
    const Selector& s = sel.list[i];
    char name[512];
    if (s.from) {
      if (!have_frames) {
        _Unwind_Backtrace(&collect, &frames);
        have_frames = true;
      }
      // pc - 1: a return address may be the first byte of the next function.
      for (int k = 0; k < frames.count; ++k) {
        if (matches_code(s.name, reinterpret_cast<void*>(frames.pc[k] - 1), name, sizeof name)) {
          std::snprintf(why, n, "created from %s (from:%s)", name, s.name);
          return true;
        }
      }
    } else if (std_thread) {
      if (std_thread_matches(s, arg, why, n)) return true;
    } else if (matches_code(s.name, reinterpret_cast<void*>(fn), name, sizeof name)) {
      std::snprintf(why, n, "start routine %s: matches \"%s\"", name, s.name);
      return true;
    }
  }
  return false;
}

}  // namespace cohook::shim
