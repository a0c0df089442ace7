// stall_test: the stall watchdog (COHOOK_STALL_MS, runtime/watchdog.h) on
// ways a thread holds its carrier -- a spin, stdio on a socket, a
// process-shared mutex, msgrcv -- each program run natively and under the shim with
// one carrier: stdout identical, and under the shim exactly one report on
// stderr whose content names the carrier, the thread's start routine, the
// frames and the hint. COHOOK_STALL_MS=0 and native runs print none. An idle
// process with the watchdog on makes no context switch in 2 s.
#include <dirent.h>
#include <sys/syscall.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <thread>

#include "run.h"

using namespace pt;
using Catch::Matchers::Contains;

namespace {

const Env kOneCarrier = {{"COHOOK_CARRIERS", "1"}};

size_t count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) n++;
    return n;
}

// The report's lines (the first starts with "cohook[PID]: stall:").
std::vector<std::string> report_lines(const std::string& err) {
    std::vector<std::string> out;
    bool in = false;
    for (auto& l : lines(err)) {
        if (l.find("]: stall: ") != std::string::npos) in = true;
        else if (in && l.rfind("  ", 0) != 0) in = false;
        if (in) out.push_back(l);
    }
    return out;
}

// Native and under the shim (1 carrier): same stdout and status; the shim's
// stderr holds exactly one report, returned.
std::string one_report(const std::string& prog, const std::string& want_out) {
    auto native = run({bin(prog)}, Mode::native);
    INFO("native run:\n" << native.describe());
    REQUIRE(native.status() == "exit 0");
    CHECK(native.out == want_out);
    CHECK(count(native.err, "stall:") == 0);
    auto shim = run({bin(prog)}, Mode::shim, kOneCarrier);
    INFO("shim run:\n" << shim.describe());
    CHECK(shim.status() == "exit 0");
    CHECK(shim.out == native.out);
    CHECK(count(shim.err, "]: stall: carrier 0 (tid ") == 1);
    auto rep = report_lines(shim.err);
    std::string text;
    for (auto& l : rep) text += l + "\n";
    return text;
}

int ms_in(const std::string& report) {
    auto at = report.find("for at least ");
    return at == std::string::npos ? -1 : std::atoi(report.c_str() + at + 13);
}

// Context switches of every thread of pid, and how many threads.
std::pair<long, int> switches(int pid) {
    long sum = 0;
    int threads = 0;
    std::string dir = "/proc/" + std::to_string(pid) + "/task";
    DIR* d = opendir(dir.c_str());
    if (!d) return {-1, 0};
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        threads++;
        std::ifstream f(dir + "/" + e->d_name + "/status");
        for (std::string l; std::getline(f, l);)
            if (l.rfind("voluntary_ctxt_switches:", 0) == 0 || l.rfind("nonvoluntary_ctxt_switches:", 0) == 0)
                sum += std::atol(l.c_str() + l.find(':') + 1);
    }
    closedir(d);
    return {sum, threads};
}

}  // namespace

TEST_CASE("stall watchdog: a spinning thread beside a ping-pong is reported once, with its function, "
          "start routine and the COHOOK_NATIVE_THREADS hint",
          "[stallspin]") {
    std::string rep = one_report("stall_spin", "spun twice for 400 ms beside a ping-pong: every ping answered: yes\n");
    INFO("report:\n" << rep);
    CHECK_THAT(rep, Contains("(start routine spin_worker)"));
    CHECK(ms_in(rep) >= 100);
    CHECK_THAT(rep, Contains("  #0 "));
    CHECK_THAT(rep, Contains(" spin_for+0x"));
    CHECK_THAT(rep, Contains("(legacy_stall_spin)"));
    CHECK_THAT(rep, Contains("  hint: a computation or spin loop"));
    CHECK_THAT(rep, Contains("COHOOK_NATIVE_THREADS=spin_worker"));

    SECTION("main parked on the carrier is a thread kept waiting too") {
        auto native = run({bin("stall_spin"), "main"}, Mode::native);
        auto r = run({bin("stall_spin"), "main"}, Mode::shim, kOneCarrier);
        INFO(native.describe() << r.describe());
        CHECK(r.status() == "exit 0");
        CHECK(r.out == native.out);
        CHECK(count(r.err, "]: stall: carrier 0 (tid ") == 1);
        CHECK_THAT(r.err, Contains("(start routine spin_worker)"));
        CHECK_THAT(r.err, Contains("(1 other thread(s) live there)"));
    }
    SECTION("COHOOK_STALL_MS=0: no report, no monitor") {
        auto r = run({bin("stall_spin")}, Mode::shim, {{"COHOOK_CARRIERS", "1"}, {"COHOOK_STALL_MS", "0"}});
        INFO(r.describe());
        CHECK(r.status() == "exit 0");
        CHECK(count(r.err, "stall:") == 0);
    }
    SECTION("COHOOK_STATS counts both episodes, the second one unprinted") {
        auto r = run({bin("stall_spin")}, Mode::shim, {{"COHOOK_CARRIERS", "1"}, {"COHOOK_STATS", "stderr"}});
        INFO(r.describe());
        CHECK(r.status() == "exit 0");
        CHECK(count(r.err, "]: stall: ") == 1);
        CHECK_THAT(r.err, Contains("stalls 2"));
    }
}

