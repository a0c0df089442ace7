// cohook-bench: runtime micro-benchmarks in one run.
//
//   1. one-way context switch: cohook_switch vs Boost.Context fcontext vs
//      glibc swapcontext (ping-pong between two contexts);
//   2. TimerHeap insert / cancel / expire;
//   3. coroutine spawn+finish through the Scheduler (private and shared stacks);
//   4. Scheduler::yield() between two coroutines, and a raw
//      Coroutine::resume()+Coroutine::yield() round trip.
//
// Every figure is the median of R repetitions; the repetitions of the three
// switch implementations are interleaved so that a noisy period on a shared
// machine hits all of them alike. Iteration counts are calibrated against a
// time budget, so the run stays bounded on slow or loaded machines.
//
// Usage: cohook-bench [--quick] [--json FILE]
// The last line of output is always "switch ratio cohook/boost = X.XX".
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <boost/context/detail/fcontext.hpp>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "context.h"
#include "coroutine.h"
#include "scheduler.h"
#include "stack_pool.h"
#include "timer_heap.h"

namespace bctx = boost::context::detail;
using namespace cohook;

namespace {

// ---- configuration ---------------------------------------------------------

struct Config {
  bool quick = false;
  const char* json = nullptr;
  int reps = 7;                       // repetitions per figure (median)
  long switch_max = 10'000'000;       // one-way switches per repetition (cap)
  double switch_budget_s = 0.15;      // ... and time budget per repetition
  size_t timers = 1'000'000;
  double sched_budget_s = 0.10;       // per repetition of the scheduler benches
};

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct Figure {
  std::string key;     // JSON key
  std::string label;   // table label
  std::vector<double> samples;  // ns per op, one per repetition
  long ops = 0;        // ops per repetition
  bool missing() const { return samples.empty(); }
  double med() const { return median(samples); }
  double min() const { return *std::min_element(samples.begin(), samples.end()); }
  double max() const { return *std::max_element(samples.begin(), samples.end()); }
};

// Pick an op count so that one repetition of `run(n)` (which returns seconds)
// takes about `budget` seconds, capped at `cap`.
long calibrate(const std::function<double(long)>& run, long probe, long cap, double budget) {
  double t = run(probe);
  t = std::min(t, run(probe));  // second probe: first one pays page faults
  double per = t / double(probe);
  long n = per > 0 ? long(budget / per) : cap;
  return std::clamp(n, probe, cap);
}

// ---- stacks for the raw switch benches ---------------------------------------

constexpr size_t kRawStack = 64 * 1024;

char* map_raw_stack() {
  void* p = mmap(nullptr, kRawStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    std::exit(1);
  }
  return static_cast<char*>(p);
}

// ---- 1. context switch ping-pong -------------------------------------------
//
// Each implementation runs the same shape: the main side loops n/2 times doing
// one switch into the other context; the other context loops forever doing one
// switch back. No other work and no other calls on either side; n one-way
// switches per repetition. The contexts are abandoned suspended at the end.

// cohook
void* g_ck_main_sp;
void* g_ck_co_sp;
[[noreturn]] void ck_entry(void*, void*) {
  for (;;) cohook_switch(&g_ck_co_sp, g_ck_main_sp, nullptr);
}
struct CohookPingPong {
  char* stack = map_raw_stack();
  CohookPingPong() {
    g_ck_co_sp = cohook_make_context(stack + kRawStack, &ck_entry, nullptr);
    cohook_switch(&g_ck_main_sp, g_ck_co_sp, nullptr);  // start it: now it sits in its loop
  }
  ~CohookPingPong() { munmap(stack, kRawStack); }
  __attribute__((noinline)) double run(long n) {
    long rounds = n / 2;
    double t0 = now_s();
    for (long i = 0; i < rounds; ++i) cohook_switch(&g_ck_main_sp, g_ck_co_sp, nullptr);
    return now_s() - t0;
  }
};

// Boost.Context fcontext (the transfer carries the other side's context back)
[[noreturn]] void bc_entry(bctx::transfer_t t) {
  for (;;) t = bctx::jump_fcontext(t.fctx, nullptr);
}
struct BoostPingPong {
  char* stack = map_raw_stack();
  bctx::fcontext_t other;
  BoostPingPong() {
    other = bctx::make_fcontext(stack + kRawStack, kRawStack, &bc_entry);
    other = bctx::jump_fcontext(other, nullptr).fctx;  // start it
  }
  ~BoostPingPong() { munmap(stack, kRawStack); }
  __attribute__((noinline)) double run(long n) {
    long rounds = n / 2;
    bctx::fcontext_t o = other;
    double t0 = now_s();
    for (long i = 0; i < rounds; ++i) o = bctx::jump_fcontext(o, nullptr).fctx;
    double t = now_s() - t0;
    other = o;
    return t;
  }
};

// glibc swapcontext (saves/restores the signal mask: one rt_sigprocmask syscall per switch)
ucontext_t g_uc_main, g_uc_co;
[[noreturn]] void uc_entry() {
  for (;;) swapcontext(&g_uc_co, &g_uc_main);
}
struct UcontextPingPong {
  char* stack = map_raw_stack();
  UcontextPingPong() {
    getcontext(&g_uc_co);
    g_uc_co.uc_stack.ss_sp = stack;
    g_uc_co.uc_stack.ss_size = kRawStack;
    g_uc_co.uc_link = nullptr;
    makecontext(&g_uc_co, &uc_entry, 0);
    swapcontext(&g_uc_main, &g_uc_co);  // start it
  }
  ~UcontextPingPong() { munmap(stack, kRawStack); }
  __attribute__((noinline)) double run(long n) {
    long rounds = n / 2;
    double t0 = now_s();
    for (long i = 0; i < rounds; ++i) swapcontext(&g_uc_main, &g_uc_co);
    return now_s() - t0;
  }
};

void bench_switch(const Config& cfg, std::vector<Figure>& out) {
  CohookPingPong ck;
  BoostPingPong bc;
  UcontextPingPong uc;
  auto ck_run = [&](long n) { return ck.run(n); };
  auto bc_run = [&](long n) { return bc.run(n); };
  auto uc_run = [&](long n) { return uc.run(n); };
  // Same n for cohook and boost (calibrated on the slower of the two).
  long n_fast = std::min(calibrate(ck_run, 100'000, cfg.switch_max, cfg.switch_budget_s),
                         calibrate(bc_run, 100'000, cfg.switch_max, cfg.switch_budget_s));
  long n_uc = calibrate(uc_run, 2'000, cfg.switch_max, cfg.switch_budget_s);
  n_fast &= ~1L;
  n_uc &= ~1L;
  Figure fck{"switch_cohook_ns", "switch one-way: cohook_switch", {}, n_fast};
  Figure fbc{"switch_boost_ns", "switch one-way: boost fcontext", {}, n_fast};
  Figure fuc{"switch_swapcontext_ns", "switch one-way: swapcontext", {}, n_uc};
  for (int r = 0; r < cfg.reps; ++r) {
    // Rotate the order too, so none is always first after a context change.
    for (int k = 0; k < 3; ++k) {
      switch ((r + k) % 3) {
        case 0: fck.samples.push_back(ck.run(n_fast) * 1e9 / double(n_fast)); break;
        case 1: fbc.samples.push_back(bc.run(n_fast) * 1e9 / double(n_fast)); break;
        case 2: fuc.samples.push_back(uc.run(n_uc) * 1e9 / double(n_uc)); break;
      }
    }
  }
  out.push_back(fck);
  out.push_back(fbc);
  out.push_back(fuc);
}

// ---- 2. timers -----------------------------------------------------------------

size_t g_fired;
void timer_fire(Timer*) { ++g_fired; }

void bench_timers(const Config& cfg, std::vector<Figure>& out) {
  const size_t n = cfg.timers;
  std::vector<Timer> timers(n);
  std::vector<Deadline> when(n);
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<Deadline> dist(1, Deadline(10'000'000'000));  // within 10 s
  Figure fa{"timer_add_ns", "timer add (1e6 random)", {}, long(n)};
  Figure fc{"timer_cancel_ns", "timer cancel (half)", {}, long(n / 2)};
  Figure fe{"timer_expire_ns", "timer expire (rest)", {}, long(n - n / 2)};
  if (cfg.quick) fa.label = "timer add (" + std::to_string(n) + " random)";
  for (int r = -1; r < cfg.reps; ++r) {  // r = -1: warm-up, not counted
    for (size_t i = 0; i < n; ++i) {
      when[i] = dist(rng);
      timers[i] = Timer{};
      timers[i].when = when[i];
      timers[i].fire = &timer_fire;
    }
    TimerHeap heap;  // fresh each time: the vector's growth is part of add
    g_fired = 0;
    double t0 = now_s();
    for (size_t i = 0; i < n; ++i) heap.add(&timers[i]);
    double t1 = now_s();
    for (size_t i = 0; i < n; i += 2) heap.cancel(&timers[i]);  // random heap positions
    double t2 = now_s();
    size_t fired = heap.expire(kForever);
    double t3 = now_s();
    if (fired != n - n / 2 || g_fired != fired || !heap.empty()) {
      std::fprintf(stderr, "timer bench: expired %zu, expected %zu\n", fired, n - n / 2);
      std::exit(1);
    }
    if (r < 0) continue;
    fa.samples.push_back((t1 - t0) * 1e9 / double(fa.ops));
    fc.samples.push_back((t2 - t1) * 1e9 / double(fc.ops));
    fe.samples.push_back((t3 - t2) * 1e9 / double(fe.ops));
  }
  out.push_back(fa);
  out.push_back(fc);
  out.push_back(fe);
}

// ---- 3. spawn + finish through the Scheduler ------------------------------------

long g_ran;
void trivial(void*) { ++g_ran; }

// Spawns `batches` x `batch` detached trivial coroutines, run() after each
// batch. A batch of 64 = the pool's hot cache, so stacks are reused warm.
double spawn_batches(Scheduler& s, long batches, int batch) {
  Scheduler::SpawnOptions so{.detached = true};
  double t0 = now_s();
  for (long b = 0; b < batches; ++b) {
    for (int i = 0; i < batch; ++i) {
      if (!s.spawn(&trivial, nullptr, so)) {
        perror("spawn");
        std::exit(1);
      }
    }
    s.run();
  }
  return now_s() - t0;
}

void bench_spawn(const Config& cfg, std::vector<Figure>& out, unsigned shared_stacks, const char* key,
                 const char* label) {
  constexpr int kBatch = 64;
  Scheduler s(Scheduler::Options{.shared_stacks = shared_stacks});
  auto run = [&](long n) { return spawn_batches(s, std::max(1L, n / kBatch), kBatch); };
  long n = calibrate(run, 10 * kBatch, 5'000'000, cfg.sched_budget_s);
  long batches = std::max(1L, n / kBatch);
  Figure f{key, label, {}, batches * kBatch};
  for (int r = 0; r < cfg.reps; ++r) {
    g_ran = 0;
    double t = spawn_batches(s, batches, kBatch);
    if (g_ran != f.ops) {
      std::fprintf(stderr, "spawn bench: ran %ld of %ld\n", g_ran, f.ops);
      std::exit(1);
    }
    f.samples.push_back(t * 1e9 / double(f.ops));
  }
  out.push_back(f);
}

// Shared-stack scheduling is probed in a child process first: if the runtime
// crashes there, the bench reports the figure as missing instead of dying.
bool shared_stacks_work() {
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    g_ran = 0;
    {
      Scheduler s(Scheduler::Options{.shared_stacks = 1});
      long n = 3;
      Scheduler::SpawnOptions so{.detached = true};
      s.spawn(&trivial, nullptr, so);
      s.spawn([](void* a) { for (long i = 0; i < *static_cast<long*>(a); ++i) Scheduler::yield(); }, &n, so);
      s.spawn([](void* a) { for (long i = 0; i < *static_cast<long*>(a); ++i) Scheduler::yield(); }, &n, so);
      s.run();
    }
    _exit(g_ran == 1 ? 0 : 1);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) return false;
  }
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

// ---- 4. yield --------------------------------------------------------------------

void yielder(void* a) {
  long n = *static_cast<long*>(a);
  for (long i = 0; i < n; ++i) Scheduler::yield();
}

// Two coroutines yielding to each other through the dispatcher; returns
// seconds for 2*per_co yields.
double sched_yield_run(unsigned shared_stacks, long per_co) {
  Scheduler s(Scheduler::Options{.shared_stacks = shared_stacks});
  Scheduler::SpawnOptions so{.detached = true};
  if (!s.spawn(&yielder, &per_co, so) || !s.spawn(&yielder, &per_co, so)) {
    perror("spawn");
    std::exit(1);
  }
  double t0 = now_s();
  s.run();
  return now_s() - t0;
}

void bench_sched_yield(const Config& cfg, std::vector<Figure>& out, unsigned shared_stacks,
                       const char* key, const char* label) {
  auto run = [&](long n) { return sched_yield_run(shared_stacks, std::max(1L, n / 2)); };
  long n = calibrate(run, 20'000, 10'000'000, cfg.sched_budget_s) & ~1L;
  Figure f{key, label, {}, n};
  for (int r = 0; r < cfg.reps; ++r) f.samples.push_back(run(n) * 1e9 / double(n));
  out.push_back(f);
}

void raw_yielder(void* a) {
  long n = *static_cast<long*>(a);
  for (long i = 0; i < n; ++i) Coroutine::yield();
}

// Raw Coroutine (no scheduler): resume() + yield() = one round trip.
double raw_roundtrip_run(StackPool& pool, long n) {
  Coroutine co(&raw_yielder, &n);
  if (!co.use_private_stack(pool)) {
    perror("stack");
    std::exit(1);
  }
  co.resume();  // first resume starts it; then n round trips, the last one finishes it
  double t0 = now_s();
  while (!co.finished()) co.resume();
  double t = now_s() - t0;
  co.release_stack(pool);
  return t;
}

void bench_raw_roundtrip(const Config& cfg, std::vector<Figure>& out) {
  StackPool pool;
  auto run = [&](long n) { return raw_roundtrip_run(pool, n); };
  long n = calibrate(run, 50'000, 10'000'000, cfg.sched_budget_s);
  Figure f{"coroutine_resume_yield_ns", "Coroutine resume+yield round trip", {}, n};
  for (int r = 0; r < cfg.reps; ++r) f.samples.push_back(run(n) * 1e9 / double(n));
  out.push_back(f);
}

// ---- machine description ----------------------------------------------------------

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) return line.substr(p + 2);
    }
  }
  return "unknown";
}

bool cpu_flag(const char* flag) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) return (" " + line + " ").find(std::string(" ") + flag + " ") != std::string::npos;
  }
  return false;
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) o += c;
  }
  return o;
}

