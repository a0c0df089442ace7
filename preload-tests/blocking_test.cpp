// blocking_test: the blocking calls of issue 5 that have no fd of their own
// to park on, or none the kernel calls "not ready" -- regular-file I/O
// (COHOOK_FILE_IO), Linux AIO and io_uring completion waits, futex waits
// made through syscall(), and fds the shim first meets when they are used.
//
// Each program runs natively and under the shim (COHOOK_CARRIERS=1, where a
// call that held the carrier would stop everything else, and 2), and prints
// the same lines; the native run is checked against the lines the scenario is
// about. The waits run beside the ping-pong threads of legacy/common.h,
// whose "kept running: yes" is part of the compared output.
//
// Linked into preload_test; one meson test per tag.
#include <sys/syscall.h>

#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <regex>

#include "run.h"

using namespace pt;

namespace {

const char* const kCarrierCounts[] = {"1", "2"};

bool have(const std::string& program) { return access(bin(program).c_str(), X_OK) == 0; }

void require_lines(const RunResult& r, const std::vector<std::string>& want) {
    INFO(r.describe());
    auto have_lines = lines(r.out);
    for (auto& w : want) {
        INFO("expected line: " << w);
        CHECK(std::find(have_lines.begin(), have_lines.end(), w) != have_lines.end());
    }
}

// `shim` ended as `native` did and printed the same.
void require_same(const RunResult& native, const RunResult& shim) {
    INFO("native run:\n" << native.describe());
    INFO("shim run:\n" << shim.describe());
    REQUIRE(native.ok());
    CHECK(shim.status() == native.status());
    CHECK(shim.out == native.out);
}

// The "offloaded N" figure of a COHOOK_STATS=stderr report; -1 if none.
long offloaded_count(const RunResult& r) {
    std::smatch m;
    static const std::regex re("cohook stats:.* offloaded ([0-9]+)");
    return std::regex_search(r.err, m, re) ? std::stol(m[1]) : -1;
}

}  // namespace

TEST_CASE("regular-file I/O: the same results inline and offloaded; a FIFO's open parks when offloaded",
          "[fileio]") {
    for (const char* program : {"fileio", "fileio32"}) {
        INFO(program);
        auto native = run({bin(program), "fifo"}, Mode::native, {}, 20s);
        require_lines(native, {
            "open(O_CREAT|O_EXCL): ok",
            "open again: -1 EEXIST",
            "write: 12",
            "writev: 13",
            "pwrite at 100: 10",
            "pwritev at 200: 7",
            "fsync: 0",
            "fdatasync: 0",
            "read: 12 'hello, file'",
            "readv: 13 'vector ' 'write'",
            "pread at 100: 10 'positioned'",
            "preadv at 200: 7 'pw' 'ritev'",
            "pread past the end: 0",
            "offset after the positioned calls: 25",
            "pread of 64 KiB after POSIX_FADV_DONTNEED: 65536, content right: yes",
            "openat+read: 5 'hello'",
            "read of a directory: -1 EISDIR",
            "creat: ok",
            "write to it: 3",
            "after O_APPEND: 6 'abcdef'",
            "write to an O_RDONLY file: -1 EBADF",
            "open(missing): -1 ENOENT",
            "openat(bad dirfd): -1 EBADF",
            "read(bad fd): -1 EBADF",
            "pread(bad fd): -1 EBADF",
            "fsync(bad fd): -1 EBADF",
            "pread on a pipe: -1 ESPIPE",
            "pwrite on a pipe: -1 ESPIPE",
            "fsync on a pipe: -1 EINVAL",
            "fdatasync on a pipe: -1 EINVAL",
            "open(fifo, O_RDONLY) waited for the writer: yes, read 16 'through the fifo'; the other threads kept "
            "running: yes",
        });
        REQUIRE(native.ok());
        // The FIFO part needs the writer to run while the reader's open
        // waits: in inline mode that open holds the carrier (documented).
        auto native_plain = run({bin(program)}, Mode::native, {}, 20s);
        for (const char* carriers : kCarrierCounts) {
            INFO("COHOOK_CARRIERS=" << carriers);
            for (const char* stack : {"private", "shared"}) {
                INFO("COHOOK_STACK_MODE=" << stack);
                Env env{{"COHOOK_CARRIERS", carriers}, {"COHOOK_STACK_MODE", stack}, {"COHOOK_STATS", "stderr"}};
                auto in_line = run({bin(program)}, Mode::shim, env, 20s);
                require_same(native_plain, in_line);
                CHECK(offloaded_count(in_line) == 0);

                env["COHOOK_FILE_IO"] = "offload";
                auto offload = run({bin(program), "fifo"}, Mode::shim, env, 20s);
                require_same(native, offload);
                // open, write, pread... each went through the pool.
                INFO(offload.err);
                CHECK(offloaded_count(offload) >= 20);
            }
        }
    }
}

