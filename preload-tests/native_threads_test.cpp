// native_threads_test: COHOOK_NATIVE_THREADS, the escape hatch -- named
// threads stay real OS threads beside the coroutines (legacy/nativethreads.c,
// legacy/nativethreads_cxx.cpp).
//
// With the selector, each program runs under the shim with COHOOK_CARRIERS=1
// and 2 and must print what it printed natively: the named threads had an OS
// thread of their own, joins of them (from main, from a thread) and their
// exits behave as natively. Without the selector (COHOOK_CARRIERS=1) the
// same threads are coroutines: the lines about them say "no", which proves
// the selector made the difference. The spinning thread's cost to the
// ping-pong server is WARNed for the record; speed is only bounded, never
// asserted (3 s, against the 6 s the spin lasts when it holds the carrier).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>

#include "run.h"

using namespace pt;
using Catch::Matchers::Contains;

namespace {

const Env kOneCarrier = {{"COHOOK_CARRIERS", "1"}};
const Env kTwoCarriers = {{"COHOOK_CARRIERS", "2"}};

Env with(Env a, const Env& b) {
    for (auto& [k, v] : b) a[k] = v;
    return a;
}

void has_lines(const RunResult& r, const std::vector<std::string>& want) {
    auto have = lines(r.out);
    for (auto& w : want) {
        INFO("expected line: " << w);
        CHECK(std::find(have.begin(), have.end(), w) != have.end());
    }
}

// The number after `key` on a stderr line "key N", or -1.
double figure(const std::string& err, const std::string& key) {
    for (auto& l : lines(err))
        if (l.rfind(key, 0) == 0) return std::atof(l.c_str() + key.size());
    return -1;
}

}  // namespace

TEST_CASE("COHOOK_NATIVE_THREADS=spin_worker: a spinning thread stays an OS thread beside a "
          "thread-per-connection server; joins, exits, detach as natively",
          "[nativethreads]") {
    const std::vector<std::string> argv = {bin("nativethreads"), "pingpong", "joins", "from"};
    auto native = run(argv, Mode::native);
    INFO("native run:\n" << native.describe());
    REQUIRE(native.status() == "exit 0");
    has_lines(native, {
        "ping-pong: 2 connections x 100 round trips, all echoed: yes",
        "spin_worker on its own OS thread: yes; joined from main: 0",
        "a thread joined spin_worker (300 ms): 0 value 42, the other threads ran meanwhile: yes",
        "pthread_exit(43) two calls deep in spin_worker: join 0 value 43",
        "tryjoin_np while it spins: EBUSY",
        "timedjoin_np 150ms while it spins: ETIMEDOUT not early: yes",
        "timedjoin_np 10s, it stops: 0 value 44",
        "detach 0, detach again EINVAL, join it EINVAL",
        "spin_worker blocked in read for 200 ms, the other threads ran meanwhile: yes; it read 'x'",
        "pthread_cancel of spin_worker blocked in read: cancel 0, join 0, PTHREAD_CANCELED: yes",
        "generic_task made by launch_from_pool: own OS thread yes",
    });
    double native_tasks = figure(native.err, "tasks while serving: ");

    const Env selected = {{"COHOOK_NATIVE_THREADS", "spin_worker,from:launch_from_pool"}, {"COHOOK_LOG", "info"}};
    for (const Env& carriers : {kOneCarrier, kTwoCarriers}) {
        auto shim = run(argv, Mode::shim, with(selected, carriers), 30s);
        INFO("shim run:\n" << shim.describe());
        CHECK(shim.status() == "exit 0");
        CHECK(shim.out == native.out);
        // Logged, for users to check which threads stayed native and why.
        CHECK_THAT(shim.err, Contains("stays native: start routine spin_worker: matches \"spin_worker\""));
        CHECK_THAT(shim.err, Contains("stays native: created from launch_from_pool (from:launch_from_pool)"));
        // The carriers and spin_worker: fewer OS threads than natively.
        double tasks = figure(shim.err, "tasks while serving: ");
        CHECK(tasks >= 2);
        CHECK(tasks < native_tasks);
        double slowest = figure(shim.err, "slowest round trip: ");
        CHECK(slowest >= 0);
        CHECK(slowest < 3000);
        WARN(carriers.at("COHOOK_CARRIERS") << " carrier(s), spin_worker native: OS threads while serving " << tasks
                                            << " (native " << native_tasks << "), slowest round trip " << slowest
                                            << " ms (native " << figure(native.err, "slowest round trip: ")
                                            << " ms)");
    }

    // Without the selector the same threads are coroutines, and the spinning
    // one holds the only carrier while it spins (at most 6 s).
    auto plain = run({bin("nativethreads"), "pingpong", "from"}, Mode::shim, kOneCarrier, 30s);
    INFO("shim run without COHOOK_NATIVE_THREADS:\n" << plain.describe());
    CHECK(plain.status() == "exit 0");
    has_lines(plain, {
        "ping-pong: 2 connections x 100 round trips, all echoed: yes",
        "spin_worker on its own OS thread: no; joined from main: 0",
        "generic_task made by launch_from_pool: own OS thread no",
    });
    CHECK_THAT(plain.err, !Contains("stays native"));
    WARN("1 carrier, spin_worker a coroutine: slowest round trip " << figure(plain.err, "slowest round trip: ")
                                                                  << " ms");
}

