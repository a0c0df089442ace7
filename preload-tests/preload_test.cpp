// preload_test: every scenario runs the same unmodified program (legacy/*.c)
// natively and under LD_PRELOAD=libcohook.so and compares what it printed,
// its exit status and the errno names it reports.
//
// Two kinds of assertion:
//  - on the native run, the semantics the scenario is about ("read: -1 EAGAIN
//    elapsed>=300ms: yes"): this proves the test program itself is right;
//  - shim == native (stdout, exit status), except where cohook documents its
//    own behaviour: close during a wait (EBADF), malformed COHOOK_* values
//    (exit 2 + one line), COHOOK_DISABLE, and the proof that a call went
//    through a hook (an epoll fd exists, the thread waits in another syscall).
//
// Programs print times as bounds ("elapsed>=200ms: yes"), so the comparison is
// deterministic; the bounds are generous (a loaded 2-core machine), nothing
// here measures speed. Each meson test runs one tag: preload_test '[echo]'.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <cstdlib>

#include "run.h"

using namespace pt;
using Catch::Matchers::Contains;

namespace {

// Native and shim runs of the same command line.
struct Pair {
    RunResult native, shim;
};

// Per-run bound: a hang under the shim fails with the output so far, well
// before the meson timeout (which only has to cover the sum of the runs).
Pair both(const std::vector<std::string>& argv, const Env& env = {},
          std::chrono::milliseconds timeout = 20s) {
    return {run(argv, Mode::native, env, timeout), run(argv, Mode::shim, env, timeout)};
}

// The native run succeeded and the shim run did exactly the same.
void require_same(const Pair& p) {
    INFO("native run:\n" << p.native.describe());
    INFO("shim run:\n" << p.shim.describe());
    REQUIRE(p.native.ok());
    CHECK(p.shim.status() == p.native.status());
    CHECK(p.shim.out == p.native.out);
}

// Every line in `want` appears in the native output (the program is right).
void require_native_says(const Pair& p, const std::vector<std::string>& want) {
    INFO("native run:\n" << p.native.describe());
    auto have = lines(p.native.out);
    for (auto& w : want) {
        INFO("expected line: " << w);
        CHECK(std::find(have.begin(), have.end(), w) != have.end());
    }
}

int eventpoll_count(const RunResult& r) {
    std::string v = field(r.out, "eventpoll fds");
    return v.empty() ? -1 : std::atoi(v.c_str());
}

// stdout without its lines starting with `prefix`.
std::string without(const std::string& text, const std::string& prefix) {
    std::string o;
    for (auto& l : lines(text))
        if (l.rfind(prefix, 0) != 0) o += l + "\n";
    return o;
}

}  // namespace

// ---- 1 ------------------------------------------------------------------------
TEST_CASE("blocking echo server, thread per connection, 200 concurrent clients", "[echo]") {
    // The server runs natively, then under the shim; the client always natively.
    RunResult client[2], server[2];
    for (Mode m : {Mode::native, Mode::shim}) {
        int i = m == Mode::native ? 0 : 1;
        Proc srv({bin("echo_server"), "200"}, m);
        auto line = srv.read_line(20s);
        if (!line || line->rfind("port ", 0) != 0) {
            RunResult r = srv.wait(1ms);
            FAIL("echo_server (" << mode_name(m) << ") did not print its port:\n" << r.describe());
        }
        std::string port = line->substr(5);
        client[i] = run({bin("echo_client"), port, "200", "7"}, Mode::native, {}, 120s);
        server[i] = srv.wait(client[i].ok() ? 30s : 2s);
    }
    INFO("native server:\n" << server[0].describe());
    INFO("native client:\n" << client[0].describe());
    INFO("shim server:\n" << server[1].describe());
    INFO("shim client:\n" << client[1].describe());
    REQUIRE(client[0].ok());
    REQUIRE(server[0].ok());
    REQUIRE_THAT(client[0].out, Contains("connections 200 exact 200 bytes"));
    REQUIRE_THAT(server[0].out, Contains("served 200 connections"));
    CHECK(client[1].ok());
    CHECK(client[1].out == client[0].out);
    CHECK(server[1].status() == server[0].status());
    CHECK(without(server[1].out, "port ") == without(server[0].out, "port "));
}