void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--quick] [--reps N] [--json FILE]\n"
               "  --quick     fewer and shorter repetitions (smoke test)\n"
               "  --reps N    repetitions per figure (default 7, --quick 3); the median is reported\n"
               "  --json FILE also write the figures as JSON\n",
               argv0);
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  int reps = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) {
      cfg.quick = true;
    } else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) {
      cfg.json = argv[++i];
    } else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
      if (reps < 1 || reps > 101) {
        usage(argv[0]);
        return 2;
      }
    } else if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      usage(argv[0]);
      return 0;
    } else {
      usage(argv[0]);
      return 2;
    }
  }
  if (cfg.quick) {
    cfg.reps = 3;
    cfg.switch_max = 1'000'000;
    cfg.switch_budget_s = 0.02;
    cfg.timers = 100'000;
    cfg.sched_budget_s = 0.01;
  }
  if (reps) cfg.reps = reps;

  // Stay on one CPU: a migration in the middle of a repetition is pure noise.
  int cpu = sched_getcpu();
  bool pinned = false;
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pinned = sched_setaffinity(0, sizeof(set), &set) == 0;
  }
  std::string model = cpu_model();
  bool virt = cpu_flag("hypervisor");
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  std::printf("cohook-bench%s: %d repetitions per figure, median reported\n", cfg.quick ? " --quick" : "",
              cfg.reps);
  std::printf("CPU: %s, %ld online CPUs; ran on CPU %d%s\n", model.c_str(), ncpu, cpu,
              pinned ? " (pinned)" : "");
  std::printf("Note: %s -- expect run-to-run noise of several %%; compare ratios, not absolutes.\n",
              virt ? "virtual machine (hypervisor flag set), shared and noisy"
                   : "the machine may be shared/noisy");
  std::fflush(stdout);

  double t_start = now_s();
  std::vector<Figure> figs;
  bench_switch(cfg, figs);
  bench_timers(cfg, figs);
  bench_spawn(cfg, figs, 0, "spawn_finish_private_ns", "spawn+finish, private stacks (per co)");
  bool shared_ok = shared_stacks_work();
  if (shared_ok)
    bench_spawn(cfg, figs, 4, "spawn_finish_shared_ns", "spawn+finish, 4 shared stacks (per co)");
  else
    figs.push_back(Figure{"spawn_finish_shared_ns", "spawn+finish, 4 shared stacks (per co)", {}, 0});
  bench_sched_yield(cfg, figs, 0, "sched_yield_ns", "Scheduler::yield, 2 coros (per yield)");
  if (shared_ok)
    bench_sched_yield(cfg, figs, 1, "sched_yield_shared1_ns", "Scheduler::yield, 2 coros on 1 shared stack");
  else
    figs.push_back(Figure{"sched_yield_shared1_ns", "Scheduler::yield, 2 coros on 1 shared stack", {}, 0});
  bench_raw_roundtrip(cfg, figs);
  double elapsed = now_s() - t_start;

  double ck = figs[0].med(), bc = figs[1].med(), uc = figs[2].med();
  double r_boost = ck / bc, r_uc = ck / uc;
  double r_boost_min = figs[0].min() / figs[1].min();

  std::printf("\n%-46s %10s %10s %10s %12s\n", "benchmark", "median ns", "min ns", "max ns", "ops/rep");
  std::printf("%s\n", std::string(46 + 4 * 11 + 2, '-').c_str());
  for (const Figure& f : figs) {
    if (f.missing())
      std::printf("%-46s %10s %10s %10s %12s\n", f.label.c_str(), "n/a", "n/a", "n/a", "-");
    else
      std::printf("%-46s %10.2f %10.2f %10.2f %12ld\n", f.label.c_str(), f.med(), f.min(), f.max(), f.ops);
  }
  if (!shared_ok)
    std::printf("n/a: a Scheduler with shared_stacks > 0 crashed in a probe child process (runtime bug)\n");
  std::printf("\nswitch ratio cohook/swapcontext = %.4f (swapcontext is %.0fx slower)\n", r_uc, uc / ck);
  std::printf("switch ratio cohook/boost, best-of-%d (min-based) = %.2f\n", cfg.reps, r_boost_min);
  std::printf("total bench time %.1f s\n", elapsed);

  if (cfg.json) {
    FILE* f = std::fopen(cfg.json, "w");
    if (!f) {
      perror(cfg.json);
      return 1;
    }
    std::fprintf(f, "{\n  \"cpu\": \"%s\",\n  \"online_cpus\": %ld,\n  \"ran_on_cpu\": %d,\n",
                 json_escape(model).c_str(), ncpu, cpu);
    std::fprintf(f, "  \"virtualized\": %s,\n  \"quick\": %s,\n  \"repetitions\": %d,\n", virt ? "true" : "false",
                 cfg.quick ? "true" : "false", cfg.reps);
    std::fprintf(f, "  \"figures\": {\n");
    for (size_t i = 0; i < figs.size(); ++i) {
      const Figure& g = figs[i];
      if (g.missing()) {
        std::fprintf(f, "    \"%s\": null%s\n", g.key.c_str(), i + 1 < figs.size() ? "," : "");
        continue;
      }
      std::fprintf(f, "    \"%s\": {\"median\": %.3f, \"min\": %.3f, \"max\": %.3f, \"ops_per_rep\": %ld}%s\n",
                   g.key.c_str(), g.med(), g.min(), g.max(), g.ops, i + 1 < figs.size() ? "," : "");
    }
    std::fprintf(f, "  },\n  \"switch_ratio_cohook_boost\": %.4f,\n", r_boost);
    std::fprintf(f, "  \"switch_ratio_cohook_boost_min\": %.4f,\n", r_boost_min);
    std::fprintf(f, "  \"switch_ratio_cohook_swapcontext\": %.4f\n}\n", r_uc);
    std::fclose(f);
  }
  std::printf("switch ratio cohook/boost = %.2f\n", r_boost);
  return 0;
}
