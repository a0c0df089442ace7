// cohook-demo: the runtime at work, before the LD_PRELOAD shim exists.
//
// Two rounds, one with private stacks and one with shared (copy) stacks. Each:
//   1. spawns N coroutines that each sleep 1 s + jitter (0..500 ms): the
//      creation time, the first-run time and the RSS per coroutine;
//   2. checks every timer: lateness p50/p99/max, and that none fired early;
//   3. with all N parked on far timers, measures 1 s of idleness: CPU time
//      (getrusage) and carrier wake-ups, both ~0 as there is no tick;
//   4. still with the N sleepers parked, ping-pongs one byte over 1000
//      socketpairs (2000 more coroutines), the way the shim will do blocking
//      I/O: recv/send with MSG_DONTWAIT (the fds stay blocking), park on
//      EAGAIN with the fd's readiness epoch, forget_fd() before close.
//
// Configuration comes from the COHOOK_* variables (runtime/config.h), as it
// will for the shim; a malformed value prints one line and exits 2.
//
//   cohook-demo            the full demo (~10 s)
//   cohook-demo --small    a few thousand coroutines, ~1.5 s (a smoke test)
#include <fcntl.h>
#include <signal.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "config.h"
#include "scheduler.h"

using namespace cohook;

namespace {

constexpr Nanos kMs = 1000000;
int g_watchdog_seconds = 40;

struct Params {
  long sleepers = 100000;
  int pairs = 1000;
  Nanos base_sleep = 1000 * kMs;  // each sleeper: base + jitter
  Nanos jitter = 500 * kMs;
  Nanos idle_window = 1000 * kMs;
  Nanos pingpong_window = 1000 * kMs;
};

// ---- measurements ----------------------------------------------------------

long rss_kib() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  long kib = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  std::fclose(f);
  return kib;
}

Nanos cpu_ns() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (Nanos(ru.ru_utime.tv_sec) + ru.ru_stime.tv_sec) * 1000000000 +
         (Nanos(ru.ru_utime.tv_usec) + ru.ru_stime.tv_usec) * 1000;
}

long read_long_file(const char* path, long fallback) {
  FILE* f = std::fopen(path, "r");
  if (!f) return fallback;
  long v = fallback;
  if (std::fscanf(f, "%ld", &v) != 1) v = fallback;
  std::fclose(f);
  return v;
}

const char* us(Nanos ns) {  // "12.3 us" in a rotating buffer
  static char buf[8][32];
  static int k = 0;
  char* b = buf[k++ % 8];
  std::snprintf(b, 32, "%.1f us", double(ns) / 1000.0);
  return b;
}

bool g_failed = false;

// A watchdog: a demo that hangs says where, instead of hanging.
const char* volatile g_phase = "start";
void on_alarm(int) {
  char msg[200];
  int n = std::snprintf(msg, sizeof msg, "\ncohook-demo: FAILED: stuck for %d s; last phase: %s\n",
                        g_watchdog_seconds, g_phase);
  if (n > 0) (void)!::write(2, msg, size_t(n));
  _exit(1);
}
void check(bool ok, const char* what) {
  if (!ok) {
    std::printf("  CHECK FAILED: %s\n", what);
    g_failed = true;
  }
}

// ---- sleepers ----------------------------------------------------------------

struct SleepRound {
  Nanos t0 = 0;
  Params p;
  std::vector<Nanos> lateness;  // per sleeper: wake time - deadline
  std::atomic<long> woke{0};
  long spurious = 0;
  std::atomic<bool> release{false};
  Deadline far = kForever;
};
SleepRound* g_round = nullptr;

Deadline sleeper_deadline(const SleepRound& r, long i) {
  // Deterministic jitter spread evenly over [0, jitter): i * prime mod N.
  long n = long(r.lateness.size());
  long slot = long((unsigned long)i * 7919ul % (unsigned long)n);
  return r.t0 + r.p.base_sleep + r.p.jitter * slot / n;
}

void sleeper(void* arg) {
  SleepRound& r = *g_round;
  long i = long(reinterpret_cast<intptr_t>(arg));
  Parker* me = Parker::current();
  // park_until directly (not sleep_until, which loops until the deadline) so
  // that an early timer would show up as negative lateness.
  Deadline d = sleeper_deadline(r, i);
  while (me->park_until(d)) r.spurious++;
  r.lateness[size_t(i)] = now_ns() - d;
  r.woke.fetch_add(1, std::memory_order_relaxed);
  // Then sleep on a far timer until the round is over.
  while (!r.release.load(std::memory_order_acquire) && now_ns() < r.far) me->park_until(r.far);
}

// ---- ping-pong ---------------------------------------------------------------