// ---- 2 ------------------------------------------------------------------------
TEST_CASE("SO_RCVTIMEO and SO_SNDTIMEO expire like the kernel's", "[timeouts]") {
    auto p = both({bin("timeouts")});
    require_native_says(p, {
        "  read: -1 EAGAIN elapsed>=300ms: yes elapsed<3s: yes",
        "  recv: -1 EAGAIN elapsed>=300ms: yes elapsed<3s: yes",
        "  send#1: timed out (partial or EAGAIN): yes elapsed>=300ms: yes elapsed<3s: yes",
        "  write#2: timed out (partial or EAGAIN): yes elapsed>=300ms: yes elapsed<3s: yes",
        "tcp receive:",
        "tcp send:",
    });
    require_same(p);
}

// ---- 3 ------------------------------------------------------------------------
TEST_CASE("a blocking read waits longer than 1 s when no timeout is set", "[longread]") {
    auto p = both({bin("longread")});
    require_native_says(p, {
        "fork read: 10 bytes 'from child' elapsed>=1500ms: yes elapsed<10s: yes",
        "child exit: 0",
        "thread recv: 11 bytes 'from thread' elapsed>=1500ms: yes elapsed<10s: yes",
        "pipe read: 12 bytes 'through pipe' elapsed>=1200ms: yes elapsed<10s: yes",
    });
    require_same(p);
}

// ---- 4 ------------------------------------------------------------------------
TEST_CASE("connect: ECONNREFUSED, success, the program's own non-blocking connect", "[connect]") {
    auto p = both({bin("connect")});
    require_native_says(p, {
        "connect to closed port: -1 ECONNREFUSED",
        "SO_ERROR afterwards: 0",
        "connect to listening port: 0",
        "accept: ok",
        "data over it: ping",
        "connect on a connected socket: -1 EISCONN",
        "non-blocking connect: 0 or EINPROGRESS",
        "flags still O_NONBLOCK: yes",
    });
    require_same(p);
}

// ---- 5 ------------------------------------------------------------------------
TEST_CASE("EPIPE with SIGPIPE ignored, and death by SIGPIPE otherwise", "[epipe]") {
    SECTION("SIGPIPE ignored: the same sequence of results") {
        auto p = both({bin("epipe"), "ignore"});
        require_native_says(p, {
            "socketpair write: -1 EPIPE",
            "tcp write #1 (peer closed, FIN seen): 1",
            "tcp write #2: -1 EPIPE",
        });
        require_same(p);
    }
    SECTION("SIGPIPE at its default action kills the process") {
        auto p = both({bin("epipe"), "default"});
        INFO("native run:\n" << p.native.describe());
        INFO("shim run:\n" << p.shim.describe());
        REQUIRE(p.native.signaled);
        REQUIRE(p.native.sig == SIGPIPE);
        CHECK(p.shim.status() == p.native.status());
        CHECK(p.shim.out == p.native.out);
    }
}

// ---- 6 ------------------------------------------------------------------------
TEST_CASE("poll, ppoll, select, pselect, epoll_wait: timeouts and readiness", "[poll]") {
    auto p = both({bin("polltest")});
    require_native_says(p, {
        "poll 200ms, nothing ready: 0 revents 0 elapsed>=200ms: yes elapsed<3s: yes",
        "poll POLLIN with data: 1 revents POLLIN immediate: yes",
        "poll after peer close (drained): 1 revents POLLIN|POLLHUP immediate: yes",
        "poll on a closed fd number: 1 revents POLLNVAL immediate: yes",
        "select 200ms, nothing ready: 0 bit set: no elapsed>=200ms: yes elapsed<3s: yes "
        "timeval after: 0.000000",
        "select 2s, readable+writable: 2 read bit: yes write bit: yes immediate: yes "
        "remaining in (1s,2s]: yes",
        "select no timeout, data after 100ms: 1 bit set: yes elapsed>=100ms: yes",
        "epoll_wait 200ms, nothing ready: 0 elapsed>=200ms: yes elapsed<3s: yes",
        "epoll_wait forever, data after 100ms: 1 events EPOLLIN: yes data 42 elapsed>=100ms: yes",
    });
    require_same(p);
}

