// Start-up, per-thread carriers, fork, logging and stats.
#include "state.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "fd_info.h"
#include "overflow_guard.h"
#include "real.h"
#include "stats.h"
#include "thread.h"

namespace cohook::shim {

std::atomic<Mode> g_mode{Mode::Starting};
Config g_config;
Stats g_stats;

namespace {

thread_local Scheduler* t_carrier = nullptr;
thread_local int t_is_main = -1;  // unknown yet
CarrierSet g_carriers;
OffloadPool g_offload;
unsigned long g_main_handle = 0;
std::atomic<bool> g_forked{false};
void note_fork_in_parent() { g_forked.store(true, std::memory_order_relaxed); }

using pthread_self_t = pthread_t (*)();
using pthread_create_t = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
pthread_self_t os_pthread_self() {
  static auto f = real::next<pthread_self_t>("pthread_self");
  return f;
}

}  // namespace

int start_os_thread(void* (*fn)(void*), void* arg, size_t stack) {
  static auto create = real::next<pthread_create_t>("pthread_create");
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&a, stack);
  pthread_t t;
  int r = create ? create(&t, &a, fn, arg) : ENOSYS;
  pthread_attr_destroy(&a);
  return r;
}

namespace {

// A carrier's own stack only ever holds a parked main context; the
// dispatcher has its own.
int start_carrier_thread(void* (*fn)(void*), void* arg) { return start_os_thread(fn, arg, 256 * 1024); }
// Offload threads run libc's blocking calls (the resolver, NSS modules).
int start_offload_thread(void* (*fn)(void*), void* arg) { return start_os_thread(fn, arg, 1024 * 1024); }

unsigned default_carriers() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return unsigned(CPU_COUNT(&set));
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? unsigned(n) : 1;
}
thread_local bool t_carrier_gone = false;  // this thread is exiting
thread_local bool t_blocks_natively = false;  // block_natively_here()

// Frees the thread's carrier when the thread exits. After that, hooks called
// by later TLS destructors pass straight through. Carriers of the carrier set
// are never freed: the main thread's TLS destructors run inside exit(),
// while the other carriers still run coroutines that may wake ones of carrier
// 0 -- the process is ending, the kernel reclaims everything.
struct CarrierOwner {
  ~CarrierOwner() {
    t_carrier_gone = true;
    bool shared = t_carrier && carriers().contains(t_carrier);
    if (t_carrier && !shared && Coroutine::current() == t_carrier->main_coroutine()) delete t_carrier;
    t_carrier = nullptr;
  }
};
thread_local CarrierOwner t_owner;

Scheduler::Options scheduler_options() {
  Scheduler::Options o;
  o.stack_size = g_config.stack_size;
  o.stack_hot_cache = g_config.stack_cache;
  o.shared_stacks = g_config.shared_stack_slots();
  o.shared_stack_size = g_config.shared_stack_size;
  return o;
}

void write_stderr(const char* s, size_t n) {
  if (!stderr_takes_messages()) return;
  while (n) {
    ssize_t w = REAL(write)(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= size_t(w);
  }
}

// fork: the child has only the forking thread. Every carrier's epoll instance
// is shared with the parent (same open file), so the child must not use any
// of them: forget all registrations and start a fresh runtime. The forking
// context stays: forked from the thread's own stack, its carrier is freed
// (a new one is made on first use); forked from a coroutine -- a program
// thread running on some carrier -- the old scheduler is abandoned (we may be
// running on one of its stacks) and a new one adopts the running coroutine as
// its main, keeping its pthread identity. The other carriers' memory is
// leaked: their threads do not exist here.
void after_fork_in_child() {
  g_forked.store(true, std::memory_order_relaxed);
  forget_all_fds_after_fork();
  t_is_main = -1;
  Coroutine* co = Coroutine::current();
  Thread* adopted = nullptr;
  if (t_carrier && co == t_carrier->main_coroutine()) {
    delete t_carrier;
  } else if (t_carrier) {
    adopted = Thread::current();
    Scheduler::abandon_after_fork();
  }
  t_carrier = nullptr;
  stall_watchdog_after_fork();
  g_offload.reset_after_fork();
  Thread::reset_after_fork(adopted != nullptr);
  g_main_handle = os_pthread_self()();
  g_carriers.reset_after_fork(nullptr);
  if (adopted) {
    if (Scheduler* s = carrier()) s->main_coroutine()->set_user(adopted, nullptr);
  }
  LiveCoroutines::reset_after_fork();
  restart_stats_after_fork();
}

}  // namespace