// What the shim's recv/send will do on a blocking socket: try with
// MSG_DONTWAIT, park on EAGAIN; the epoch is sampled before the attempt.
ssize_t co_recv(int fd, void* buf, size_t n) {
  for (;;) {
    uint64_t epoch = fd_epoch(fd, IoDir::Read);
    ssize_t r = ::recv(fd, buf, n, MSG_DONTWAIT);
    if (r >= 0 || errno != EAGAIN) return r;
    if (wait_fd(Scheduler::current()->poller(), fd, IoDir::Read, epoch, kForever) != WaitResult::Ready) {
      errno = EBADF;
      return -1;
    }
  }
}
ssize_t co_send(int fd, const void* buf, size_t n) {
  for (;;) {
    uint64_t epoch = fd_epoch(fd, IoDir::Write);
    ssize_t r = ::send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r >= 0 || errno != EAGAIN) return r;
    if (wait_fd(Scheduler::current()->poller(), fd, IoDir::Write, epoch, kForever) != WaitResult::Ready) {
      errno = EBADF;
      return -1;
    }
  }
}

struct Pair {
  int fd[2] = {-1, -1};
  long round_trips = 0;
  bool error = false;
};
std::atomic<bool> g_stop{false};

void pinger(void* arg) {
  auto* p = static_cast<Pair*>(arg);
  char c = 'p';
  while (!g_stop.load(std::memory_order_relaxed)) {
    if (co_send(p->fd[0], &c, 1) != 1 || co_recv(p->fd[0], &c, 1) != 1) {
      p->error = true;
      break;
    }
    p->round_trips++;
  }
  ::shutdown(p->fd[0], SHUT_WR);  // the ponger sees EOF
}

void ponger(void* arg) {
  auto* p = static_cast<Pair*>(arg);
  char c;
  for (;;) {
    ssize_t n = co_recv(p->fd[1], &c, 1);
    if (n == 0) return;
    if (n != 1 || co_send(p->fd[1], &c, 1) != 1) {
      p->error = true;
      return;
    }
  }
}

void close_fd(int fd) {
  forget_fd(fd);  // before close: the number may be reused at once
  ::close(fd);
}

// ---- one round ---------------------------------------------------------------

struct Result {
  long n = 0;
  Nanos create = 0, first_run = 0;  // per coroutine
  double rss_kib = 0;               // per sleeping coroutine
  Nanos p50 = 0, p99 = 0, max = 0;  // timer lateness
  Nanos idle_cpu = 0;
  uint64_t idle_wakeups = 0;
  double rts = 0, switches = 0;     // ping-pong, per second
};

