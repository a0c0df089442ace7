// threads_test: the thread conversion (pthread_create makes a coroutine on
// one of COHOOK_CARRIERS carriers; mutex/cond/rwlock/barrier/semaphore waits
// park it) seen from unmodified pthread programs (legacy/*.c, cxxthreads.cpp).
//
// Every scenario runs natively, then under the shim with COHOOK_CARRIERS=1
// and COHOOK_CARRIERS=2, and must print exactly what the native run printed
// and end the same way. The native run is also checked against the lines the
// scenario is about, which proves the program itself right.
//
// The scale scenarios (pool10k, echo10k, scale19k, manyparked) also run the
// shim at sizes the kernel cannot do with one thread each (10,000 and 19,000
// connections, 100,000 parked threads), check the results and that the
// server's OS thread count stays flat, and WARN the figures (RSS, VmPTE,
// threads), native and shim, for the record. Nothing here measures speed.
//
// Linked into preload_test (preload_test.cpp has the Catch2 main); one meson
// test per tag, e.g. preload_test '[prodcons]'.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include "run.h"

using namespace pt;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

struct Carriers {
    std::string name;
    Env env;
    int n;
};
const std::vector<Carriers> kCarriers = {
    {"COHOOK_CARRIERS=1", {{"COHOOK_CARRIERS", "1"}}, 1},
    {"COHOOK_CARRIERS=2", {{"COHOOK_CARRIERS", "2"}}, 2},
};

// stdout without its "port N" lines.
std::string without_port(const std::string& text) {
    std::string o;
    for (auto& l : lines(text))
        if (l.rfind("port ", 0) != 0) o += l + "\n";
    return o;
}

// CPUs this process may run on: the default number of carriers.
int cpus() {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    return CPU_COUNT(&set);
}

Env with(Env a, const Env& b) {
    for (auto& [k, v] : b) a[k] = v;
    return a;
}

// One native run and one shim run per kCarriers entry.
struct Runs {
    RunResult native;
    std::vector<RunResult> shim;
};

Runs run_all(const std::vector<std::string>& argv, const Env& env = {},
             std::chrono::milliseconds timeout = 20s) {
    Runs r;
    r.native = run(argv, Mode::native, env, timeout);
    for (auto& c : kCarriers) r.shim.push_back(run(argv, Mode::shim, with(env, c.env), timeout));
    return r;
}

std::string first_difference(const std::string& want, const std::string& got) {
    auto a = lines(want), b = lines(got);
    for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
        std::string x = i < a.size() ? a[i] : "<none>", y = i < b.size() ? b[i] : "<none>";
        if (x != y) return "line " + std::to_string(i + 1) + ":\n  native: " + x + "\n  shim:   " + y;
    }
    return "none";
}

// Every line of `want` appears in the native output.
void native_says(const RunResult& native, const std::vector<std::string>& want) {
    INFO("native run:\n" << native.describe());
    auto have = lines(native.out);
    for (auto& w : want) {
        INFO("expected line: " << w);
        CHECK(std::find(have.begin(), have.end(), w) != have.end());
    }
}

// The native run ended with `status` ("exit 0", "killed by ABRT"...), and
// every shim run ended the same way having printed the same stdout. CHECKs
// only, so that a loop over modes reports every mode.
void same_as_native(const Runs& r, const std::string& status = "exit 0") {
    INFO("native run:\n" << r.native.describe());
    CHECK(r.native.status() == status);
    if (r.native.status() != status) return;
    for (auto& s : r.shim) {
        INFO("shim run:\n" << s.describe());
        INFO("first difference: " << first_difference(r.native.out, s.out));
        CHECK(s.status() == r.native.status());
        CHECK(s.out == r.native.out);
    }
}

// Like same_as_native, except that lines starting with one of `documented`
// may differ: behaviour docs/architecture.md gives as a decision of the
// thread conversion (TLS per carrier, gettid, pthread_kill's handler on
// main...). Those lines are WARNed, for the record; the number of lines, every
// other line and the exit status must still match.
void same_except(const Runs& r, const std::vector<std::string>& documented,
                 const std::string& status = "exit 0") {
    if (documented.empty()) return same_as_native(r, status);
    INFO("native run:\n" << r.native.describe());
    CHECK(r.native.status() == status);
    if (r.native.status() != status) return;
    auto want = lines(r.native.out);
    for (size_t k = 0; k < r.shim.size(); ++k) {
        auto& s = r.shim[k];
        INFO("shim run:\n" << s.describe());
        CHECK(s.status() == r.native.status());
        auto got = lines(s.out);
        CHECK(got.size() == want.size());
        for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
            bool doc = std::any_of(documented.begin(), documented.end(),
                                   [&](const std::string& p) { return want[i].rfind(p, 0) == 0; });
            if (!doc) {
                CHECK(got[i] == want[i]);
            } else if (got[i] != want[i]) {
                WARN("documented deviation (" << kCarriers[k].name << "):\n  native: " << want[i]
                                              << "\n  shim:   " << got[i]);
            }
        }
    }
}