TEST_CASE("stall watchdog: fgets() on a socket that answers after 500 ms is reported with stdio frames and hint",
          "[stallstdio]") {
    std::string rep = one_report("stall_stdio", "fgets read: late line\nthe peer process exited 0\n");
    INFO("report:\n" << rep);
    CHECK_THAT(rep, Contains("(start routine reader_main)"));
    CHECK(ms_in(rep) >= 100);
    CHECK_THAT(rep, Contains(" fgets+0x"));
    CHECK_THAT(rep, Contains(" _IO_"));
    CHECK_THAT(rep, Contains(" reader_main+0x"));
    CHECK_THAT(rep, Contains("  hint: stdio reads or writes inside libc"));
    CHECK_THAT(rep, Contains("COHOOK_NATIVE_THREADS=reader_main"));
}

TEST_CASE("stall watchdog: a process-shared mutex held 500 ms by another process is reported with "
          "pthread_mutex_lock and the native-lock hint",
          "[stalllock]") {
    std::string rep = one_report("stall_lock", "locked the process-shared mutex after the child let go: yes\n");
    INFO("report:\n" << rep);
    CHECK_THAT(rep, Contains("(start routine locker_main)"));
    CHECK(ms_in(rep) >= 100);
    CHECK_THAT(rep, Contains(" pthread_mutex_lock+0x"));
    CHECK_THAT(rep, Contains(" locker_main+0x"));
    CHECK_THAT(rep, Contains("  hint: a lock glibc waits for in the kernel"));
}

TEST_CASE("stall watchdog: msgrcv, which a signal would end with EINTR, is reported without the sampling "
          "signal, from where it was called; msgrcv still returns the message",
          "[stallmsgq]") {
    std::string rep =
        one_report("stall_msgq", "msgrcv: 16 bytes 'late message'\nthe sender exited 0\n");
    INFO("report:\n" << rep);
    CHECK(ms_in(rep) >= 100);
    CHECK_THAT(rep, Contains("  no backtrace: it waits in system call " + std::to_string(SYS_msgrcv) +
                             ", which the watchdog's signal would interrupt"));
    CHECK_THAT(rep, Contains("  #0 msgrcv+0x"));
    CHECK_THAT(rep, Contains("  hint: a call the shim does not interpose (msgrcv)"));
}

TEST_CASE("stall watchdog: an idle process with the watchdog on makes no context switch in 2 s", "[stallidle]") {
    for (const char* stall : {"100", "0"}) {
        INFO("COHOOK_STALL_MS=" << stall);
        Proc p({bin("stall_spin"), "idle"}, Mode::shim, {{"COHOOK_CARRIERS", "1"}, {"COHOOK_STALL_MS", stall}});
        auto line = p.read_line(10s);
        REQUIRE(line == std::optional<std::string>("idle"));
        std::this_thread::sleep_for(300ms);  // let every thread settle
        auto before = switches(p.pid());
        std::this_thread::sleep_for(2s);
        auto after = switches(p.pid());
        auto r = p.wait(20s);
        INFO(r.describe());
        CHECK(r.status() == "exit 0");
        CHECK(r.out == "idle\nwoke up\n");
        // main (the one carrier) and, when on, the monitor.
        CHECK(before.second == (std::string(stall) == "0" ? 1 : 2));
        CHECK(after.first == before.first);
    }
}