Result run_round(const char* title, const Scheduler::Options& opt, long n_sleepers, const Params& p) {
  Result res;
  res.n = n_sleepers;
  std::printf("\n== %s ==\n", title);
  std::fflush(stdout);
  SleepRound r;
  r.p = p;
  r.lateness.assign(size_t(n_sleepers), 0);
  std::vector<Coroutine*> cos(size_t(n_sleepers), nullptr);
  g_round = &r;

  Scheduler s(opt);
  g_phase = "spawning sleepers";
  long rss0 = rss_kib();
  r.t0 = now_ns();
  r.far = r.t0 + 60000 * kMs;
  for (long i = 0; i < n_sleepers; ++i) {
    cos[size_t(i)] = s.spawn(sleeper, reinterpret_cast<void*>(intptr_t(i)));
    if (!cos[size_t(i)]) {
      std::printf("  spawn #%ld failed: %s\n", i, std::strerror(errno));
      std::exit(1);
    }
  }
  Nanos t_spawned = now_ns();
  g_phase = "first run of the sleepers";
  Scheduler::yield();  // main goes to the back of the queue: every sleeper runs once and parks
  Nanos t_parked = now_ns();
  long rss1 = rss_kib();
  res.create = (t_spawned - r.t0) / n_sleepers;
  res.first_run = (t_parked - t_spawned) / n_sleepers;
  res.rss_kib = double(rss1 - rss0) / double(n_sleepers);
  std::printf("  %ld coroutines: create %s each, first run + park %s each\n", n_sleepers,
              us((t_spawned - r.t0) / n_sleepers), us((t_parked - t_spawned) / n_sleepers));
  std::printf("  RSS %ld MiB -> %ld MiB: %.2f KiB per sleeping coroutine\n", rss0 / 1024, rss1 / 1024,
              double(rss1 - rss0) / double(n_sleepers));

  // All first sleeps end by t0 + base + jitter.
  g_phase = "timed sleeps";
  Scheduler::sleep_until(r.t0 + p.base_sleep + p.jitter + 20 * kMs);
  for (int k = 0; k < 500 && r.woke.load() < n_sleepers; ++k) Scheduler::sleep_for(10 * kMs);
  check(r.woke.load() == n_sleepers, "every sleeper woke");
  std::vector<Nanos> lat = r.lateness;
  std::sort(lat.begin(), lat.end());
  long early = long(std::count_if(lat.begin(), lat.end(), [](Nanos x) { return x < 0; }));
  std::printf("  timers (%lld ms + 0..%lld ms jitter): late by p50 %s, p99 %s, max %s; early: %ld%s\n",
              (long long)(p.base_sleep / kMs), (long long)(p.jitter / kMs), us(lat[lat.size() / 2]), us(lat[lat.size() * 99 / 100]),
              us(lat.back()), early, r.spurious ? " (some spurious wake-ups, re-parked)" : "");
  check(early == 0, "no timer fired early");
  res.p50 = lat[lat.size() / 2];
  res.p99 = lat[lat.size() * 99 / 100];
  res.max = lat.back();

  // Idle: everybody parked on a far timer.
  g_phase = "idle window";
  uint64_t polls0 = s.stats().polls;
  Nanos cpu0 = cpu_ns();
  Scheduler::sleep_for(p.idle_window);
  Nanos cpu = cpu_ns() - cpu0;
  uint64_t polls = s.stats().polls - polls0;
  res.idle_cpu = cpu;
  res.idle_wakeups = polls;
  std::printf("  idle %lld ms with %ld coroutines asleep: CPU %s, carrier wake-ups %llu\n",
              (long long)(p.idle_window / kMs), n_sleepers, us(cpu), (unsigned long long)polls);

  // Ping-pong while the sleepers stay parked.
  std::vector<Pair> pairs(size_t(p.pairs));
  std::vector<Coroutine*> pp;
  for (auto& pr : pairs) {
    // Blocking sockets, as a legacy program makes them.
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pr.fd) != 0) {
      std::printf("  socketpair: %s\n", std::strerror(errno));
      std::exit(1);
    }
  }
  g_stop.store(false);
  g_phase = "ping-pong";
  Scheduler::Stats st0 = s.stats();
  Nanos pp0 = now_ns();
  for (auto& pr : pairs) {
    pp.push_back(s.spawn(ponger, &pr));
    pp.push_back(s.spawn(pinger, &pr));
    if (!pp[pp.size() - 1] || !pp[pp.size() - 2]) {
      std::printf("  spawn (ping-pong) failed: %s\n", std::strerror(errno));
      std::exit(1);
    }
  }
  Scheduler::sleep_for(p.pingpong_window);
  g_stop.store(true);
  for (Coroutine* c : pp) Scheduler::join(c);
  Nanos pp_ns = now_ns() - pp0;
  Scheduler::Stats st1 = s.stats();
  long rts = 0;
  bool err = false;
  for (auto& pr : pairs) {
    rts += pr.round_trips;
    err |= pr.error;
    close_fd(pr.fd[0]);
    close_fd(pr.fd[1]);
  }
  double secs = double(pp_ns) / 1e9;
  res.rts = double(rts) / secs;
  res.switches = double(st1.switches - st0.switches) / secs;
  std::printf("  ping-pong over %d socketpairs beside %ld sleepers: %.0f round trips/s, "
              "%.0f switches/s (%.2f per round trip), %.0f polls/s\n",
              p.pairs, n_sleepers, double(rts) / secs, double(st1.switches - st0.switches) / secs,
              rts ? double(st1.switches - st0.switches) / double(rts) : 0.0,
              double(st1.polls - st0.polls) / secs);
  check(!err, "ping-pong without I/O errors");
  check(rts > 0, "ping-pong made progress");

  // Release the sleepers.
  g_phase = "waking and joining the sleepers";
  Nanos w0 = now_ns();
  r.release.store(true, std::memory_order_release);
  for (Coroutine* c : cos) c->parker().unpark();
  for (Coroutine* c : cos) Scheduler::join(c);
  std::printf("  woke and joined all %ld in %lld ms\n", n_sleepers, (long long)((now_ns() - w0) / kMs));
  check(s.stats().live == 0, "nothing left running");
  g_round = nullptr;
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  Params p;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--small")) {
      p.sleepers = 3000;
      p.pairs = 50;
      p.base_sleep = 200 * kMs;
      p.jitter = 100 * kMs;
      p.idle_window = 200 * kMs;
      p.pingpong_window = 200 * kMs;
      g_watchdog_seconds = 20;
    } else {
      std::fprintf(stderr, "usage: %s [--small]\n", argv[0]);
      return 2;
    }
  }

  // The configuration contract: a bad COHOOK_* value stops us with one line.
  Config cfg;
  char err[256];
  if (!load_config(cfg, err, sizeof err)) {
    std::fprintf(stderr, "%s\n", err);
    return 2;
  }

  signal(SIGALRM, on_alarm);
  alarm(g_watchdog_seconds);

  // Enough descriptors for the ping-pong (socketpairs: 2 fds per pair).
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rlim_t want = rlim_t(2 * p.pairs + 64);
    if (rl.rlim_cur < want && rl.rlim_max != rl.rlim_cur) {
      rl.rlim_cur = std::min(rl.rlim_max, want);
      setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < want) p.pairs = int((rl.rlim_cur - 64) / 2);
  }