// Runs MODE by MODE (one process each), all compared with native; the
// documented lines of each mode (see same_except) may differ.
void modes(const std::string& prog, const std::vector<std::string>& ms,
           std::chrono::milliseconds timeout = 20s,
           const std::map<std::string, std::vector<std::string>>& documented = {}) {
    for (auto& m : ms) {
        INFO("mode: " << m);
        auto d = documented.find(m);
        same_except(run_all({bin(prog), m}, {}, timeout),
                    d == documented.end() ? std::vector<std::string>{} : d->second);
    }
}

// ---- /proc of another process ----

long count_entries(const std::string& dir) {
    DIR* d = opendir(dir.c_str());
    if (!d) return -1;
    long n = 0;
    while (dirent* e = readdir(d))
        if (e->d_name[0] != '.') ++n;
    closedir(d);
    return n;
}

// The number after "key:" in /proc/<pid>/status, or -1.
long status_field(pid_t pid, const std::string& key) {
    FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/status").c_str(), "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    while (std::fgets(line, sizeof line, f))
        if (std::strncmp(line, key.c_str(), key.size()) == 0 && line[key.size()] == ':') {
            v = std::strtol(line + key.size() + 1, nullptr, 10);
            break;
        }
    std::fclose(f);
    return v;
}

// "peak KEY: VALUE" from a program's stderr (manyparked), or -1.
long peak(const RunResult& r, const std::string& key) {
    std::string v = field(r.err, "peak " + key);
    return v.empty() ? -1 : std::atol(v.c_str());
}

// ---- a tiny blocking client for the daemon test ----

// Connects to 127.0.0.1:port, sends `msg`, returns everything read until EOF
// (at most `timeout`), or "<error ...>".
std::string exchange(int port, const std::string& msg, std::chrono::milliseconds timeout) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return "<error socket>";
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close(fd);
        return std::string("<error connect: ") + strerror(errno) + ">";
    }
    if (write(fd, msg.data(), msg.size()) != static_cast<ssize_t>(msg.size())) {
        close(fd);
        return "<error write>";
    }
    std::string got;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        char buf[256];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return got;
}

// ---- many connections held at once ----

struct Held {
    RunResult server, client;
    bool all_accepted = false;
    long fds = -1;      // the server's open fds once it had accepted them all
    long tasks = -1;    // the most OS threads seen in /proc/<pid>/task meanwhile
    long rss_kb = -1, pte_kb = -1, threads = -1;  // /proc/<pid>/status then
};

// Starts `server_argv` (prints "port N" first, exits after N connections),
// then conn_client (natively) with N connections and "hold": once every
// connection is made and the server has accepted them all (its fd count),
// looks at the server's threads and memory, then lets the client send.
Held hold_and_serve(const std::vector<std::string>& server_argv, Mode mode, const Env& env, long n,
                    std::chrono::seconds bound) {
    Held h;
    Proc srv(server_argv, mode, env);
    auto line = srv.read_line(20s);
    if (!line || line->rfind("port ", 0) != 0) {
        h.server = srv.wait(1ms);
        return h;
    }
    std::string port = line->substr(5);
    Proc cli({bin("conn_client"), port, std::to_string(n), "7", "hold"}, Mode::native);
    auto c = cli.read_line(bound);
    if (c && *c == "connected " + std::to_string(n)) {
        std::string proc = "/proc/" + std::to_string(srv.pid());
        auto deadline = std::chrono::steady_clock::now() + bound / 2;
        while (std::chrono::steady_clock::now() < deadline) {
            h.fds = count_entries(proc + "/fd");
            if (h.fds >= n) break;
            std::this_thread::sleep_for(50ms);
        }
        h.all_accepted = h.fds >= n;
        for (int i = 0; i < 10; ++i) {  // natively, threads follow the accepts
            h.tasks = std::max(h.tasks, count_entries(proc + "/task"));
            std::this_thread::sleep_for(50ms);
        }
        h.rss_kb = status_field(srv.pid(), "VmRSS");
        h.pte_kb = status_field(srv.pid(), "VmPTE");
        h.threads = status_field(srv.pid(), "Threads");
    }
    cli.signal_it(SIGUSR1);
    h.client = cli.wait(bound);
    h.server = srv.wait(h.client.ok() ? bound : 3s);
    return h;
}