// ---- 7 ------------------------------------------------------------------------
TEST_CASE("fork+exec'd children use the inherited socket, which stays blocking", "[forkexec]") {
    auto p = both({bin("forkexec"), bin("fdflags")});
    require_native_says(p, {
        "cat echoed 1048576 bytes, byte-exact: yes",
        "cat exit: 0",
        "parent sees the socket blocking",
        "child with inherited environment: fd 0 blocking",
        "child without LD_PRELOAD: fd 0 blocking",
        "forked child read: 12 'to the child' waited: yes",
        "forked child exit: 0",
    });
    require_same(p);
}

// ---- 8 ------------------------------------------------------------------------
// Natively the blocked reader keeps the old file and gets OLDDATA; cohook's
// documented behaviour is to wake it at close() with EBADF. Either is safe;
// what must never happen is the waiter seeing the NEW file behind the reused
// fd number.
namespace {
const char* kNativeRead = "A: read 7 bytes 'OLDDATA'";
const char* kNativePoll = "A: poll 1 revents POLLIN";

void check_close_wait_safe(const Pair& p, const char* native_line,
                           const std::vector<std::string>& also_ok) {
    require_native_says(p, {native_line, "A woke before the old peer wrote: no",
                            "new file's reader gets: 'NEWDATA'"});
    INFO("native run:\n" << p.native.describe());
    INFO("shim run:\n" << p.shim.describe());
    REQUIRE(p.native.ok());
    CHECK(p.shim.ok());
    auto l = lines(p.shim.out);
    REQUIRE(l.size() == 3);
    CHECK_THAT(p.shim.out, !Contains("A: read 7 bytes 'NEWDATA'"));
    bool native_like = l[0] == native_line && l[1] == "A woke before the old peer wrote: no";
    bool documented = std::find(also_ok.begin(), also_ok.end(), l[0]) != also_ok.end() &&
                      l[1] == "A woke before the old peer wrote: yes";
    CHECK((native_like || documented));
    CHECK(l[2] == "new file's reader gets: 'NEWDATA'");
}
}  // namespace

TEST_CASE("close during a wait: the waiter never gets the new file's data", "[closewait]") {
    auto p = both({bin("closewait"), "read"}, {}, 10s);
    check_close_wait_safe(p, kNativeRead, {"A: read -1 EBADF"});
}

TEST_CASE("close during a wait in poll: never an event of the new file", "[closewait]") {
    auto p = both({bin("closewait"), "poll"}, {}, 10s);
    check_close_wait_safe(p, kNativePoll, {"A: poll 1 revents POLLNVAL", "A: poll -1 EBADF"});
}

TEST_CASE("close during a wait: cohook wakes the reader with EBADF (documented)", "[closewait]") {
    // Fails against a library that does not interpose read (it gets OLDDATA).
    auto r = run({bin("closewait"), "read"}, Mode::shim, {}, 10s);
    INFO(r.describe());
    CHECK(r.ok());
    CHECK(lines(r.out) == std::vector<std::string>{"A: read -1 EBADF",
                                                   "A woke before the old peer wrote: yes",
                                                   "new file's reader gets: 'NEWDATA'"});
}

