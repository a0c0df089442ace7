#include "overflow_guard.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "coroutine.h"
#include "sys.h"

namespace cohook {

namespace {
std::atomic<bool> g_installed{false};
struct sigaction g_prev_segv, g_prev_bus;
SigactionFn g_sigaction = ::sigaction;
constexpr size_t kAltStackSize = 64 * 1024;
thread_local void* t_altstack = nullptr;

// Async-signal-safe formatting into a fixed buffer.
struct Line {
  char buf[256];
  size_t n = 0;
  void put(const char* s) {
    while (*s && n < sizeof buf - 1) buf[n++] = *s++;
  }
  void put(unsigned long v) {
    char tmp[24];
    int i = 0;
    do tmp[i++] = char('0' + v % 10); while ((v /= 10) && i < 24);
    while (i && n < sizeof buf - 1) buf[n++] = tmp[--i];
  }
};

void report_and_abort(const Coroutine& co) {
  Line l;
  unsigned long kib = co.stack_size() / 1024;
  const char* var = co.on_shared_stack() ? "COHOOK_SHARED_STACK_SIZE" : "COHOOK_STACK_SIZE";
  l.put("cohook: stack overflow in coroutine ");
  l.put(static_cast<unsigned long>(co.id()));
  if (co.name()[0]) {
    l.put(" \"");
    l.put(co.name());
    l.put("\"");
  }
  l.put(" (stack ");
  l.put(kib);
  l.put(" KiB); raise it with ");
  l.put(var);
  l.put(", e.g. ");
  l.put(var);
  l.put("=");
  l.put(kib * 2);
  l.put("k\n");
  sys::write(STDERR_FILENO, l.buf, l.n);  // not through the shim's write hook
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  g_sigaction(SIGABRT, &dfl, nullptr);
  abort();
}

void pass_on(int sig, siginfo_t* info, void* uctx) {
  const struct sigaction& prev = sig == SIGSEGV ? g_prev_segv : g_prev_bus;
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction) return prev.sa_sigaction(sig, info, uctx);
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
    return prev.sa_handler(sig);
  }
  // Default action: restore it and raise again. The signal stays blocked until
  // the handler returns, then kills the process (with a core) as it would have;
  // this also covers a SIGSEGV sent with kill(), which no instruction repeats.
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  g_sigaction(sig, &dfl, nullptr);
  raise(sig);
}

void on_fault(int sig, siginfo_t* info, void* uctx) {
  Coroutine* co = Coroutine::current();
  if (co && co->stack().overflow_hit(info->si_addr)) report_and_abort(*co);
  pass_on(sig, info, uctx);
}
}  // namespace

void install_overflow_guard() {
  if (g_installed.exchange(true)) return;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  g_sigaction(SIGSEGV, &sa, &g_prev_segv);
  g_sigaction(SIGBUS, &sa, &g_prev_bus);
}

void overflow_guard_use_sigaction(SigactionFn fn) { g_sigaction = fn; }

bool overflow_guard_installed() { return g_installed.load(); }

bool overflow_guard_replace_next(int sig, const struct sigaction* act, struct sigaction* old) {
  struct sigaction& next = sig == SIGSEGV ? g_prev_segv : g_prev_bus;
  struct sigaction prev = next;
  if (act) next = *act;
  if (old) *old = prev;
  return true;
}

void enable_overflow_guard_on_this_thread() {
  stack_t cur;
  if (sigaltstack(nullptr, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)) return;  // has one
  void* p = mmap(nullptr, kAltStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return;
  stack_t ss{};
  ss.ss_sp = p;
  ss.ss_size = kAltStackSize;
  if (sigaltstack(&ss, nullptr) != 0) {
    munmap(p, kAltStackSize);
    return;
  }
  t_altstack = p;
}

void disable_overflow_guard_on_this_thread() {
  if (!t_altstack) return;
  stack_t ss{};
  ss.ss_flags = SS_DISABLE;
  sigaltstack(&ss, nullptr);
  munmap(t_altstack, kAltStackSize);
  t_altstack = nullptr;
}

}  // namespace cohook