std::string describe(const Held& h) {
    std::ostringstream s;
    s << "server:\n" << h.server.describe() << "\nclient:\n" << h.client.describe()
      << "\nall accepted: " << h.all_accepted << " fds " << h.fds << " tasks " << h.tasks << " VmRSS "
      << h.rss_kb << " kB VmPTE " << h.pte_kb << " kB Threads " << h.threads;
    return s.str();
}

std::string figures(const std::string& label, const Held& h, long n) {
    std::ostringstream s;
    s << label << ": " << n << " connections held: OS threads " << h.tasks << ", VmRSS " << h.rss_kb
      << " kB (" << (n > 0 && h.rss_kb > 0 ? h.rss_kb * 1024 / n : -1) << " B per connection), VmPTE "
      << h.pte_kb << " kB";
    return s.str();
}

// "digest X" in a line of output, or "".
std::string digest_of(const std::string& out) {
    auto p = out.find("digest ");
    return p == std::string::npos ? "" : out.substr(p + 7, 16);
}

// The native run of a server at `small` connections (figures printed), the
// shim at the same size (outputs compared), then the shim at `big` with one
// and two carriers: every echo exact, and the server's OS threads flat.
void many_connections(const std::string& server, long small, long big, std::chrono::seconds bound) {
    std::string ns = std::to_string(small), nb = std::to_string(big);
    Held native = hold_and_serve({bin(server), ns}, Mode::native, {}, small, bound);
    INFO("native:\n" << describe(native));
    REQUIRE(native.client.ok());
    REQUIRE(native.server.ok());
    REQUIRE(native.all_accepted);
    REQUIRE_THAT(native.client.out, Contains("connections " + ns + " exact " + ns + " "));
    REQUIRE_THAT(native.server.out, Contains("served " + ns + " connections"));
    WARN(figures("native " + server, native, small));

    Held same = hold_and_serve({bin(server), ns}, Mode::shim, kCarriers[1].env, small, bound);
    {
        INFO("shim, " << kCarriers[1].name << ", " << small << " connections:\n" << describe(same));
        CHECK(same.client.status() == "exit 0");
        CHECK(same.client.out == native.client.out);
        CHECK(same.server.status() == native.server.status());
        CHECK(without_port(same.server.out) == without_port(native.server.out));
        CHECK(same.tasks <= kCarriers[1].n + 4);
        WARN(figures("shim " + server + " " + kCarriers[1].name, same, small));
    }
    for (auto& c : kCarriers) {
        Held h = hold_and_serve({bin(server), nb}, Mode::shim, c.env, big, bound);
        INFO("shim, " << c.name << ", " << big << " connections:\n" << describe(h));
        CHECK(h.all_accepted);
        CHECK(h.client.ok());
        CHECK_THAT(h.client.out, Contains("connections " + nb + " exact " + nb + " "));
        CHECK(h.server.ok());
        CHECK_THAT(h.server.out, Contains("served " + nb + " connections"));
        if (server == "threadpool_server") CHECK(digest_of(h.server.out) == digest_of(h.client.out));
        // Flat: the carriers and a few helpers, however many connections.
        CHECK(h.tasks >= 1);
        CHECK(h.tasks <= c.n + 4);
        WARN(figures("shim " + server + " " + c.name, h, big));
    }
}

}  // namespace

// ---- 1. prodcons ---------------------------------------------------------------
TEST_CASE("producers/consumers on a bounded queue; cond timed waits time out, never early", "[prodcons]") {
    auto r = run_all({bin("prodcons")});
    INFO("native run:\n" << r.native.describe());
    CHECK_THAT(r.native.out, Contains("signal: produced 20000 consumed 20000 checksum") &&
                                 Contains("broadcast: produced 20000 consumed 20000 checksum"));
    CHECK_THAT(r.native.out, !Contains("match: no") && !Contains("queue empty: no"));
    native_says(r.native, {
        "cond_timedwait CLOCK_REALTIME (default attr) 200ms: ETIMEDOUT not early: yes elapsed<3s: yes mutex held after: yes",
        "cond_timedwait CLOCK_MONOTONIC condattr 200ms: ETIMEDOUT not early: yes elapsed<3s: yes mutex held after: yes",
        "cond_timedwait CLOCK_REALTIME condattr 150ms: ETIMEDOUT not early: yes elapsed<3s: yes mutex held after: yes",
        "cond_clockwait CLOCK_MONOTONIC 200ms: ETIMEDOUT not early: yes elapsed<3s: yes mutex held after: yes",
        "cond_clockwait CLOCK_REALTIME 150ms: ETIMEDOUT not early: yes elapsed<3s: yes mutex held after: yes",
        "cond_timedwait tv_nsec=1e9: EINVAL",
        "cond_clockwait CLOCK_PROCESS_CPUTIME_ID: EINVAL",
        "cond_timedwait deadline 5s ago: ETIMEDOUT immediate: yes",
        "cond_timedwait CLOCK_REALTIME signalled after 100ms, deadline 5s: 0 flag: 1 waited>=100ms: yes elapsed<3s: yes",
        "cond_timedwait CLOCK_MONOTONIC signalled after 100ms, deadline 5s: 0 flag: 1 waited>=100ms: yes elapsed<3s: yes",
    });
    same_as_native(r);
}