// ---- 9 ------------------------------------------------------------------------
TEST_CASE("dup'd fds share O_NONBLOCK (fcntl F_SETFL, ioctl FIONBIO)", "[dup]") {
    auto p = both({bin("dupflags")});
    require_native_says(p, {
        "1. original, blocking: 4 bytes 'late' waited: yes",
        "2. original: read -1 EAGAIN, recv -1 EAGAIN, immediate: yes",
        "3. dup, blocking again: 4 bytes 'late' waited: yes",
        "4. original: read -1 EAGAIN, recv -1 EAGAIN, immediate: yes",
        "4. dup after FIONBIO 0 on the original: 4 bytes 'late' waited: yes",
        "5. original after O_NONBLOCK on the F_DUPFD copy: read -1 EAGAIN, recv -1 EAGAIN, "
        "immediate: yes",
        "6. dup3 copy after closing the rest: 4 bytes 'late' waited: yes",
        "7. read on the closed original: -1 EBADF",
    });
    require_same(p);
}

// ---- 10 -----------------------------------------------------------------------
TEST_CASE("a malformed COHOOK_* value stops the program before main", "[config]") {
    SECTION("COHOOK_STACK_SIZE=12q: exit 2 and exactly one line") {
        auto p = both({bin("hello")}, {{"COHOOK_STACK_SIZE", "12q"}}, 10s);
        INFO("native run:\n" << p.native.describe());
        INFO("shim run:\n" << p.shim.describe());
        REQUIRE(p.native.ok());  // natively the variable means nothing
        REQUIRE(p.native.out == "main reached\n");
        CHECK(p.shim.exited);
        CHECK(p.shim.code == 2);
        CHECK(p.shim.out == "");
        CHECK(p.shim.err ==
              "cohook: COHOOK_STACK_SIZE=\"12q\" is invalid: expected a size like 65536, 64k or 1m "
              "(16k..256m)\n");
    }
    SECTION("out of range or malformed values of other variables: exit 2, one line naming them") {
        for (auto [var, value] : std::vector<std::pair<std::string, std::string>>{
                 {"COHOOK_STACK_SIZE", "1k"},
                 {"COHOOK_STACK_SIZE", "1g"},
                 {"COHOOK_CARRIERS", "abc"},
                 {"COHOOK_IO_TIMEOUT_MS", "-5"},
                 {"COHOOK_LOG", "loud"},
             }) {
            auto r = run({bin("hello")}, Mode::shim, {{var, value}}, 10s);
            INFO(r.describe());
            CHECK(r.exited);
            CHECK(r.code == 2);
            CHECK(r.out == "");
            CHECK(lines(r.err).size() == 1);
            CHECK_THAT(r.err, Contains(var) && Contains("\"" + value + "\""));
        }
    }
    SECTION("a valid value runs the program") {
        auto r = run({bin("hello")}, Mode::shim, {{"COHOOK_STACK_SIZE", "64k"}}, 10s);
        INFO(r.describe());
        CHECK(r.ok());
        CHECK(r.out == "main reached\n");
    }
}

// ---- 11 -----------------------------------------------------------------------
TEST_CASE("COHOOK_DISABLE=1 is a pure pass-through", "[disable]") {
    auto native = run({bin("epollcount")}, Mode::native);
    auto shim = run({bin("epollcount")}, Mode::shim);
    auto disabled = run({bin("epollcount")}, Mode::shim, {{"COHOOK_DISABLE", "1"}});
    INFO("native run:\n" << native.describe());
    INFO("shim run:\n" << shim.describe());
    INFO("shim with COHOOK_DISABLE=1:\n" << disabled.describe());
    REQUIRE(native.ok());
    REQUIRE_THAT(native.out, Contains("read 5 bytes 'hello'\n"));
    REQUIRE(eventpoll_count(native) == 0);
    CHECK(shim.ok());
    CHECK(without(shim.out, "eventpoll") == without(native.out, "eventpoll"));
    CHECK(eventpoll_count(shim) >= 1);  // the blocked read parked on the carrier's epoll
    CHECK(disabled.ok());
    CHECK(disabled.out == native.out);  // eventpoll fds: 0
    // And the thread blocks in read(2) itself, as natively.
    auto fd = run({bin("fortify"), "read", "64"}, Mode::shim, {{"COHOOK_DISABLE", "1"}});
    INFO("fortify read with COHOOK_DISABLE=1:\n" << fd.describe());
    CHECK(fd.ok());
    CHECK(field(fd.out, "blocked in") == "read");
    CHECK(eventpoll_count(fd) == 0);
}

