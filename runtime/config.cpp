#include "config.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace cohook {

bool parse_count(const char* s, uint64_t& out) {
  if (!s || !*s) return false;
  uint64_t v = 0;
  for (; *s; ++s) {
    if (*s < '0' || *s > '9') return false;
    unsigned d = unsigned(*s - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

bool parse_size(const char* s, size_t& out) {
  if (!s || !*s) return false;
  uint64_t v = 0;
  const char* p = s;
  for (; *p >= '0' && *p <= '9'; ++p) {
    unsigned d = unsigned(*p - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (p == s) return false;
  int shift = 0;
  switch (*p) {
    case 0: break;
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    default: return false;
  }
  if (*p && p[1] && !((p[1] == 'b' || p[1] == 'B') && !p[2])) return false;  // allow "64kb"
  if (shift && v > (UINT64_MAX >> shift)) return false;
  out = size_t(v << shift);
  return true;
}

namespace {

enum class Kind { Size, Count, Word };

struct Var {
  const char* name;
  Kind kind;
  uint64_t lo, hi;
  const char* form;                   // accepted form, as shown to the user
  const char* const* words = nullptr;  // Kind::Word: accepted words, index = value
};

bool fail(char* err, size_t n, const Var& v, const char* got) {
  std::snprintf(err, n, "cohook: %s=\"%s\" is invalid: expected %s", v.name, got, v.form);
  return false;
}

// Parse one variable if set; leaves `value` alone when it is unset.
template <class T>
bool read_var(EnvLookup get, const Var& v, T& value, char* err, size_t n) {
  const char* text = get(v.name);
  if (!text) return true;
  uint64_t x = 0;
  bool ok = false;
  if (v.kind == Kind::Size) {
    size_t sz = 0;
    ok = parse_size(text, sz);
    x = sz;
  } else if (v.kind == Kind::Count) {
    ok = parse_count(text, x);
  } else {
    for (uint64_t i = 0; v.words[i]; ++i)
      if (std::strcmp(text, v.words[i]) == 0) {
        ok = true;
        x = i;
      }
  }
  if (!ok || x < v.lo || x > v.hi) return fail(err, n, v, text);
  value = T(x);
  return true;
}

const char* env_lookup(const char* name) { return std::getenv(name); }

}  // namespace

bool load_config(Config& out, char* err, size_t n, EnvLookup get) {
  if (!get) get = env_lookup;
  static const char* const kModes[] = {"private", "shared", nullptr};
  static const char* const kThreads[] = {"coroutine", "native", nullptr};
  static const char* const kLevels[] = {"off", "error", "warn", "info", "debug", nullptr};
  static const char* const kBool[] = {"0", "1", nullptr};
  static const Var kStackSize{"COHOOK_STACK_SIZE", Kind::Size, 16 << 10, 256 << 20,
                              "a size like 65536, 64k or 1m (16k..256m)"};
  static const Var kStackMax{"COHOOK_STACK_MAX", Kind::Size, 16 << 10, 1 << 30,
                             "a size like 8m (16k..1g): the largest stack a thread's attr may ask for"};
  static const Var kStackCache{"COHOOK_STACK_CACHE", Kind::Count, 0, 1000000,
                               "a whole number of stacks kept for reuse (0..1000000)"};
  static const Var kStackMode{"COHOOK_STACK_MODE", Kind::Word, 0, 1, "private or shared", kModes};
  static const Var kShared{"COHOOK_SHARED_STACKS", Kind::Count, 1, 65536,
                           "a whole number of shared stacks per carrier (1..65536)"};
  static const Var kSharedSize{"COHOOK_SHARED_STACK_SIZE", Kind::Size, 16 << 10, 256 << 20,
                               "a size like 131072, 128k or 1m (16k..256m)"};
  static const Var kCarriers{"COHOOK_CARRIERS", Kind::Count, 0, 1024,
                             "a whole number of carrier threads, 0 for one per CPU (0..1024)"};
  static const Var kIoTimeout{"COHOOK_IO_TIMEOUT_MS", Kind::Count, 0, 86400000,
                              "milliseconds, 0 for no cap (0..86400000)"};
  static const Var kConnTimeout{"COHOOK_CONNECT_TIMEOUT_MS", Kind::Count, 0, 86400000,
                                "milliseconds, 0 for no cap (0..86400000)"};
  static const Var kThreadMode{"COHOOK_THREADS", Kind::Word, 0, 1, "coroutine or native", kThreads};
  static const Var kOffload{"COHOOK_OFFLOAD_THREADS", Kind::Count, 1, 1024,
                            "a whole number of offload threads (1..1024)"};
  static const Var kLog{"COHOOK_LOG", Kind::Word, 0, 4, "off, error, warn, info or debug", kLevels};
  static const char* const kFileIo[] = {"inline", "offload", nullptr};
  static const Var kStall{"COHOOK_STALL_MS", Kind::Count, 0, 600000,
                          "milliseconds a carrier may stay away from its scheduler, 0 for off (0..600000)"};
  static const Var kFileIoVar{"COHOOK_FILE_IO", Kind::Word, 0, 1, "inline or offload", kFileIo};
  static const Var kDisable{"COHOOK_DISABLE", Kind::Word, 0, 1, "0 or 1", kBool};
  Config c = out;
  bool disable = c.disable;
  if (!read_var(get, kStackSize, c.stack_size, err, n)) return false;
  if (!read_var(get, kStackMax, c.stack_max, err, n)) return false;
  if (!read_var(get, kStackCache, c.stack_cache, err, n)) return false;
  if (!read_var(get, kStackMode, c.stack_mode, err, n)) return false;
  if (!read_var(get, kShared, c.shared_stacks, err, n)) return false;
  if (!read_var(get, kSharedSize, c.shared_stack_size, err, n)) return false;
  if (!read_var(get, kCarriers, c.carriers, err, n)) return false;
  if (!read_var(get, kIoTimeout, c.io_timeout_ms, err, n)) return false;
  if (!read_var(get, kConnTimeout, c.connect_timeout_ms, err, n)) return false;
  if (!read_var(get, kThreadMode, c.threads, err, n)) return false;
  if (!read_var(get, kOffload, c.offload_threads, err, n)) return false;
  if (!read_var(get, kLog, c.log, err, n)) return false;
  if (!read_var(get, kDisable, disable, err, n)) return false;
  if (!read_var(get, kStall, c.stall_ms, err, n)) return false;
  if (!read_var(get, kFileIoVar, c.file_io, err, n)) return false;
  c.disable = disable;
  if (const char* st = get("COHOOK_STATS")) {
    static const Var kStats{"COHOOK_STATS", Kind::Word, 0, 0,
                            "0, 1 (print to stderr) or an absolute file path"};
    size_t len = std::strlen(st);
    if (std::strcmp(st, "0") == 0) c.stats[0] = 0;
    else if (std::strcmp(st, "1") == 0 || std::strcmp(st, "stderr") == 0) std::strcpy(c.stats, "stderr");
    else if (st[0] == '/' && len < sizeof c.stats) std::memcpy(c.stats, st, len + 1);
    else return fail(err, n, kStats, st);
  }
  if (const char* nt = get("COHOOK_NATIVE_THREADS")) {
    static const Var kNative{"COHOOK_NATIVE_THREADS", Kind::Word, 0, 0,
                             "comma-separated symbol names like io_handler,my_ns::worker (at most 511 bytes)"};
    size_t len = std::strlen(nt);
    bool ok = len < sizeof c.native_threads;
    for (size_t i = 0; ok && i < len; ++i) {
      unsigned char ch = static_cast<unsigned char>(nt[i]);
      ok = ch > ' ' && ch < 0x7f;  // names only: no spaces or control bytes
    }
    if (!ok) return fail(err, n, kNative, nt);
    std::memcpy(c.native_threads, nt, len + 1);
  }
  out = c;
  return true;
}

}  // namespace cohook
