// stats_test: COHOOK_STATS. The exit report has every counter, with the exact
// park counts legacy/statsprog.c makes; `cohook stats PID` reads a live
// process's counters, only as the process's own uid; without COHOOK_STATS no
// socket exists.
//
// Linked into preload_test; meson test preload_stats.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "run.h"

using namespace pt;

namespace {

using Counters = std::map<std::string, unsigned long long>;

// The report lines ("cohook stats: pid N key value ..."), parsed.
std::vector<Counters> reports(const std::string& text) {
    std::vector<Counters> all;
    for (auto& l : lines(text)) {
        if (l.rfind("cohook stats: ", 0) != 0) continue;
        std::istringstream s(l.substr(14));
        Counters c;
        std::string key;
        unsigned long long v;
        while (s >> key >> v) c[key] = v;
        all.push_back(c);
    }
    return all;
}

// Every key of the documented format (docs/env-vars.md), in its order.
const char* const kKeys[] = {
    "pid", "parks", "parks_read", "parks_write", "parks_accept", "parks_connect", "parks_poll", "parks_sleep",
    "parks_mutex", "parks_cond", "parks_join", "parks_dns", "parks_child", "parks_futex", "parks_offload",
    "eagain_attempts", "timeouts", "closed_waits", "native_blocks", "carriers", "threads_created",
    "coroutines_live", "coroutines_peak", "switches", "epoll_waits", "offloaded", "offload_threads",
    "offload_queue_depth", "offload_queue_peak", "offload_wait_mean_ns", "offload_wait_max_ns", "stalls",
    "stack_reserved_bytes", "stack_committed_bytes",
};

// What statsprog makes with one carrier (see the "parks:" comments there):
// 3 naps + one per step (5 steps), and one wait of each other kind; each of
// the 5 steps' joins parks.
const std::map<std::string, unsigned long long> kExact = {
    {"parks_read", 1},  {"parks_write", 1}, {"parks_accept", 1}, {"parks_connect", 0}, {"parks_poll", 1},
    {"parks_sleep", 8}, {"parks_mutex", 1}, {"parks_cond", 1},   {"parks_join", 5},    {"parks_dns", 0},
    {"parks_child", 1}, {"parks_futex", 1}, {"parks_offload", 0}, {"parks", 21},       {"threads_created", 5},
    {"coroutines_live", 0}, {"coroutines_peak", 1}, {"offloaded", 0},
};

void check_report(const Counters& c, pid_t pid) {
    for (const char* k : kKeys) {
        INFO("key " << k);
        CHECK(c.count(k) == 1);
    }
    CHECK(c.at("pid") == static_cast<unsigned long long>(pid));
    for (auto& [k, v] : kExact) {
        INFO("key " << k);
        CHECK(c.at(k) == v);
    }
    CHECK(c.at("carriers") >= 1);
    CHECK(c.at("switches") > 0);
    CHECK(c.at("epoll_waits") > 0);
    CHECK(c.at("stack_committed_bytes") > 0);
    CHECK(c.at("stack_reserved_bytes") >= c.at("stack_committed_bytes"));
}

std::string launcher() {
    const char* p = std::getenv("COHOOK_LAUNCHER");
    if (!p || !*p) throw std::runtime_error("COHOOK_LAUNCHER is not set (run through meson test)");
    return p;
}

// `cohook stats PID` (as another user first, with setpriv's arguments).
RunResult cohook_stats(pid_t pid, const std::vector<std::string>& as = {}) {
    std::vector<std::string> argv = as;
    argv.push_back(launcher());
    argv.push_back("stats");
    argv.push_back(std::to_string(pid));
    return run(argv, Mode::native, {}, 10s);
}

bool abstract_socket_exists(const std::string& name) {
    std::ifstream f("/proc/net/unix");
    for (std::string l; std::getline(f, l);)
        if (l.size() > name.size() && l.compare(l.size() - name.size() - 1, std::string::npos, "@" + name) == 0)
            return true;
    return false;
}

}  // namespace

TEST_CASE("COHOOK_STATS at exit: every counter, exact park counts by reason", "[stats]") {
    RunResult native = run({bin("statsprog")}, Mode::native);
    INFO("native:\n" << native.describe());
    REQUIRE(native.ok());

    SECTION("stderr") {
        Proc p({bin("statsprog")}, Mode::shim, {{"COHOOK_CARRIERS", "1"}, {"COHOOK_STATS", "stderr"}});
        pid_t pid = p.pid();
        RunResult shim = p.wait(20s);
        INFO("shim:\n" << shim.describe());
        REQUIRE(shim.ok());
        CHECK(shim.out == native.out);
        auto all = reports(shim.err);
        REQUIRE(all.size() == 1);  // the forked child ends with _exit: no report
        check_report(all[0], pid);
    }
    SECTION("appended to a file") {
        char path[] = "/tmp/cohook-stats-test-XXXXXX";
        int fd = mkstemp(path);
        REQUIRE(fd >= 0);
        REQUIRE(write(fd, "earlier line\n", 13) == 13);
        close(fd);
        Proc p({bin("statsprog")}, Mode::shim, {{"COHOOK_CARRIERS", "1"}, {"COHOOK_STATS", path}});
        pid_t pid = p.pid();
        RunResult shim = p.wait(20s);
        INFO("shim:\n" << shim.describe());
        REQUIRE(shim.ok());
        std::ifstream f(path);
        std::stringstream text;
        text << f.rdbuf();
        unlink(path);
        CHECK(lines(text.str()).front() == "earlier line");
        auto all = reports(text.str());
        REQUIRE(all.size() == 1);
        check_report(all[0], pid);
        CHECK(reports(shim.err).empty());
    }
}