// ---- FORTIFY ------------------------------------------------------------------
TEST_CASE("_FORTIFY_SOURCE entry points go through the hooks", "[fortify]") {
    const char* nm = std::getenv("COHOOK_NM");
    auto syms = run({nm ? nm : "/usr/bin/nm", "-D", "--undefined-only", bin("fortify")}, Mode::native);
    INFO(syms.describe());
    REQUIRE(syms.ok());
    for (const char* mode : {"read", "recv", "recvfrom", "poll", "ppoll"}) {
        std::string chk = std::string("__") + mode + "_chk";
        CHECK_THAT(syms.out, Contains(" " + chk + "@"));  // gcc 12 emits all five
        std::string len = mode[0] == 'p' ? "1" : "64";    // poll: nfds
        // The program samples /proc/self/task/<main>/syscall from a second
        // thread: that thread must be an OS thread of its own to see main's
        // wait (as a coroutine it would share main's carrier).
        auto p = both({bin("fortify"), mode, len}, {{"COHOOK_THREADS", "native"}}, 10s);
        INFO("native run:\n" << p.native.describe());
        INFO("shim run:\n" << p.shim.describe());
        REQUIRE(p.native.ok());
        REQUIRE(eventpoll_count(p.native) == 0);
        std::string native_wait = field(p.native.out, "blocked in");
        REQUIRE(native_wait == (mode == std::string("recv") ? "recvfrom" : mode));
        CHECK(p.shim.ok());
        CHECK(lines(p.shim.out).at(0) == lines(p.native.out).at(0));  // the call's result
        // Proof that the call was interposed: the thread parked on the
        // carrier's epoll rather than blocking in the call's own syscall.
        CHECK(eventpoll_count(p.shim) >= 1);
        CHECK(field(p.shim.out, "blocked in") != native_wait);
    }
}

// ---- 12 -----------------------------------------------------------------------
TEST_CASE("the sleep family: never early, EINVAL, EINTR with the remaining time", "[sleep]") {
    auto p = both({bin("sleeps")});
    require_native_says(p, {
        "nanosleep 150ms: 0 elapsed>=150ms: yes elapsed<3s: yes",
        "usleep 150ms: 0 elapsed>=150ms: yes elapsed<3s: yes",
        "sleep 1s: 0 elapsed>=1000ms: yes elapsed<3s: yes",
        "clock_nanosleep MONOTONIC absolute +150ms: 0 woke at or after the deadline: yes "
        "elapsed<3s: yes",
        "clock_nanosleep invalid clock: returns EINVAL, errno untouched: yes",
        "nanosleep tv_nsec=1e9: -1 EINVAL",
        "nanosleep 1s interrupted: -1 EINTR, early: yes, remaining in (0.5s,1s): yes",
        "clock_nanosleep 1s interrupted: returns EINTR, remaining in (0.5s,1s): yes",
        "usleep 1s interrupted: -1 EINTR, early: yes",
    });
    require_same(p);
}

// ---- 13 -----------------------------------------------------------------------
TEST_CASE("50 threads blocked in read each get their own data", "[threads]") {
    auto p = both({bin("manythreads")});
    require_native_says(p, {"50 of 50 threads got their own message, none early"});
    require_same(p);
}

