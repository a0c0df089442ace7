// nativethreads_cxx: std::threads a COHOOK_NATIVE_THREADS list can name --
// every std::thread starts in the same libstdc++ routine, so the selector
// must see the callable: a lambda inside io_handler_thread(), a plain
// function pointer (compute_fn), a member function pointer (Crunch::run)
// and a function object (Spinner); two probe threads stand for the rest.
// Each records its kernel tid; once all are alive, main prints for the named
// four whether the tid is shared with no other thread of the program (an OS
// thread of its own). The lambda's thread is joined by another std::thread.
#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

namespace {

std::mutex mu;
std::condition_variable cv;
std::vector<pid_t> tids;
bool go = false;

// Record this thread's tid and wait until main has looked; the slot index.
int record_and_wait() {
  std::unique_lock<std::mutex> l(mu);
  int slot = int(tids.size());
  tids.push_back(pid_t(syscall(SYS_gettid)));
  cv.notify_all();
  cv.wait(l, [] { return go; });
  return slot;
}

int slot_of_lambda = -1, slot_of_fn = -1, slot_of_member = -1, slot_of_functor = -1;

bool own_os_thread(int slot) {
  for (size_t i = 0; i < tids.size(); ++i)
    if (int(i) != slot && tids[i] == tids[size_t(slot)]) return false;
  return true;
}

}  // namespace

// What the program's threads run (external names, as a server's would be).
__attribute__((noinline)) int io_handler_thread() {
  std::thread t([] { slot_of_lambda = record_and_wait(); });
  t.join();  // a thread joining the lambda's thread
  return 0;
}

void compute_fn(int* out, int k) {
  slot_of_fn = record_and_wait();
  *out = k * 6;
}

struct Crunch {
  int result = 0;
  void run(int k) {
    slot_of_member = record_and_wait();
    result = k + 1;
  }
};

struct Spinner {
  void operator()() const { slot_of_functor = record_and_wait(); }
};

__attribute__((noinline)) void probe_threads(std::vector<std::thread>& out) {
  for (int i = 0; i < 2; ++i) out.emplace_back([] { record_and_wait(); });
}

int main() {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  alarm(60);
  int computed = 0;
  Crunch crunch;
  std::thread launcher([] { io_handler_thread(); });
  std::thread by_fn(compute_fn, &computed, 7);
  std::thread by_member(&Crunch::run, &crunch, 41);
  std::thread by_functor(Spinner{});
  std::vector<std::thread> probes;
  probe_threads(probes);
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [] { return tids.size() == 6; });
    tids.push_back(pid_t(syscall(SYS_gettid)));  // main
    go = true;
    cv.notify_all();
  }
  launcher.join();
  by_fn.join();
  by_member.join();
  by_functor.join();
  for (auto& p : probes) p.join();
  auto yes = [](bool b) { return b ? "yes" : "no"; };
  std::printf("lambda in io_handler_thread(): own OS thread %s, joined by another thread\n",
              yes(own_os_thread(slot_of_lambda)));
  std::printf("function pointer compute_fn: own OS thread %s, result %d\n", yes(own_os_thread(slot_of_fn)),
              computed);
  std::printf("member function Crunch::run: own OS thread %s, result %d\n", yes(own_os_thread(slot_of_member)),
              crunch.result);
  std::printf("function object Spinner: own OS thread %s\n", yes(own_os_thread(slot_of_functor)));
  std::fprintf(stderr, "threads: %zu, distinct tids:", tids.size());
  for (pid_t t : tids) std::fprintf(stderr, " %d", int(t));
  std::fprintf(stderr, "\n");
  return 0;
}
