#include "watchdog.h"

#include <execinfo.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/prctl.h>
#include <ucontext.h>

#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <initializer_list>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "carrier_set.h"
#include "clock.h"
#include "scheduler.h"
#include "symbolizer.h"
#include "sys.h"
#include "thread.h"

namespace cohook::watchdog {

std::atomic<uint32_t> g_monitor_asleep{0};

namespace {

Options g_opt;
std::atomic<bool> g_started{false};
bool g_handler_ours = false;
thread_local bool t_monitor = false;
std::atomic<uint64_t> g_stalls{0}, g_reports{0};
// The monitor's sleep between looks while something runs; wake_monitor()
// only touches g_monitor_asleep.
std::atomic<uint32_t> g_tick{0};

// Call sites already reported (the monitor's own; no lock needed).
uint64_t g_sites[kMaxReportedSites];
int g_site_count = 0;

// What the monitor remembers of each carrier between looks.
struct Track {
  uint64_t runs = 0;
  const void* running = nullptr;
  Nanos since = 0;
  Nanos waited_since = 0;  // the carrier's run-queue wait (run_queue_wait) at `since`
  bool reported = false;
};
Track g_track[CarrierSet::kMax];

void futex_wait(std::atomic<uint32_t>& w, uint32_t val, Nanos timeout) {
  timespec ts{time_t(timeout / 1000000000), long(timeout % 1000000000)};
  sys::futex(&w, FUTEX_WAIT_PRIVATE, val, timeout >= 0 ? &ts : nullptr, nullptr, 0);
}

uintptr_t interrupted_pc(void* ucv) {
  auto* uc = static_cast<ucontext_t*>(ucv);
#if defined(__x86_64__)
  return uintptr_t(uc->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
  return uintptr_t(uc->uc_mcontext.pc);
#else
  (void)uc;
  return 0;
#endif
}

// On the stalled carrier, in the middle of what it does. Only
// async-signal-safe work: backtrace() was called once at start-up, so its
// unwinder is loaded and it allocates nothing.
void on_sample_signal(int, siginfo_t* info, void* uc) {
  if (info->si_code != SI_TKILL || info->si_pid != int(sys::call6(SYS_getpid))) return;  // not ours
  Scheduler* s = Scheduler::current();
  if (!s) return;
  int saved = errno;
  Heartbeat::Sample& sm = s->heartbeat().sample;
  uint32_t ask = sm.asked.load(std::memory_order_acquire);
  Heartbeat& hb = s->heartbeat();
  if (ask != sm.taken.load(std::memory_order_relaxed) &&
      (hb.runs.load(std::memory_order_relaxed) != sm.expect_runs || !hb.running.load(std::memory_order_relaxed))) {
    // The stall ended before the signal came: this may be the dispatcher, or
    // the middle of a switch. No frames.
    sm.count = 0;
    sm.runs = hb.runs.load(std::memory_order_relaxed);
    sm.coroutine = nullptr;
    sm.is_main = false;
    sm.start_routine = nullptr;
    sm.name[0] = 0;
    sm.taken.store(ask, std::memory_order_release);
    sys::futex(&sm.taken, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  } else if (ask != sm.taken.load(std::memory_order_relaxed)) {
    void* raw[Heartbeat::kFrames + 4];
    int n = backtrace(raw, Heartbeat::kFrames + 4);
    // Drop this handler's own frames and the signal trampoline: start at the
    // interrupted instruction.
    uintptr_t pc = interrupted_pc(uc);
    int first = n;
    for (int i = 0; i < n; i++)
      if (uintptr_t(raw[i]) == pc) {
        first = i;
        break;
      }
    int count = 0;
    if (first == n && pc) sm.frames[count++] = reinterpret_cast<void*>(pc);  // the unwinder lost it
    for (int i = first; i < n && count < Heartbeat::kFrames; i++) sm.frames[count++] = raw[i];
    sm.count = count;
    sm.runs = hb.runs.load(std::memory_order_relaxed);
    Coroutine* co = Coroutine::current();
    sm.coroutine = co;
    sm.is_main = co && co == s->main_coroutine();
    Thread* t = co ? Thread::from_handle(reinterpret_cast<uintptr_t>(co->user())) : nullptr;
    sm.start_routine = t ? reinterpret_cast<void*>(t->start_routine()) : nullptr;
    memset(sm.name, 0, sizeof sm.name);
    if (co) memcpy(sm.name, co->name(), sizeof sm.name - 1);
    sm.taken.store(ask, std::memory_order_release);
    sys::futex(&sm.taken, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }
  errno = saved;
}

bool handler_still_ours() {
  if (!g_handler_ours || !g_opt.sigaction) return false;
  struct sigaction cur;
  if (g_opt.sigaction(sample_signal(), nullptr, &cur) != 0) return false;
  return (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == &on_sample_signal;
}

// Is sig blocked on thread tid? /proc/self/task/TID/status, "SigBlk:" in hex.
bool blocked_on(int tid, int sig) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
  long fd = sys::call6(SYS_openat, AT_FDCWD, long(path), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[4096];
  long n = sys::read(int(fd), buf, sizeof buf - 1);
  sys::close(int(fd));
  if (n <= 0) return false;
  buf[n] = 0;
  const char* p = strstr(buf, "SigBlk:");
  if (!p) return false;
  unsigned long long mask = strtoull(p + 7, nullptr, 16);
  return (mask >> (sig - 1)) & 1;
}

// The kernel's state letter for thread tid (R running, S/D asleep), or 0.
char thread_state(int tid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
  long fd = sys::call6(SYS_openat, AT_FDCWD, long(path), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[512];
  long n = sys::read(int(fd), buf, sizeof buf - 1);
  sys::close(int(fd));
  if (n <= 0) return 0;
  buf[n] = 0;
  const char* p = strrchr(buf, ')');  // the name may hold spaces and parentheses
  return p && p[1] == ' ' ? p[2] : 0;
}

// The system call thread tid sleeps in, and the user pc it made it from
// (/proc/self/task/TID/syscall: "nr args... sp pc"). false if not in one.
bool read_syscall(int tid, long* nr, uintptr_t* pc) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid);
  long fd = sys::call6(SYS_openat, AT_FDCWD, long(path), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[256];
  long n = sys::read(int(fd), buf, sizeof buf - 1);
  sys::close(int(fd));
  if (n <= 0) return false;
  buf[n] = 0;
  char* end = nullptr;
  *nr = strtol(buf, &end, 10);
  if (end == buf || *nr < 0) return false;
  const char* last = strrchr(buf, ' ');
  *pc = last ? uintptr_t(strtoull(last + 1, nullptr, 16)) : 0;
  return true;
}

// Does a wait in system call nr go on, unseen, after a signal whose handler
// has SA_RESTART (signal(7))? The others (poll, epoll_wait, nanosleep,
// io_uring_enter...) would return EINTR to the program: no sample then.
bool restarts_after_signal(long nr) {
  switch (nr) {
    case SYS_read: case SYS_write: case SYS_readv: case SYS_writev: case SYS_pread64: case SYS_pwrite64:
    case SYS_recvfrom: case SYS_sendto: case SYS_recvmsg: case SYS_sendmsg: case SYS_accept4:
    case SYS_connect: case SYS_futex: case SYS_wait4: case SYS_waitid: case SYS_flock: case SYS_fcntl:
    case SYS_openat:
#ifdef SYS_accept
    case SYS_accept:
#endif
#ifdef SYS_open
    case SYS_open:
#endif
      return true;
    default:
      return false;
  }
}

// Ask carrier s for a sample and wait (briefly) for it. nullptr plus why not.
const Heartbeat::Sample* take_sample(Scheduler* s, uint64_t runs, const char** why) {
  Heartbeat& hb = s->heartbeat();
  int sig = sample_signal();
  if (!handler_still_ours()) {
    *why = "the program has its own disposition for the watchdog's signal";
    return nullptr;
  }
  if (blocked_on(hb.tid, sig)) {
    *why = "the watchdog's signal is blocked on that carrier";
    return nullptr;
  }
  hb.sample.expect_runs = runs;
  uint32_t ask = hb.sample.asked.load(std::memory_order_relaxed) + 1;
  hb.sample.asked.store(ask, std::memory_order_release);
  if (sys::call6(SYS_tgkill, sys::call6(SYS_getpid), hb.tid, sig) != 0) {
    *why = "the signal could not be sent";
    return nullptr;
  }
  Deadline give_up = deadline_after(200 * 1000 * 1000);
  for (;;) {
    uint32_t got = hb.sample.taken.load(std::memory_order_acquire);
    if (got == ask) return &hb.sample;
    Nanos left = give_up - now_ns();
    if (left <= 0) break;
    futex_wait(hb.sample.taken, got, left);
  }
  *why = "the carrier did not answer the watchdog's signal";
  return nullptr;
}

bool in_runtime_or_libc(const char* obj) {
  return !strncmp(obj, "libc.so", 7) || !strncmp(obj, "libpthread", 10) || !strncmp(obj, "ld-linux", 8) ||
         !strncmp(obj, "libcohook", 9) || !strncmp(obj, "libgcc_s", 8) || !strncmp(obj, "linux-vdso", 10) ||
         !strncmp(obj, "libasan", 7);
}

uint64_t hash_str(const char* s, uint64_t h = 1469598103934665603ULL) {
  for (; *s; s++) h = (h ^ uint8_t(*s)) * 1099511628211ULL;
  return h;
}

// Seen before? Remember it otherwise. A full table reports everything.
bool already_reported(uint64_t site) {
  for (int i = 0; i < g_site_count; i++)
    if (g_sites[i] == site) return true;
  if (g_site_count < kMaxReportedSites) g_sites[g_site_count++] = site;
  return false;
}

// Append to a report buffer, truncating.
struct Text {
  char buf[8192];
  size_t len = 0;
  void add(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    if (len >= sizeof buf - 1) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + len, sizeof buf - len, fmt, ap);
    va_end(ap);
    if (n > 0) len = len + size_t(n) < sizeof buf - 1 ? len + size_t(n) : sizeof buf - 1;
  }
};

void hint(Text& t, Cause c, const char* start, bool is_main, const char* innermost) {
  char native[320];
  if (is_main)
    snprintf(native, sizeof native, "%s", "the main thread cannot leave the carrier; move this work to a thread "
                                          "and name its start routine in COHOOK_NATIVE_THREADS");
  else if (!*start)
    snprintf(native, sizeof native, "%s", "COHOOK_NATIVE_THREADS=<its start routine> runs it as a real OS thread");
  else
    snprintf(native, sizeof native, "COHOOK_NATIVE_THREADS=%s runs this thread as a real OS thread", start);
  switch (c) {
    case Cause::Spin:
      t.add("  hint: a computation or spin loop that never blocks holds the carrier; %s\n", native);
      break;
    case Cause::Stdio:
      t.add("  hint: stdio reads or writes inside libc (its own read/write calls bypass the shim), so a stream "
            "on a socket or pipe blocks the carrier; use read/recv on the fd, or %s\n", native);
      break;
    case Cause::Uring:
      t.add("  hint: liburing enters the kernel directly (io_uring_enter), which the shim cannot see; %s\n",
            native);
      break;
    case Cause::NativeLock:
      t.add("  hint: a lock glibc waits for in the kernel (a process-shared or robust mutex, or another "
            "futex the shim leaves native) blocks the carrier; %s\n", native);
      break;
    case Cause::Unknown:
      t.add("  hint: a call the shim does not interpose (%s) blocks the carrier; %s\n",
            *innermost ? innermost : "unknown", native);
      break;
  }
}

void report(unsigned index, Scheduler* s, uint64_t runs, const void* running, Nanos ran_for) {
  g_stalls.fetch_add(1, std::memory_order_relaxed);
  if (g_opt.counted) g_opt.counted();
  Heartbeat& hb = s->heartbeat();
  const char* why = nullptr;
  char state = thread_state(hb.tid);  // before the signal wakes it
  long nr = -1;
  uintptr_t sys_pc = 0;
  bool in_syscall = state != 'R' && read_syscall(hb.tid, &nr, &sys_pc);
  char why_buf[160];
  const Heartbeat::Sample* sm = nullptr;
  if (in_syscall && !restarts_after_signal(nr)) {
    snprintf(why_buf, sizeof why_buf,
             "it waits in system call %ld, which the watchdog's signal would interrupt; the call:", nr);
    why = why_buf;
  } else {
    sm = take_sample(s, runs, &why);
  }
  void* sys_frame[1] = {reinterpret_cast<void*>(sys_pc)};
  void* const* frames = sm ? sm->frames : sys_frame;
  // Frames, symbolized once here.
  char names[Heartbeat::kFrames][160];
  char lines[Heartbeat::kFrames][320];
  const char* name_ptrs[Heartbeat::kFrames];
  bool in_program[Heartbeat::kFrames];
  int n = sm ? sm->count : in_syscall && sys_pc ? 1 : 0;
  uint64_t site = 0;
  const char* innermost_libc = "";
  for (int i = 0; i < n; i++) {
    // Return addresses point after the call: look up the call itself.
    const void* pc = frames[i];
    const void* lookup = i == 0 ? pc : static_cast<const char*>(pc) - 1;
    function_name(lookup, names[i], sizeof names[i]);
    char obj[128];
    object_name(lookup, obj, sizeof obj);
    in_program[i] = obj[0] && !in_runtime_or_libc(obj);
    name_ptrs[i] = names[i];
    symbolize(lookup, lines[i], sizeof lines[i]);
    if (!in_program[i] && names[i][0] && !*innermost_libc) innermost_libc = names[i];
    // The call site: the innermost function of the program on the stack (a
    // loop is interrupted at a different instruction, or inside a different
    // libc call, each time).
    if (!site && in_program[i]) site = names[i][0] ? hash_str(names[i]) : uint64_t(uintptr_t(pc));
  }
  if (!site) {
    for (int i = 0; i < n; i++) site = hash_str(names[i], site ^ uintptr_t(i == 0 ? 0 : uintptr_t(frames[i])));
    if (!n) site = sm ? 1 : 2;  // no frames: one report for each kind
  }
  if (sm && sm->runs != runs) n = 0;  // it moved on meanwhile
  if (already_reported(site)) return;
  char start[160] = "";
  if (sm && sm->start_routine) function_name(sm->start_routine, start, sizeof start);
  Text t;
  t.add("cohook[%d]: stall: carrier %u (tid %d) ", int(sys::call6(SYS_getpid)), index, hb.tid);
  if (!sm || sm->runs != runs) t.add("ran coroutine %p", running);
  else if (sm->is_main) t.add(index == 0 ? "ran the main thread" : "ran its own thread's code");
  else t.add("ran thread %p", sm->coroutine);
  if (sm && sm->name[0]) t.add(" \"%s\"", sm->name);
  if (start[0]) t.add(" (start routine %s)", start);
  size_t live = s->live();
  bool main_runs = sm && sm->runs == runs ? sm->is_main : running == s->main_coroutine();
  size_t others = !main_runs && live ? live - 1 : live;
  if (!main_runs && index == 0 && g_opt.carrier0_is_main) others += 1;  // main, parked there
  t.add(" for at least %" PRId64 " ms without returning to its scheduler (%zu other thread(s) live there)\n",
        ran_for / 1000000, others);
  if (!sm) t.add("  no backtrace: %s\n", why);
  else if (!n) t.add("  no backtrace: it returned to its scheduler before the sample\n");
  for (int i = 0; i < n; i++) t.add("  #%d %s\n", i, lines[i]);
  Cause c = classify(name_ptrs, in_program, n, state);
#ifdef SYS_io_uring_enter
  if (in_syscall && nr == SYS_io_uring_enter) c = Cause::Uring;
#endif
  hint(t, c, start, sm && sm->is_main, innermost_libc);
  g_reports.fetch_add(1, std::memory_order_relaxed);
  if (g_opt.emit) g_opt.emit(t.buf, t.len);
}

// How long thread tid has waited runnable for a CPU, in ns (the second field
// of /proc/self/task/TID/schedstat); 0 when unknown. Time the kernel did not
// run a carrier is not time its coroutine kept the others waiting: on a
// loaded machine it alone made 100 ms "stalls". Raw system calls: the
// monitor must not go through the shim's hooks.
Nanos run_queue_wait(int tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", tid);
  long fd = sys::call6(SYS_openat, AT_FDCWD, long(path), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[96];
  long n = sys::read(int(fd), buf, sizeof buf - 1);
  sys::close(int(fd));
  if (n <= 0) return 0;
  buf[n] = 0;
  const char* second = std::strchr(buf, ' ');
  return second ? Nanos(std::strtoull(second + 1, nullptr, 10)) : 0;
}

// Is s awake (not asleep in epoll)? *stalled when what runs there has run
// for longer than the threshold while other coroutines live there (on the
// program's main carrier, main itself counts: it may be parked there).
bool awake(Scheduler* s, bool hosts_program_main, Track& tr, Nanos now, bool* stalled) {
  Heartbeat& hb = s->heartbeat();
  if (hb.blocked.load(std::memory_order_seq_cst)) {
    tr = Track{};
    return false;
  }
  const void* running = hb.running.load(std::memory_order_relaxed);
  size_t live = s->live();
  size_t others = running == s->main_coroutine() ? live : live ? live - 1 : 0;
  if (hosts_program_main && running != s->main_coroutine()) others += 1;
  if (!running || others == 0) {
    tr = Track{};
    return true;  // between coroutines, or delaying nobody: look again later
  }
  uint64_t runs = hb.runs.load(std::memory_order_relaxed);
  const Nanos threshold = Nanos(g_opt.stall_ms) * 1000000;
  if (runs != tr.runs || running != tr.running || tr.since == 0) {
    tr = Track{runs, running, now, 0, false};
    tr.waited_since = run_queue_wait(hb.tid);
  } else if (!tr.reported && now - tr.since >= threshold &&
             now - tr.since - (run_queue_wait(hb.tid) - tr.waited_since) >= threshold) {
    *stalled = true;
  }
  return true;
}

void* monitor_main(void*) {
  t_monitor = true;
  prctl(PR_SET_NAME, "cohook-watchdog");  // told apart from carriers in ps, top, tracers
  // The monitor takes no signal meant for the program.
  sigset_t all;
  sigfillset(&all);
  sys::call6(SYS_rt_sigprocmask, SIG_BLOCK, long(&all), 0, _NSIG / 8);
  const Nanos look_every = Nanos(g_opt.stall_ms) * 1000000 / 2;
  for (;;) {
    Nanos now = now_ns();
    bool any = false;
    unsigned n = g_opt.carriers->configured();
    for (unsigned i = 0; i < n; i++) {
      Scheduler* s = g_opt.carriers->at(i);
      if (!s) continue;
      bool stalled = false;
      any |= awake(s, i == 0 && g_opt.carrier0_is_main, g_track[i], now, &stalled);
      if (stalled) {
        g_track[i].reported = true;
        report(i, s, g_track[i].runs, g_track[i].running, now - g_track[i].since);
      }
    }
    if (!any) {
      // Sleep until a carrier may have become busy; look once more after
      // saying so (its end_blocking_wait may have missed the flag).
      g_monitor_asleep.store(1, std::memory_order_seq_cst);
      bool again = false;
      for (unsigned i = 0; i < n && !again; i++)
        if (Scheduler* s = g_opt.carriers->at(i)) {
          bool st = false;
          again = awake(s, i == 0 && g_opt.carrier0_is_main, g_track[i], now, &st);
        }
      if (n != g_opt.carriers->configured()) again = true;
      if (!again) futex_wait(g_monitor_asleep, 1, -1);
      g_monitor_asleep.store(0, std::memory_order_relaxed);
      continue;
    }
    futex_wait(g_tick, 0, look_every);
  }
  return nullptr;
}

}  // namespace

int sample_signal() { return SIGRTMAX - 1; }

void wake_monitor() {
  if (g_monitor_asleep.exchange(0, std::memory_order_seq_cst))
    sys::futex(&g_monitor_asleep, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

void kick() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (g_monitor_asleep.load(std::memory_order_relaxed)) wake_monitor();
}

bool start(const Options& o) {
  if (!o.stall_ms || !o.carriers || !o.start_thread) return false;
  if (g_started.exchange(true)) return true;
  g_opt = o;
  // backtrace() loads libgcc's unwinder on its first call (dlopen, malloc):
  // do that here, never in the signal handler.
  void* warm[2];
  backtrace(warm, 2);
  if (o.sigaction && !g_handler_ours) {
    struct sigaction cur;
    int sig = sample_signal();
    // A disposition the program set before us stays: no backtraces then.
    if (o.sigaction(sig, nullptr, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_DFL) {
      struct sigaction act;
      memset(&act, 0, sizeof act);
      act.sa_sigaction = &on_sample_signal;
      act.sa_flags = SA_SIGINFO | SA_RESTART;
      sigfillset(&act.sa_mask);
      g_handler_ours = o.sigaction(sig, &act, nullptr) == 0;
    }
  }
  if (o.start_thread(&monitor_main, nullptr) != 0) {
    g_started.store(false);
    return false;
  }
  return true;
}

bool running() { return g_started.load(std::memory_order_relaxed); }

std::atomic<bool> g_armed{false};
namespace {
Options g_armed_opt;
SpinLock g_arm_lock;
}  // namespace

void arm(const Options& o) {
  if (!o.stall_ms || g_started.load()) return;
  SpinGuard g(g_arm_lock);
  g_armed_opt = o;
  g_armed.store(true, std::memory_order_release);
}

bool start_armed() {
  Options o;
  {
    SpinGuard g(g_arm_lock);
    if (!g_armed.exchange(false)) return g_started.load();
    o = g_armed_opt;
  }
  return start(o);
}

void reset_after_fork() {
  g_started.store(false);
  g_armed.store(false);
  g_monitor_asleep.store(0);
  for (auto& t : g_track) t = Track{};
  g_site_count = 0;  // a new process: its own reports
}

void prepare_carrier_thread() {
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sample_signal());
  sys::call6(SYS_rt_sigprocmask, SIG_UNBLOCK, long(&one), 0, _NSIG / 8);
}

bool on_monitor_thread() { return t_monitor; }
bool monitor_asleep() { return g_monitor_asleep.load() != 0; }
uint64_t stalls_seen() { return g_stalls.load(); }
uint64_t reports_printed() { return g_reports.load(); }

namespace {
bool is_any(const char* name, std::initializer_list<const char*> list) {
  for (const char* l : list)
    if (!strcmp(name, l)) return true;
  return false;
}
}  // namespace

Cause classify(const char* const* names, const bool* in_program, int n, char state) {
  // Running on a CPU: whatever the frames, it computes.
  if (state == 'R') return Cause::Spin;
  bool stdio = false, uring = false, lock = false;
  for (int i = 0; i < n; i++) {
    const char* f = names[i];
    if (in_program[i]) {
      if (is_any(f, {"io_uring_enter", "io_uring_enter2", "__sys_io_uring_enter", "__sys_io_uring_enter2"}))
        uring = true;  // a statically linked liburing
      continue;
    }
    if (strstr(f, "io_uring")) uring = true;
    if (!strncmp(f, "_IO_", 4) || !strncmp(f, "__uflow", 7) || !strncmp(f, "__underflow", 11) ||
        is_any(f, {"fgets", "fgets_unlocked", "fread", "fread_unlocked", "getc", "fgetc", "getc_unlocked",
                   "fgetc_unlocked", "getline", "getdelim", "__getdelim", "fscanf", "__isoc99_fscanf", "vfscanf",
                   "__isoc99_vfscanf", "fputs", "fputs_unlocked", "fwrite", "fwrite_unlocked", "fflush",
                   "fflush_unlocked", "fputc", "putc", "fprintf", "vfprintf", "__fprintf_chk", "fgetws", "getwc",
                   "__overflow"}))
      stdio = true;
    if (strstr(f, "pthread_mutex_") || strstr(f, "pthread_rwlock_") || strstr(f, "pthread_cond_") ||
        strstr(f, "lll_lock") || strstr(f, "futex") || !strncmp(f, "sem_", 4) || strstr(f, "pthread_barrier"))
      lock = true;
  }
  if (uring) return Cause::Uring;
  if (stdio) return Cause::Stdio;
  if (lock) return Cause::NativeLock;
  if (!state && n > 0 && in_program[0]) return Cause::Spin;
  return Cause::Unknown;
}

const char* cause_name(Cause c) {
  switch (c) {
    case Cause::Spin: return "spin";
    case Cause::Stdio: return "stdio";
    case Cause::Uring: return "io_uring";
    case Cause::NativeLock: return "native lock";
    case Cause::Unknown: break;
  }
  return "unknown";
}

}  // namespace cohook::watchdog