// ---- 14 -----------------------------------------------------------------------
TEST_CASE("signal handlers interrupt or restart blocking calls as natively", "[signals]") {
    auto p = both({bin("signals")});
    require_native_says(p, {
        "accept, handler without SA_RESTART: -1 EINTR early: yes",
        "poll, any handler: -1 EINTR",
        "read, handler with SA_RESTART: 1 byte x waited>=450ms: yes",
        "read with SO_RCVTIMEO, handler with SA_RESTART: -1 EINTR",
        "pipe read, sigset handler: -1 EINTR",
        "ppoll with a mask opening the signal: -1 EINTR",
        "pselect with a mask opening the signal: -1 EINTR",
        "ppoll, signal pending when the mask opens: -1 EINTR",
        "mask restored after the waits: yes",
        "sigaction reports the program's handler: yes, SA_RESTART: yes",
        "accept loop stopped by SIGTERM: yes within 3s: yes",
    });
    require_same(p);
}

// ---- 15 -----------------------------------------------------------------------
TEST_CASE("a pool of threads sharing one listener keeps accepting while one is busy", "[poolaccept]") {
    // One worker spins on the CPU for 2 s. As a coroutine it would hold its
    // carrier -- and the client in main with it -- for those 2 s; a thread
    // that computes for seconds is what COHOOK_THREADS=native (and, per
    // thread, COHOOK_NATIVE_THREADS) is for.
    auto p = both({bin("poolaccept")}, {{"COHOOK_THREADS", "native"}});
    require_native_says(p, {"served 8 of 8, slower than 1 s: 0"});
    require_same(p);
}

// ---- 16 -----------------------------------------------------------------------
TEST_CASE("threads blocked under a small fd limit all get their data", "[fdlimit]") {
    auto p = both({bin("fdlimit")});
    require_native_says(p, {"40 of 40 threads read their byte"});
    require_same(p);
}

// ---- 17 -----------------------------------------------------------------------
TEST_CASE("an fd closed behind the shim's back and reused by a file still reads", "[stalefd]") {
    auto p = both({bin("stalefd")});
    require_native_says(p, {"socket read: 1", "file on the reused number: 2 "});
    require_same(p);
}

// ---- 18 -----------------------------------------------------------------------
TEST_CASE("recvmmsg waits for vlen datagrams, or one with MSG_WAITFORONE", "[mmsg]") {
    auto p = both({bin("mmsg")});
    require_native_says(p, {"recvmmsg vlen=3: 3 waited>=250ms: yes", "recvmmsg vlen=3 MSG_WAITFORONE: 1"});
    require_same(p);
}

// ---- 19 -----------------------------------------------------------------------
TEST_CASE("the rest of the surface: accept4 ... sendfile64, close_range, signal variants", "[families]") {
    auto p = both({bin("families")});
    require_native_says(p, {
        "accept4: ok cloexec yes nonblock no",
        "recvfrom: 8 'datagram' from loopback yes",
        "recvmsg: 1 byte F with an fd yes",
        "then read: 5 'after'",
        "pipe2 O_NONBLOCK read: -1 EAGAIN",
        "sendmmsg: 3 3 3 5",
        "sendfile: 2097152",
        "sendfile64: 2097152",
        "epoll_pwait2 timeout: 0 elapsed>=150ms: yes",
        "close_range: closed yes, beyond kept yes",
        "closefrom: closed yes",
        "bsd_signal (restarts): read 1 after the data",
        "sysv_signal (one-shot, interrupts): read -1 EINTR",
        "signal + siginterrupt(1): read -1 EINTR",
        "__sigaction without SA_RESTART: read -1 EINTR",
    });
    require_same(p);
}