TEST_CASE("COHOOK_NATIVE_THREADS names std::threads by their callable: a lambda's enclosing function, a "
          "function pointer, a member function, a function object",
          "[nativethreads]") {
    const std::vector<std::string> argv = {bin("nativethreads_cxx")};
    auto native = run(argv, Mode::native);
    INFO("native run:\n" << native.describe());
    REQUIRE(native.status() == "exit 0");
    has_lines(native, {
        "lambda in io_handler_thread(): own OS thread yes, joined by another thread",
        "function pointer compute_fn: own OS thread yes, result 42",
        "member function Crunch::run: own OS thread yes, result 42",
        "function object Spinner: own OS thread yes",
    });

    const Env selected = {{"COHOOK_NATIVE_THREADS", "io_handler_thread,compute_fn,Crunch::run,Spinner"},
                          {"COHOOK_LOG", "info"}};
    for (const Env& carriers : {kOneCarrier, kTwoCarriers}) {
        auto shim = run(argv, Mode::shim, with(selected, carriers), 30s);
        INFO("shim run:\n" << shim.describe());
        CHECK(shim.status() == "exit 0");
        CHECK(shim.out == native.out);
        CHECK_THAT(shim.err, Contains("std::thread running io_handler_thread()::{lambda()#1}: \"io_handler_thread\" "
                                      "is in the callable's type"));
        CHECK_THAT(shim.err, Contains("std::thread running compute_fn(int*, int): matches \"compute_fn\""));
        CHECK_THAT(shim.err, Contains("std::thread running Crunch::run(int): matches \"Crunch::run\""));
        CHECK_THAT(shim.err, Contains("std::thread running Spinner: \"Spinner\" is in the callable's type"));
    }

    // from: on a coroutine's stack: the thread io_handler_thread() makes,
    // while it runs in another std::thread (a coroutine), and no other.
    auto from = run(argv, Mode::shim,
                    with({{"COHOOK_NATIVE_THREADS", "from:io_handler_thread"}, {"COHOOK_LOG", "info"}}, kOneCarrier),
                    30s);
    INFO("shim run with from:io_handler_thread:\n" << from.describe());
    CHECK(from.status() == "exit 0");
    has_lines(from, {
        "lambda in io_handler_thread(): own OS thread yes, joined by another thread",
        "function pointer compute_fn: own OS thread no, result 42",
    });
    CHECK_THAT(from.err, Contains("stays native: created from io_handler_thread() (from:io_handler_thread)"));

    // Names that only begin like the real ones match nothing (whole
    // identifiers only): every std::thread is a coroutine.
    auto plain = run(argv, Mode::shim,
                     with({{"COHOOK_NATIVE_THREADS", "io_handler,compute,Crunch::ru,Spin,run_thread"}}, kOneCarrier),
                     30s);
    INFO("shim run with selectors that match nothing:\n" << plain.describe());
    CHECK(plain.status() == "exit 0");
    has_lines(plain, {
        "lambda in io_handler_thread(): own OS thread no, joined by another thread",
        "function pointer compute_fn: own OS thread no, result 42",
        "member function Crunch::run: own OS thread no, result 42",
        "function object Spinner: own OS thread no",
    });
}