Scheduler* carrier() {
  if (t_carrier) return t_carrier;
  if (!active() || t_carrier_gone) return nullptr;
  if (Scheduler::current()) return nullptr;  // someone else's scheduler (tests)
  if (OffloadPool::on_pool_thread()) return nullptr;  // pool threads block natively
  if (t_blocks_natively) return nullptr;
  if (on_stall_watchdog_thread()) return nullptr;
  t_carrier = Scheduler::try_create(scheduler_options());
  (void)&t_owner;  // make sure the TLS destructor is registered
  if (t_carrier) {
    t_carrier->set_os_thread(os_pthread_self()());
    if (is_main_thread()) g_carriers.set_first(t_carrier);
    g_stats.carriers.fetch_add(1, std::memory_order_relaxed);
    stall_watchdog_on_new_carrier();
    log(LogLevel::Debug, "carrier made for thread %d", int(gettid()));
  } else {
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true))
      log(LogLevel::Warn, "no carrier for thread %d (out of memory or fds): threads without one block natively",
          int(gettid()));
  }
  return t_carrier;
}

void block_natively_here() { t_blocks_natively = true; }

bool process_has_forked() { return g_forked.load(std::memory_order_relaxed); }

// fd 2 as the process started with it (device, inode), to tell a socket put
// there later (a client's connection) from one it started with (journald).
namespace {
struct stat g_stderr_at_start {};
bool g_stderr_at_start_known = false;
}  // namespace

bool stderr_takes_messages() {
  struct stat now;
  if (fstat(STDERR_FILENO, &now) != 0) return false;
  if (!S_ISSOCK(now.st_mode)) return true;
  return g_stderr_at_start_known && now.st_dev == g_stderr_at_start.st_dev &&
         now.st_ino == g_stderr_at_start.st_ino;
}

void forked_without_libc(bool in_child) {
  if (in_child) {
    after_fork_in_child();
  } else {
    note_fork_in_parent();
  }
}

bool is_main_thread() {
  if (t_is_main < 0) t_is_main = gettid() == getpid();
  return t_is_main;
}

unsigned long main_thread_handle() { return g_main_handle; }

unsigned long os_thread_of(unsigned long h) {
  if (Thread* t = Thread::from_handle(h))
    if (Scheduler* s = t->home()) return s->os_thread();
  return h;
}

CarrierSet& carriers() { return g_carriers; }
OffloadPool& offload() { return g_offload; }

bool can_park() {
  if (!active()) return false;
  if (Scheduler* s = t_carrier) {
    Coroutine* co = Coroutine::current();
    return co && co->home() == s && !Scheduler::is_dispatcher(co);
  }
  // No carrier yet: one will be made if the call has to wait (Scheduler::
  // ensure), unless this thread is exiting, runs someone else's scheduler or
  // is an offload thread (which blocks natively: that is what it is for).
  return !t_carrier_gone && !t_blocks_natively && !Scheduler::current() && !OffloadPool::on_pool_thread();
}

Deadline io_deadline(int64_t program_timeout_ns, uint64_t cap_ms) {
  int64_t ns = program_timeout_ns;
  if (cap_ms) {
    int64_t cap = int64_t(cap_ms) * 1000000;
    if (ns == 0 || cap < ns) ns = cap;
  }
  return ns ? deadline_after(ns) : kForever;
}

void log(LogLevel level, const char* fmt, ...) {
  if (level > g_config.log || level == LogLevel::Off) return;
  char buf[512];
  int n = std::snprintf(buf, sizeof buf, "cohook[%d]: ", int(getpid()));
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(buf + n, sizeof buf - size_t(n) - 1, fmt, ap);
  va_end(ap);
  if (m < 0) return;
  size_t len = std::min(sizeof buf - 2, size_t(n + m));
  buf[len++] = '\n';
  write_stderr(buf, len);
}

namespace {
// Runs before main (and before most constructors of the program). A bad
// COHOOK_* value ends the process here, before the program did anything.
__attribute__((constructor(101))) void start() {
  real::resolve_all();
  g_stderr_at_start_known = fstat(STDERR_FILENO, &g_stderr_at_start) == 0;
  char err[256];
  if (!load_config(g_config, err, sizeof err)) {
    size_t n = std::strlen(err);
    err[n] = '\n';
    write_stderr(err, n + 1);
    _exit(2);
  }
  if (g_config.disable) {
    g_mode.store(Mode::Disabled);
    return;
  }
  pthread_atfork(nullptr, note_fork_in_parent, after_fork_in_child);
  g_main_handle = os_pthread_self()();
  g_carriers.configure(g_config.carriers ? g_config.carriers : default_carriers(), &start_carrier_thread, &carrier);
  g_offload.configure(g_config.offload_threads, &start_offload_thread);
  overflow_guard_use_sigaction(REAL(sigaction));
  Scheduler::set_factory(carrier);
  start_stats();
  g_mode.store(Mode::Active);
  wrap_existing_handlers();
  log(LogLevel::Info, "active: stack %zu KiB (%s), io timeout cap %lu ms, connect timeout cap %lu ms",
      g_config.stack_size / 1024, g_config.stack_mode == StackMode::Shared ? "shared" : "private",
      (unsigned long)g_config.io_timeout_ms, (unsigned long)g_config.connect_timeout_ms);
}
}  // namespace

}  // namespace cohook::shim