// ---- 20 -----------------------------------------------------------------------
TEST_CASE("the pthread calls no other program makes: affinity, sched params, cpu clock, cancel type...",
          "[pthread_families]") {
    auto p = both({bin("pthread_families")});
    require_native_says(p, {
        "thread: getaffinity 0, cpus>0 yes",
        "thread: setschedparam(OTHER, 0) 0",
        "thread: setcanceltype 0 old DEFERRED, bad type EINVAL",
        "thread: pthread_yield 0",
        "thread: rwlock_clockrdlock 0, unlock 0",
        "thread: mutex_consistent on a normal mutex: EINVAL",
        "main: getcpuclockid 0, clock readable yes",
    });
    require_same(p);
}

// ---- 21 -----------------------------------------------------------------------
TEST_CASE("waits with no fd (child exit, file locks) leave the other threads running", "[childwait]") {
    for (const char* carriers : {"1", "2"}) {
        auto p = both({bin("childwait")}, {{"COHOOK_CARRIERS", carriers}}, 30s);
        INFO("COHOOK_CARRIERS=" << carriers);
        require_native_says(p, {
            "waitpid(child, 0): that child, exit status 7; the other threads kept running: yes",
            "wait(): that child, exit status 9; the other threads kept running: yes",
            "flock(LOCK_EX|LOCK_NB) while the child holds it: EWOULDBLOCK",
            "flock(LOCK_EX) once the child is done: 0; the other threads kept running: yes",
            "fcntl(F_SETLKW) once the child is done: 0; the other threads kept running: yes",
            "lockf(F_LOCK) uncontended: 0, F_ULOCK: 0",
            "wait4(child): that child, exit status 3; the other threads kept running: yes",
            "waitid(P_PID): 0, si_pid right yes, si_status 4; the other threads kept running: yes",
            "system(sleep 0.3; exit 5): exit status 5; the other threads kept running: yes",
            "popen+pclose: 'from the child', exit status 0; the other threads kept running: yes",
            "waitpid(-1) with no children: -1 ECHILD",
        });
        require_same(p);
    }
}

// ---- 22 -----------------------------------------------------------------------
TEST_CASE("a lookup through a slow name server leaves the other threads running (getaddrinfo ... res_query)",
          "[slowdns]") {
    for (const char* carriers : {"1", "2"}) {
        auto p = both({bin("slowdns")}, {{"COHOOK_CARRIERS", carriers}}, 30s);
        INFO("COHOOK_CARRIERS=" << carriers);
        if (p.native.out.rfind("SKIP: ", 0) == 0) {
            WARN("slowdns skipped: " << p.native.out);  // no namespaces here (not root?)
            return;
        }
        require_native_says(p, {
            "getaddrinfo(slow.test): 0 10.1.2.3, took >= 300 ms: yes; the other threads kept running: yes",
            "getaddrinfo(other.test): EAI_NONAME; the other threads kept running: yes",
            "gethostbyname(slow.test): 10.1.2.3; the other threads kept running: yes",
            "gethostbyname_r(slow.test): 0 10.1.2.3",
            "gethostbyaddr(10.1.2.3): NULL, h_errno HOST_NOT_FOUND",
            "getnameinfo(127.0.0.1:53, numeric): 0 127.0.0.1 53",
            "res_query(slow.test): ok, 1 answer(s), rcode 0, took >= 300 ms: yes; the other threads kept running: yes",
            "res_query(other.test): -1, h_errno HOST_NOT_FOUND, rcode in the answer 3",
            // the search list the program set in _res after res_init applies
            "res_search(slow) with the program's search list: ok, 1 answer(s), rcode 0; the other threads kept "
            "running: yes",
            "res_querydomain(slow, test): ok, 1 answer(s), rcode 0",
            "res_send(query for slow.test): ok, 1 answer(s), rcode 0",
            "res_nquery(slow.test): ok, 1 answer(s), rcode 0",
            "res_nsearch(slow) without a search list: -1, h_errno HOST_NOT_FOUND",
            "res_nquerydomain(slow, test): ok, 1 answer(s), rcode 0",
            "res_nsend(query for slow.test): ok, 1 answer(s), rcode 0",
            "__res_query(slow.test): ok, 1 answer(s), rcode 0",
            "__res_search(slow): ok, 1 answer(s), rcode 0",
            "__res_querydomain(slow, test): ok, 1 answer(s), rcode 0",
            "__res_send(query for slow.test): ok, 1 answer(s), rcode 0",
        });
        require_same(p);
    }
}