#if defined(__x86_64__)
  const char* arch = "x86-64";
#elif defined(__aarch64__)
  const char* arch = "aarch64";
#else
  const char* arch = "?";
#endif
  std::printf("cohook-demo: the coroutine runtime on %s\n", arch);
  unsigned slots = cfg.shared_stacks ? cfg.shared_stacks : 64;
  std::printf("  private stacks of %zu KiB (COHOOK_STACK_SIZE), %zu kept for reuse (COHOOK_STACK_CACHE)\n"
              "  shared stacks: %u slots (COHOOK_SHARED_STACKS) of %zu KiB (COHOOK_SHARED_STACK_SIZE)\n",
              cfg.stack_size / 1024, cfg.stack_cache, slots, cfg.shared_stack_size / 1024);
  std::printf("  timers: epoll_pwait2 (ns precision): %s\n", Poller::has_ns_precision() ? "yes" : "no");

  // Private stacks: with guard regions (Linux >= 6.13) a slab of 64 stacks
  // is one mapping; otherwise each stack is two (guard + stack), and the
  // kernel's vm.max_map_count (65530 by default) caps a process near 32k.
  long max_maps = read_long_file("/proc/sys/vm/max_map_count", 65530);
  long room = (max_maps - 4L * p.pairs - 3000) / 2;
  long n_private = StackPool::guard_regions() ? p.sleepers
                                              : std::min(p.sleepers, std::max(1000L, room / 1000 * 1000));

  Scheduler::Options priv;
  priv.stack_size = cfg.stack_size;
  priv.stack_hot_cache = cfg.stack_cache;
  Scheduler::Options shared;
  shared.shared_stacks = slots;
  shared.shared_stack_size = cfg.shared_stack_size;

  Nanos t0 = now_ns();
  Result rp, rs;
  {
    char title[160];
    std::snprintf(title, sizeof title, "private stacks (%zu KiB reserved each, lazily committed)%s",
                  cfg.stack_size / 1024,
                  n_private < p.sleepers ? ": capped by vm.max_map_count" : "");
    if (n_private < p.sleepers)
      std::printf("\n  (vm.max_map_count=%ld allows about %ld private stacks of 2 mappings each;\n"
                  "   %ld sleepers here, %ld in the shared-stack round)\n",
                  max_maps, max_maps / 2, n_private, p.sleepers);
    rp = run_round(title, priv, n_private, p);
    malloc_trim(0);  // give round 1's heap back, so round 2's RSS is its own
  }
  char title[160];
  std::snprintf(title, sizeof title, "shared stacks (%u slots of %zu KiB, used part copied out on switch)",
                shared.shared_stacks, shared.shared_stack_size / 1024);
  rs = run_round(title, shared, p.sleepers, p);

  std::printf("\n== summary ==\n");
  std::printf("  %-34s %14s %14s\n", "", "private", "shared");
  std::printf("  %-34s %14ld %14ld\n", "sleeping coroutines", rp.n, rs.n);
  std::printf("  %-34s %14s %14s\n", "create, per coroutine", us(rp.create), us(rs.create));
  std::printf("  %-34s %14s %14s\n", "first run + park, per coroutine", us(rp.first_run), us(rs.first_run));
  std::printf("  %-34s %10.2f KiB %10.2f KiB\n", "RSS per sleeping coroutine", rp.rss_kib, rs.rss_kib);
  std::printf("  %-34s %14s %14s\n", "timer lateness p50", us(rp.p50), us(rs.p50));
  std::printf("  %-34s %14s %14s\n", "timer lateness p99", us(rp.p99), us(rs.p99));
  std::printf("  %-34s %14s %14s\n", "timer lateness max", us(rp.max), us(rs.max));
  std::printf("  %-34s %14s %14s\n", "CPU while all asleep (idle window)", us(rp.idle_cpu), us(rs.idle_cpu));
  std::printf("  %-34s %14llu %14llu\n", "carrier wake-ups in idle window", (unsigned long long)rp.idle_wakeups,
              (unsigned long long)rs.idle_wakeups);
  std::printf("  %-34s %14.0f %14.0f\n", "ping-pong round trips/s", rp.rts, rs.rts);
  std::printf("  %-34s %14.0f %14.0f\n", "switches/s during ping-pong", rp.switches, rs.switches);

  std::printf("\n%s in %.1f s\n", g_failed ? "cohook-demo: FAILED" : "cohook-demo: all checks passed",
              double(now_ns() - t0) / 1e9);
  return g_failed ? 1 : 0;
}