// ---- 2. rwlock -----------------------------------------------------------------
TEST_CASE("readers/writers: no torn reads; EBUSY, ETIMEDOUT, recursive read lock, EDEADLK", "[rwlock]") {
    auto r = run_all({bin("rwlock")});
    native_says(r.native, {
        "readers 4 x 4000, writers 2 x 1500: reads 16000 writes 3000 torn reads 0 every slot 3000: yes",
        "tryrdlock while read-held by another thread: 0",
        "trywrlock while read-held: EBUSY",
        "timedwrlock 200ms while read-held: ETIMEDOUT not early: yes elapsed<3s: yes",
        "clockwrlock MONOTONIC 200ms while read-held: ETIMEDOUT not early: yes elapsed<3s: yes",
        "timedwrlock tv_nsec=1e9 while read-held: EINVAL",
        "rdlock again by the same thread with a writer waiting: 0",
        "writer got in while readers held it: no",
        "writer got the lock after every reader left: yes (readers inside: 0)",
        "tryrdlock while write-held: EBUSY",
        "timedrdlock 150ms while write-held: ETIMEDOUT not early: yes",
        "wrlock: 0, wrlock again by the owner: EDEADLK, rdlock by the write owner: EDEADLK",
        "unlock: 0, trywrlock after: 0",
    });
    same_as_native(r);
}

// ---- 3. barrier ----------------------------------------------------------------
TEST_CASE("barrier: one serial waiter per phase, nobody leaves before all arrived", "[barrier]") {
    for (auto args : std::vector<std::vector<std::string>>{{"8", "100"}, {"64", "20"}}) {
        INFO("threads " << args[0] << " phases " << args[1]);
        auto r = run_all({bin("barrier"), args[0], args[1]});
        native_says(r.native, {
            "threads " + args[0] + " phases " + args[1] + ": exactly one serial waiter per phase: yes (total " +
                args[1] + ")",
            "left a barrier before all arrived: 0, arrived at a phase before the previous filled: 0",
            "serial thread's result seen by all after the second barrier: yes, other return values: 0",
            "count 1: serial on every wait: yes",
            "count 0: EINVAL",
        });
        same_as_native(r);
    }
}

// ---- 4. mutexkinds -------------------------------------------------------------
TEST_CASE("mutex kinds and semaphores: EDEADLK, EPERM, EBUSY, ETIMEDOUT, EAGAIN, EINVAL", "[mutexkinds]") {
    auto m = run_all({bin("mutexkinds"), "mutex"});
    native_says(m.native, {
        "normal: lock 0, trylock by owner EBUSY, trylock by another thread EBUSY",
        "normal: timedlock 200ms by another thread while held: ETIMEDOUT not early: yes elapsed<3s: yes",
        "normal: clocklock MONOTONIC 200ms by another thread while held: ETIMEDOUT not early: yes elapsed<3s: yes",
        "normal: timedlock tv_nsec=1e9 while held: EINVAL",
        "normal: timedlock on a free mutex, deadline past: 0",
        "normal: timedlock 5s, holder releases after ~100ms: 0 waited: yes elapsed<3s: yes",
        "errorcheck: lock 0, lock again EDEADLK, timedlock by owner EDEADLK, trylock by owner EBUSY",
        "errorcheck: unlock by another thread EPERM, trylock by another thread EBUSY",
        "errorcheck: unlock 0, unlock again EPERM",
        "recursive: lock x3 0 0 0, trylock by owner 0, trylock by another thread EBUSY, unlock by another thread EPERM",
        "recursive: unlock x4 0 0 0 0, unlock again EPERM, another thread locks after: 0",
        "PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP: lock x2 0 0, trylock by another thread EBUSY, unlock x2 0 0, "
        "unlock again EPERM",
        "PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP: lock 0, lock again EDEADLK, unlock 0, unlock again EPERM",
        "contended, 8 threads x 20000: normal 160000 recursive 160000 errorcheck 160000 static 160000 adaptive 160000",
    });
    same_as_native(m);

    auto s = run_all({bin("mutexkinds"), "sem"});
    native_says(s.native, {
        "sem_trywait: -1 EAGAIN",
        "sem_timedwait 200ms: -1 ETIMEDOUT not early: yes elapsed<3s: yes",
        "sem_clockwait MONOTONIC 200ms: -1 ETIMEDOUT not early: yes elapsed<3s: yes",
        "sem_timedwait tv_nsec=1e9: -1 EINVAL",
        "sem_post: 0 getvalue: 1",
        "sem_wait: 0 getvalue: 0",
        "sem_wait woken by another thread's post after 100ms: 0 waited>=100ms: yes elapsed<3s: yes",
        "4 posters x 5000, 20000 sem_wait calls returned 0, value after: 0, trywait after: -1 EAGAIN",
        "ping-pong between two threads: 10000 round trips",
        "sem_init SEM_VALUE_MAX+1: -1 EINVAL",
    });
    same_as_native(s);

    auto p = run_all({bin("mutexkinds"), "pshared"});
    native_says(p.native, {
        "process-shared sem_wait, posted by the child: 0 waited: yes elapsed<5s: yes",
        "process-shared mutex held by the child: lock 0 waited: yes elapsed<5s: yes",
        "process-shared cond signalled by the child: 0 flag: 1",
        "child exit: 0",
    });
    same_as_native(p);
}