TEST_CASE("libaio's io_getevents waits without holding the carrier", "[aio]") {
    if (!have("aio")) {
        WARN("aio skipped: legacy_aio was not built (libaio-dev missing)");
        return;
    }
    auto native = run({bin("aio")}, Mode::native, {}, 20s);
    require_lines(native, {
        "io_setup: 0",
        "io_submit(poll): 1",
        "io_getevents(min 1, no timeout): 1, POLLIN yes, right iocb yes, waited >= 250 ms: yes; the other threads "
        "kept running: yes",
        "io_getevents(min 1, 200 ms) on an idle context: 0, waited >= 150 ms: yes; the other threads kept running: yes",
        "io_pgetevents(min 1, 100 ms): 0, waited >= 50 ms: yes",
        "io_submit(2 preads): 2",
        "io_getevents(min 2): 2 events, 8 bytes, '0123' 'abcd'",
        "io_getevents(min 0) on an idle context: 0",
        "io_getevents(zero timeout): 0",
        "io_getevents(min > nr): EINVAL",
        "io_destroy: 0",
    });
    for (const char* carriers : kCarrierCounts) {
        INFO("COHOOK_CARRIERS=" << carriers);
        for (const char* stack : {"private", "shared"}) {
            INFO("COHOOK_STACK_MODE=" << stack);
            auto shim = run({bin("aio")}, Mode::shim,
                            {{"COHOOK_CARRIERS", carriers}, {"COHOOK_STACK_MODE", stack}, {"COHOOK_STATS", "stderr"}},
                            20s);
            require_same(native, shim);
            INFO(shim.err);
            CHECK(offloaded_count(shim) >= 2);  // the two waits that had to wait
        }
    }
}

TEST_CASE("io_uring_enter through syscall() parks; liburing's own wait escapes the hooks", "[uring]") {
    if (!have("uring")) {
        WARN("uring skipped: legacy_uring was not built (liburing-dev missing)");
        return;
    }
    auto native = run({bin("uring")}, Mode::native, {}, 20s);
    if (native.out.rfind("uring skip: ", 0) == 0) {
        WARN("uring skipped: " << native.out);
        return;
    }
    require_lines(native, {
        "io_uring_submit: 1",
        "syscall(io_uring_enter, min_complete 1): 0, 1 completion(s) res 4 'late', waited >= 250 ms: yes; the "
        "other threads kept running: yes",
        "syscall(io_uring_enter, min_complete 2): 0, 2 completion(s) res 11 'first' 'second', waited >= 350 ms: "
        "yes; the other threads kept running: yes",
        "io_uring_enter(bad fd): -1 EBADF",
        "io_uring_enter(a socket): -1 EOPNOTSUPP",
        "io_uring_wait_cqe: 0, res 4 tag 4 'cqe!', waited >= 250 ms: yes",
    });
    // The watchdog off: its sampling signal would interrupt the blocked
    // liburing wait (below).
    for (const char* carriers : kCarrierCounts) {
        INFO("COHOOK_CARRIERS=" << carriers);
        auto shim = run({bin("uring")}, Mode::shim, {{"COHOOK_CARRIERS", carriers}, {"COHOOK_STALL_MS", "0"}}, 20s);
        require_same(native, shim);
        if (std::string(carriers) == "1") {
            // The documented escape (docs/compatibility.md): liburing 2.3's
            // inline syscall holds the only carrier, so the ping-pong threads
            // stand still for the whole 300 ms wait. Should this start
            // failing, the escape is gone: update the docs.
            std::smatch m;
            std::regex re("wait_cqe gap: ([0-9]+) ms");
            INFO(shim.err);
            REQUIRE(std::regex_search(shim.err, m, re));
            CHECK(std::stol(m[1]) >= 250);
        }
    }
    // With the watchdog on (COHOOK_STALL_MS default) the stall is reported
    // with the io_uring hint. The kernel would end the io_uring wait with
    // EINTR on any signal, so the watchdog sends none: the report names the
    // system call and the liburing address it was made from, and the
    // program's output stays native.
    auto watched = run({bin("uring")}, Mode::shim, {{"COHOOK_CARRIERS", "1"}}, 20s);
    INFO(watched.describe());
    require_same(native, watched);
    CHECK(watched.err.find("stall: carrier") != std::string::npos);
    CHECK(watched.err.find("system call " + std::to_string(SYS_io_uring_enter)) != std::string::npos);
    CHECK(watched.err.find("(liburing.so.2+0x") != std::string::npos);
    CHECK(watched.err.find("hint: liburing enters the kernel directly") != std::string::npos);
}

TEST_CASE("a futex wait through syscall() is woken by a coroutine on the same carrier", "[futexsame]") {
    auto native = run({bin("futexsame")}, Mode::native, {}, 20s);
    require_lines(native, {
        "FUTEX_WAIT_PRIVATE: woken yes, word 1 yes, waited >= 150 ms yes, waker woke <= 1: yes; the other threads "
        "kept running: yes",
        "FUTEX_WAIT (shared): woken yes, word 1 yes, waited >= 150 ms yes, waker woke <= 1: yes; the other threads "
        "kept running: yes",
        "FUTEX_WAIT_BITSET_PRIVATE: woken yes, word 1 yes, waited >= 150 ms yes, waker woke <= 1: yes; the other "
        "threads kept running: yes",
        "timed wait: -1 ETIMEDOUT, waited >= 140 ms: yes",
        "value mismatch: -1 EAGAIN",
        "wake with no waiter: 0",
    });
    for (const char* carriers : kCarrierCounts) {
        INFO("COHOOK_CARRIERS=" << carriers);
        require_same(native, run({bin("futexsame")}, Mode::shim, {{"COHOOK_CARRIERS", carriers}}, 20s));
    }
}

TEST_CASE("accept and read on fds inherited over exec park (the shim learns them on first use)", "[lazyfd]") {
    auto native = run({bin("lazyfd")}, Mode::native, {}, 20s);
    require_lines(native, {
        "child: accept on the inherited listener: ok, waited >= 250 ms: yes; the other threads kept running: yes",
        "child: read on the inherited pipe: 9 'inherited', waited >= 250 ms: yes; the other threads kept running: yes",
        "child: read on the accepted socket: 0",
        "parent: child exit status 0",
    });
    for (const char* carriers : kCarrierCounts) {
        INFO("COHOOK_CARRIERS=" << carriers);
        require_same(native, run({bin("lazyfd")}, Mode::shim, {{"COHOOK_CARRIERS", carriers}}, 20s));
    }
}