TEST_CASE("cohook stats PID: a live process's counters, for its own uid only", "[stats]") {
    Proc p({bin("statsprog"), "live"}, Mode::shim, {{"COHOOK_STATS", "stderr"}});
    const std::string name = "cohook-stats-" + std::to_string(p.pid());

    // The socket is made in the library's constructor, before main.
    RunResult first;
    for (int i = 0; i < 100; ++i) {
        first = cohook_stats(p.pid());
        if (first.ok()) break;
        usleep(50 * 1000);
    }
    INFO("first:\n" << first.describe());
    REQUIRE(first.ok());
    CHECK(abstract_socket_exists(name));
    auto a = reports(first.out);
    REQUIRE(a.size() == 1);
    CHECK(a[0].at("pid") == static_cast<unsigned long long>(p.pid()));
    for (const char* k : kKeys) CHECK(a[0].count(k) == 1);

    usleep(300 * 1000);  // it naps 10 ms at a time meanwhile
    RunResult second = cohook_stats(p.pid());
    INFO("second:\n" << second.describe());
    REQUIRE(second.ok());
    auto b = reports(second.out);
    REQUIRE(b.size() == 1);
    CHECK(b[0].at("parks_sleep") > a[0].at("parks_sleep"));
    CHECK(b[0].at("switches") >= a[0].at("switches"));
    CHECK(b[0].at("parks") > a[0].at("parks"));
    CHECK(b[0].at("epoll_waits") >= a[0].at("epoll_waits"));

    if (geteuid() == 0) {
        RunResult other = cohook_stats(p.pid(), {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
        INFO("as uid 65534:\n" << other.describe());
        CHECK(other.exited);
        CHECK(other.code == 1);
        CHECK(other.out.empty());
        CHECK(other.err.find("permission denied") != std::string::npos);
    } else {
        WARN("not root: the other-uid refusal is not checked (setpriv needs root)");
    }

    p.signal_it(SIGTERM);
    RunResult end = p.wait(10s);
    CHECK(end.signaled);
    CHECK(!abstract_socket_exists(name));  // gone with the process
}

TEST_CASE("a forked child serves and reports its own stats", "[stats]") {
    Proc p({bin("statsprog"), "fork"}, Mode::shim, {{"COHOOK_STATS", "stderr"}});
    pid_t parent = p.pid();
    auto line = p.read_line(10s);
    REQUIRE(line);
    REQUIRE(line->rfind("child ", 0) == 0);
    pid_t child = std::stoi(line->substr(6));

    RunResult live = cohook_stats(child);  // its own socket, made at the fork
    INFO("cohook stats " << child << ":\n" << live.describe());
    REQUIRE(live.ok());
    auto c = reports(live.out);
    REQUIRE(c.size() == 1);
    CHECK(c[0].at("pid") == static_cast<unsigned long long>(child));
    CHECK(cohook_stats(parent).ok());  // the parent's still answers

    RunResult end = p.wait(20s);
    INFO(end.describe());
    REQUIRE(end.ok());
    auto all = reports(end.err);
    REQUIRE(all.size() == 2);  // one line each, the child's first
    CHECK(all[0].at("pid") == static_cast<unsigned long long>(child));
    CHECK(all[0].at("coroutines_live") == 0);
    CHECK(all[0].at("parks_sleep") >= 150);
    CHECK(all[1].at("pid") == static_cast<unsigned long long>(parent));
    CHECK(all[1].at("parks_child") == 1);
}

TEST_CASE("without COHOOK_STATS there is no stats socket", "[stats]") {
    Proc p({bin("statsprog"), "live"}, Mode::shim, {});
    usleep(300 * 1000);  // well into main
    CHECK(!abstract_socket_exists("cohook-stats-" + std::to_string(p.pid())));
    RunResult r = cohook_stats(p.pid());
    INFO(r.describe());
    CHECK(r.code == 1);
    CHECK(r.out.empty());
    CHECK(r.err.find("does not serve stats") != std::string::npos);
    p.signal_it(SIGTERM);
    p.wait(10s);

    RunResult gone = cohook_stats(p.pid());
    CHECK(gone.code == 1);
    CHECK(gone.err.find("no such process") != std::string::npos);
}