// ---- 5. mutexio ----------------------------------------------------------------
TEST_CASE("a mutex held across a blocking read: 20 connections, 60 requests, all served", "[mutexio]") {
    for (const char* how : {"threads", "process"}) {
        INFO("clients: " << how);
        auto r = run_all({bin("mutexio"), how}, {}, 40s);
        native_says(r.native, {"served 60 requests on 20 connections, bad 0, two threads inside the lock at "
                               "once: no, slower than 30s: no"});
        same_as_native(r);
    }
}

// ---- 6. joins and the C++ runtime ----------------------------------------------
TEST_CASE("join, detach, once, keys, names, stacks, sched_yield", "[joins]") {
    auto all = run(
        {bin("joins"), "join", "detach", "once", "keys", "names", "stack", "yield"}, Mode::native);
    native_says(all, {
        "returned 42: join 0 value 42",
        "pthread_exit(43): join 0 value 43",
        "pthread_exit(44) two calls deep: join 0 value 44, code after it ran: no",
        "tryjoin_np while it runs: EBUSY",
        "tryjoin_np after it ended: 0 value 45",
        "timedjoin_np 150ms while it runs: ETIMEDOUT not early: yes elapsed<3s: yes",
        "timedjoin_np 5s, it ends: 0 value 46",
        "clockjoin_np MONOTONIC 150ms while it runs: ETIMEDOUT not early: yes elapsed<3s: yes",
        "join self (main): EDEADLK",
        "join self (a thread): EDEADLK",
        "pthread_self in the thread equals pthread_create's id: yes, equals main's: no, main equals itself: yes",
        "detach 0, detach again EINVAL, join it EINVAL",
        "created detached: attr says detached yes, getattr_np 0 says detached yes, join EINVAL",
        "pthread_once from 16 threads: routine ran 1 time(s), callers that returned before it finished: 0",
        "destructor calls: 6 (6 threads set a value, 2 left NULL), each with its thread's value: yes",
        "a destructor that always re-sets its value ran 4 times in every thread: yes (PTHREAD_DESTRUCTOR_ITERATIONS 4)",
        "destructor of a deleted key ran: 0",
        "main's name: 0 'legacy_joins'",
        "setname_np 16 characters: ERANGE, name still 'worker-7'",
        "getname_np into 8 bytes: ERANGE",
        "main: getattr_np 0, stack contains a local: yes",
        "1 MiB thread: getattr_np 0, stack contains a local: yes, size >= 900 KiB: yes, used 900 KiB: yes",
        "attr_setstack 256 KiB: 0, thread: getattr_np 0, stack contains a local: yes, the local lies in the given "
        "memory: yes, size reported 262144",
        "2000 hand-offs spinning on sched_yield: yes",
    });
    // Documented: a stack address given with pthread_attr_setstack is not used
    // (the coroutine gets a pool stack of that size).
    modes("joins", {"join", "detach", "once", "keys", "names", "stack", "yield"}, 20s,
          {{"stack", {"attr_setstack 256 KiB:"}}});
}