// ---- daemon smoke tests' findings (issue 6) ------------------------------------
// busybox httpd's children each started an offload thread for a numeric
// getnameinfo; the watchdog's own thread is kept out (COHOOK_STALL_MS=0).
TEST_CASE("numeric-only getnameinfo/getaddrinfo start no thread, in a forked child too", "[numericnames]") {
    for (const char* carriers : {"1", "2"}) {
        auto p = both({bin("numericnames")}, {{"COHOOK_CARRIERS", carriers}, {"COHOOK_STALL_MS", "0"}});
        INFO("COHOOK_CARRIERS=" << carriers);
        require_native_says(p, {
            "process: getnameinfo(numeric): 0 127.0.0.1 8080",
            "process: getaddrinfo(numeric): 0 127.0.0.1 8080",
            "process: new OS threads: 0",
            "forked child: new OS threads: 0",
            "child exit status 0",
        });
        require_same(p);
    }
}

// bash hung in every command substitution: a forked child's waitpid(-1)
// queued for the parent's offload thread, which did not come along.
TEST_CASE("a forked child of a process that used the offload pool can wait for its own children",
          "[forkpool]") {
    for (const char* carriers : {"1", "2"}) {
        auto p = both({bin("forkpool")}, {{"COHOOK_CARRIERS", carriers}});
        INFO("COHOOK_CARRIERS=" << carriers);
        require_native_says(p, {
            "parent: waitpid: that child, exit status 3",
            "forked child: waitpid: that child, exit status 5",
            "forked child, again: waitpid: that child, exit status 6",
            "forked child exit status 0",
            "parent, after: waitpid: that child, exit status 7",
        });
        require_same(p);
    }
}

// ---- coverage -----------------------------------------------------------------
// Every symbol libcohook.so exports is a hook, and every hook is called by at
// least one legacy program: a hook no program calls is a hook no test checks.
TEST_CASE("every exported hook is called by some legacy program", "[coverage]") {
    const char* nm = std::getenv("COHOOK_NM");
    const char* lib = std::getenv("COHOOK_LIB");
    const char* dir = std::getenv("COHOOK_TEST_BINDIR");
    REQUIRE(lib);
    REQUIRE(dir);
    auto names = [&](std::vector<std::string> args) {
        std::vector<std::string> cmd = {nm ? nm : "/usr/bin/nm", "-D"};
        cmd.insert(cmd.end(), args.begin(), args.end());
        auto r = run(cmd, Mode::native);
        INFO(r.describe());
        REQUIRE(r.ok());
        std::set<std::string> out;
        for (auto& l : lines(r.out)) {
            auto sp = l.find_last_of(' ');
            std::string name = sp == std::string::npos ? l : l.substr(sp + 1);
            name = name.substr(0, name.find('@'));  // read@GLIBC_2.2.5 -> read
            if (!name.empty()) out.insert(name);
        }
        return out;
    };
    auto exported = names({"--defined-only", lib});
    std::vector<std::string> programs = {"--undefined-only"};
    for (auto& l : lines(run({"/bin/sh", "-c", std::string("ls -d ") + dir + "/legacy_*"}, Mode::native).out))
        if (l.size() < 2 || l.compare(l.size() - 2, 2, ".p") != 0) programs.push_back(l);  // not the object dirs
    REQUIRE(programs.size() > 30);
    auto called = names(programs);
    std::string uncalled;
    for (auto& s : exported)
        if (!called.count(s)) uncalled += " " + s;
    INFO(exported.size() << " exported symbols; called by no legacy program:" << uncalled);
    CHECK(exported.size() > 150);
    CHECK(uncalled.empty());
}