TEST_CASE("C++: std::thread, mutex, condition_variable, thread_local, exceptions, forced unwinding",
          "[cxxthreads]") {
    auto all = run({bin("cxxthreads")}, Mode::native);
    native_says(all, {
        "std::thread x8, std::mutex: counter 80000; thread_local constructed 8, destroyed 8",
        "wait_for 150ms: timeout, elapsed>=150ms: yes, <3s: yes",
        "exception thrown and caught inside a thread: yes",
        "pthread_exit(7) from a nested call: join value 7, destructors run 4 of 4, catch(...) saw it and "
        "rethrew: yes, code after it ran: no",
        "pthread_cancel of a thread blocked in read: cancel 0, join PTHREAD_CANCELED, destructors run 2 of 2",
        "counting_semaphore: acquired before release 0, after 4, try_acquire_for 100ms: false",
    });
    // Documented: thread_local objects are per carrier, destroyed when the
    // carrier exits (at process exit), not when each thread ends.
    modes("cxxthreads", {"basic", "unwind", "jthread", "latch", "semaphore", "atomic"}, 20s,
          {{"basic", {"std::thread x8, std::mutex:"}}});
}

// ---- per-thread state a coroutine must carry -----------------------------------
TEST_CASE("__thread, errno, pthread_kill, per-thread signal mask, gettid", "[threadlocal]") {
    auto all = run({bin("threadlocal")}, Mode::native);
    native_says(all, {
        "__thread: 8 of 8 threads started at 5, counted to 1005 and kept their buffer; addresses distinct: yes; "
        "main's copy still 100",
        "errno EBADF kept across: contended mutex_lock yes, cond_wait yes, nanosleep yes, waiting read yes",
        "pthread_kill(t, 0): 0, pthread_kill(t, SIGUSR1): 0, t's read: EINTR, handler ran: yes, in t: yes",
        "pthread_kill(t, SIGUSR2) with t blocking it: 0, pending in t: yes, sigwait got it: yes",
        "gettid: 8 live threads distinct: yes, none equal to getpid: yes, main's equals getpid: yes, syscall "
        "agrees: yes",
    });
    // COHOOK_THREADS=native keeps kernel threads: exactly native.
    for (auto& m : {"tls", "errno", "kill", "sigmask", "gettid"}) {
        auto r = run({bin("threadlocal"), m}, Mode::shim, {{"COHOOK_THREADS", "native"}});
        INFO("mode " << m << ", shim COHOOK_THREADS=native:\n" << r.describe());
        CHECK(r.status() == "exit 0");
        CHECK(r.out == run({bin("threadlocal"), m}, Mode::native).out);
    }
    // Coroutines: docs/architecture.md documents that coroutines of a carrier
    // share its __thread variables, that gettid() is the carrier's, that
    // pthread_kill's handler runs on the main thread, and that signal masks
    // are per carrier. Those lines are shown, not compared; errno must
    // survive every wait, and nothing else may change.
    modes("threadlocal", {"tls", "errno", "kill", "sigmask", "gettid"}, 20s,
          {{"tls", {"__thread:"}},
           {"kill", {"pthread_kill(t, 0):"}},
           {"sigmask", {"main's mask unchanged"}},
           {"gettid", {"gettid:"}}});
}

TEST_CASE("pthread_cancel at cancellation points: read, accept, cond_wait, nanosleep, sem_wait, join",
          "[cancel]") {
    auto r = run_all({bin("cancel")});
    INFO("native run:\n" << r.native.describe());
    CHECK_THAT(r.native.out, !Contains("cleanup ran: no") && !Contains("returned normally"));
    native_says(r.native, {"cond_wait's cleanup handler had the mutex: yes, mutex free after: yes",
                           "cancel disabled during a 200ms sleep: sleep completed: yes, then join "
                           "PTHREAD_CANCELED, cleanup ran: yes"});
    same_as_native(r);
}

// ---- 7. exits ------------------------------------------------------------------
TEST_CASE("exit from a thread, pthread_exit in main, main returning while threads block", "[exits]") {
    struct Case {
        std::string mode, status;
        std::vector<std::string> want;
    };
    std::vector<Case> cases = {
        {"exit-in-thread", "exit 7",
         {"threads blocked: 7", "main blocks in read", "thread calls exit(7)",
          "atexit handler: call 1, in the thread that called exit: yes", "destructor: call 1"}},
        {"main-pthread-exit", "exit 0",
         {"main calls pthread_exit", "thread prints after main's pthread_exit", "atexit handler: call 1",
          "destructor: call 1"}},
        {"main-returns", "exit 3",
         {"threads blocked: 6", "main returns 3", "atexit handler: call 1", "destructor: call 1"}},
        {"abort-in-thread", std::string("killed by ") + sigabbrev_np(SIGABRT), {"threads blocked: 6", "thread calls abort()"}},
        {"segv-in-thread", std::string("killed by ") + sigabbrev_np(SIGSEGV), {"threads blocked: 6", "thread dereferences NULL"}},
    };
    for (auto& c : cases) {
        INFO("mode: " << c.mode);
        auto r = run_all({bin("exits"), c.mode});
        {
            INFO("native run:\n" << r.native.describe());
            CHECK(lines(r.native.out) == c.want);  // exactly these, exactly once each
        }
        same_as_native(r, c.status);
        for (auto& s : r.shim) {
            INFO("shim run:\n" << s.describe());
            CHECK(s.wall_ms < 5000);  // nothing waits for the blocked threads
        }
    }
}

// ---- main waits for a signal while workers work ----------------------------------
TEST_CASE("main blocked in pause/sigsuspend/sigwait/select/poll while worker threads do I/O", "[mainwaits]") {
    auto r = run({bin("mainwaits"), "pause"}, Mode::native);
    native_says(r, {"main in pause(): -1 EINTR, handler ran: yes, the workers' ping-pong had finished: yes",
                    "workers done: 3 of 3"});
    modes("mainwaits", {"pause", "sigsuspend", "sigwait", "sigwaitinfo", "sigtimedwait", "select", "poll"}, 15s);
}

// ---- 9. forkserver -------------------------------------------------------------
TEST_CASE("fork-per-connection, prefork with threads, inetd-style exec, pthread_atfork order", "[forkserver]") {
    auto f = run_all({bin("forkserver"), "fork"}, {}, 30s);
    native_says(f.native, {"client process: 20 of 20 echoes exact",
                           "fork per connection: accepted 20, children reaped by the SIGCHLD handler 20, all "
                           "exit 0: yes, client exit 0"});
    same_as_native(f);
    auto p = run_all({bin("forkserver"), "prefork"}, {}, 30s);
    native_says(p.native, {"prefork: 4 children x 3 threads in accept: 40 of 40 echoes exact, served 40, children "
                           "ended by SIGTERM: 4"});
    same_as_native(p);
    auto i = run_all({bin("forkserver"), "inetd"}, {}, 30s);
    native_says(i.native, {"client process: 10 of 10 echoes exact",
                           "inetd-style: 10 connections served by exec'd cat, cat exit 0: 10, client exit 0"});
    same_as_native(i);
    auto a = run_all({bin("forkserver"), "atfork"}, {}, 30s);
    native_says(a.native, {
        "fork in main, child: prepare:C prepare:B prepare:A child:A child:B child:C | threads: 1, mutex another "
        "thread held: trylock EBUSY, a new thread: 7",
        "fork in main, parent: prepare:C prepare:B prepare:A parent:A parent:B parent:C | child exit 0",
        "fork in a thread, child: prepare:C prepare:B prepare:A child:A child:B child:C | threads: 1, mutex "
        "another thread held: trylock EBUSY, a new thread: 7",
        "fork in a thread, parent: prepare:C prepare:B prepare:A parent:A parent:B parent:C | child exit 0",
    });
    same_as_native(a);
}

TEST_CASE("daemon(1, 1), then the daemon serves one request", "[forkserver]") {
    struct One {
        RunResult r;
        std::string reply;
    };
    auto once = [](Mode m, const Env& env) {
        One o;
        Proc p({bin("forkserver"), "daemon"}, m, env);
        auto line = p.read_line(10s);
        if (line && line->rfind("port ", 0) == 0)
            o.reply = exchange(std::atoi(line->c_str() + 5), "hello daemon\n", 10s);
        o.r = p.wait(15s);
        return o;
    };
    One native = once(Mode::native, {});
    INFO("native run:\n" << native.r.describe());
    REQUIRE(native.r.ok());
    REQUIRE(native.reply == "pong: hello daemon\n");
    REQUIRE(without_port(native.r.out) ==
            "daemon: a new process: yes, session leader: yes, parent gone: yes\n"
            "daemon served: 'hello daemon'\n");
    for (auto& c : kCarriers) {
        One s = once(Mode::shim, c.env);
        INFO("shim run (" << c.name << "):\n" << s.r.describe());
        CHECK(s.r.status() == "exit 0");
        CHECK(s.reply == native.reply);
        CHECK(without_port(s.r.out) == without_port(native.r.out));
    }
}

TEST_CASE("a process made by the raw clone/clone3 system call (vsftpd) waits on its own fds", "[forkserver]") {
    for (const char* how : {"clone", "clone3"}) {
        auto r = run_all({bin("rawclone"), how}, {}, 20s);
        native_says(r.native, {std::string(how) + ": child answered: pong, child exit 3"});
        same_as_native(r);
    }
}

TEST_CASE("inetd-style: a client's socket on fd 2 gets none of the shim's messages (a stall report)", "[forkserver]") {
    auto r = run_all({bin("stderrsock")}, {}, 20s);
    native_says(r.native, {"bytes the client's socket on fd 2 received: 0"});
    same_as_native(r);
}

// ---- 8. thread pool and thread-per-connection at 10,000 connections --------------
TEST_CASE("thread-pool server: 10,000 concurrent connections, OS threads flat", "[pool10k]") {
    many_connections("threadpool_server", 500, 10000, 200s);
}

TEST_CASE("thread-per-connection echo server: 10,000 concurrent connections, OS threads flat", "[echo10k]") {
    many_connections("echo_server", 500, 10000, 200s);
}

// ---- 11. scale19k --------------------------------------------------------------
TEST_CASE("thread-per-connection server holding 19,000 connections, then one request on each",
          "[scale19k]") {
    // Natively 2,000 (2,000 kernel threads), for the comparison and figures.
    Held native = hold_and_serve({bin("echo_server"), "2000"}, Mode::native, {}, 2000, 120s);
    INFO("native 2000:\n" << describe(native));
    REQUIRE(native.client.ok());
    REQUIRE(native.server.ok());
    WARN(figures("native echo_server", native, 2000));
    Held same = hold_and_serve({bin("echo_server"), "2000"}, Mode::shim, {}, 2000, 120s);
    {
        INFO("shim 2000:\n" << describe(same));
        CHECK(same.client.out == native.client.out);
        CHECK(without_port(same.server.out) == without_port(native.server.out));
        WARN(figures("shim echo_server", same, 2000));
    }
    Held big = hold_and_serve({bin("echo_server"), "19000"}, Mode::shim, {}, 19000, 240s);
    INFO("shim 19000:\n" << describe(big));
    CHECK(big.all_accepted);
    CHECK(big.client.ok());
    CHECK_THAT(big.client.out, Contains("connections 19000 exact 19000 "));
    CHECK(big.server.ok());
    CHECK_THAT(big.server.out, Contains("served 19000 connections"));
    WARN(figures("shim echo_server (default carriers)", big, 19000) << ", Threads " << big.threads);
}

// ---- 10. manyparked ------------------------------------------------------------
TEST_CASE("N threads parked at once in cond_wait, read and nanosleep, released and joined", "[manyparked]") {
    auto expected = [](long n) {
        long cond = (n + 1) / 2, read = n / 4 + (n % 4 > 1), sleep = n - cond - read;
        std::string c = std::to_string(cond), r = std::to_string(read), s = std::to_string(sleep),
                    ns = std::to_string(n);
        return "created " + ns + " of " + ns + " threads: cond " + c + ", read " + r + ", sleep " + s +
               "\nall parked at once: yes\njoined " + ns + ": woken from cond " + c + ", read " + r +
               ", sleep " + s + ", failed 0\n";
    };
    auto per_thread = [](const std::string& label, const RunResult& r, long n) {
        std::ostringstream s;
        long rss = peak(r, "VmRSS");
        s << label << ": " << n << " threads parked: VmRSS " << rss << " kB ("
          << (rss > 0 ? rss * 1024 / n : -1) << " B per thread), VmPTE " << peak(r, "VmPTE") << " kB, VmSize "
          << peak(r, "VmSize") << " kB, OS threads " << peak(r, "Threads") << ", " << static_cast<long>(r.wall_ms)
          << " ms";
        return s.str();
    };
    // Natively only 2,000 (near 32,000 the kernel runs out of pids here).
    auto r = run_all({bin("manyparked"), "2000"}, {}, 60s);
    {
        INFO("native run:\n" << r.native.describe());
        CHECK(r.native.out == expected(2000));
        WARN(per_thread("native", r.native, 2000));
    }
    same_as_native(r);
    for (size_t i = 0; i < r.shim.size(); ++i) WARN(per_thread("shim " + kCarriers[i].name, r.shim[i], 2000));

    for (auto& env : std::vector<Env>{{}, {{"COHOOK_STACK_MODE", "shared"}}}) {
        auto big = run({bin("manyparked"), "100000"}, Mode::shim, env, 120s);
        INFO("shim run:\n" << big.describe());
        CHECK(big.ok());
        CHECK(big.out == expected(100000));
        long threads = peak(big, "Threads");
        CHECK(threads >= 1);
        CHECK(threads <= cpus() + 4);  // default carriers: one per CPU, plus a few
        WARN(per_thread(env.empty() ? "shim (private stacks)" : "shim COHOOK_STACK_MODE=shared", big, 100000));
    }
}
