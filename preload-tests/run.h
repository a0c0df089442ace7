// run.h: start a legacy program natively or under the shim, capture what it
// did, bounded in time. The only process-level helper preload_test.cpp needs.
//
//   RunResult r = run({bin("hello")}, Mode::shim, {{"COHOOK_STACK_SIZE", "12q"}});
//   // r.out, r.err, r.exited / r.code, r.signaled / r.sig, r.timed_out, r.wall_ms
//
// Mode::native runs the program with no LD_PRELOAD and no COHOOK_* variable;
// Mode::shim sets LD_PRELOAD=$COHOOK_LIB, followed by $COHOOK_SANITIZER_RUNTIME
// in a sanitizer build (see shim_preload() for why it comes second). Each
// program runs in its own process group; on the timeout the whole group is
// killed and the result says so, with the output captured until then. Any
// helper processes the program left behind are killed when it exits.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace pt {

using namespace std::chrono_literals;
using Env = std::map<std::string, std::string>;
enum class Mode { native, shim };

inline const char* mode_name(Mode m) { return m == Mode::native ? "native" : "shim"; }

struct RunResult {
    std::string cmd;       // for messages
    std::string out, err;  // captured stdout and stderr
    bool exited = false;   // exited normally, with `code`
    int code = -1;
    bool signaled = false; // killed by signal `sig`
    int sig = 0;
    bool timed_out = false;  // we killed it at the deadline
    double wall_ms = 0;

    bool ok() const { return exited && code == 0 && !timed_out; }
    std::string status() const {
        if (timed_out) return "TIMED OUT (killed)";
        if (exited) return "exit " + std::to_string(code);
        if (signaled) return std::string("killed by ") + sigabbrev_np(sig);
        return "?";
    }
    // Everything, for a failure message.
    std::string describe() const {
        std::ostringstream s;
        s << "$ " << cmd << "\n[" << status() << ", " << static_cast<long>(wall_ms)
          << " ms]\n--- stdout ---\n" << out << "--- stderr ---\n" << err << "---";
        return s.str();
    }
};

// Path of a legacy program built by preload-tests/meson.build.
inline std::string bin(const std::string& name) {
    const char* dir = std::getenv("COHOOK_TEST_BINDIR");
    if (!dir) throw std::runtime_error("COHOOK_TEST_BINDIR is not set (run through meson test)");
    return std::string(dir) + "/legacy_" + name;
}

inline std::string shim_preload() {
    const char* lib = std::getenv("COHOOK_LIB");
    if (!lib || !*lib) throw std::runtime_error("COHOOK_LIB is not set (run through meson test)");
    // ld.so only warns about a missing LD_PRELOAD object and runs the program
    // natively: every comparison would pass. Refuse instead.
    if (access(lib, R_OK) != 0)
        throw std::runtime_error(std::string("COHOOK_LIB=") + lib + " does not exist");
    // An instrumented libcohook.so needs the ASan runtime preloaded. ASan
    // wants to come first, but its own pthread_create interceptor would then
    // wrap every thread the program makes in ASan's per-OS-thread start-up,
    // which cannot run as a coroutine. So libcohook.so comes first (its
    // pthread_create is the program's), ASan's link-order check is off, and
    // coroutines are known to ASan through the fiber annotations.
    const char* san = std::getenv("COHOOK_SANITIZER_RUNTIME");
    return (san && *san) ? std::string(lib) + ":" + san : std::string(lib);
}

// A running program. Most tests use run(); servers use Proc directly.
class Proc {
public:
    Proc(const std::vector<std::string>& argv, Mode mode, const Env& extra = {}) {
        for (auto& a : argv) cmd_ += (cmd_.empty() ? "" : " ") + a;
        Env env;
        for (char** e = environ; *e; ++e) {
            std::string kv = *e;
            auto eq = kv.find('=');
            if (eq == std::string::npos) continue;
            std::string k = kv.substr(0, eq);
            if (k == "LD_PRELOAD" || k.rfind("COHOOK_", 0) == 0) continue;  // ours to set
            env[k] = kv.substr(eq + 1);
        }
        if (mode == Mode::shim) {
            env["LD_PRELOAD"] = shim_preload();
            // The sanitizer runtime preloaded into an uninstrumented program
            // would report the program's own (legitimate) exit-time leaks,
            // and turn a program's deliberate SIGSEGV death into a report
            // and exit 1 (the exits scenario dies of SIGSEGV natively).
            if (std::getenv("COHOOK_SANITIZER_RUNTIME"))
                env["ASAN_OPTIONS"] = env["ASAN_OPTIONS"] + (env["ASAN_OPTIONS"].empty() ? "" : ":") +
                                      "detect_leaks=0:verify_asan_link_order=0:handle_segv=0:handle_sigbus=0";
        }
        std::string shown;
        for (auto& [k, v] : extra) {
            env[k] = v;
            shown += k + "=" + v + " ";
        }
        cmd_ = std::string("[") + mode_name(mode) + "] " + shown + cmd_;
        std::vector<std::string> envs;
        for (auto& [k, v] : env) envs.push_back(k + "=" + v);
        std::vector<char*> cargv, cenv;
        for (auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
        cargv.push_back(nullptr);
        for (auto& e : envs) cenv.push_back(const_cast<char*>(e.c_str()));
        cenv.push_back(nullptr);

        int o[2], e[2];
        if (pipe2(o, O_CLOEXEC) != 0 || pipe2(e, O_CLOEXEC) != 0)
            throw std::runtime_error("pipe2 failed");
        start_ = std::chrono::steady_clock::now();
        pid_ = fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            setpgid(0, 0);
            int devnull = open("/dev/null", O_RDONLY);
            dup2(devnull, 0);
            dup2(o[1], 1);
            dup2(e[1], 2);
            signal(SIGPIPE, SIG_DFL);  // dispositions and mask as a shell would give
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, nullptr);
            execve(cargv[0], cargv.data(), cenv.data());
            dprintf(2, "exec %s: %s\n", cargv[0], strerror(errno));
            _exit(127);
        }
        setpgid(pid_, pid_);  // both sides, so that no kill can miss the group
        close(o[1]);
        close(e[1]);
        fd_[0] = o[0];
        fd_[1] = e[0];
        for (int fd : fd_) fcntl(fd, F_SETFL, O_NONBLOCK);
    }
    Proc(const Proc&) = delete;
    Proc& operator=(const Proc&) = delete;
    ~Proc() {
        if (!reaped_) {
            kill(-pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        for (int fd : fd_)
            if (fd >= 0) close(fd);
    }

    // The next full line of stdout (without '\n'), or nothing if the program
    // closed stdout or the time ran out. Used to read a server's port.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            auto nl = res_.out.find('\n', line_pos_);
            if (nl != std::string::npos) {
                std::string line = res_.out.substr(line_pos_, nl - line_pos_);
                line_pos_ = nl + 1;
                return line;
            }
            if (fd_[0] < 0 || std::chrono::steady_clock::now() >= deadline) return std::nullopt;
            pump(20);
        }
    }

    // Wait for the program to exit (killing its group at the deadline), then
    // collect the rest of its output.
    RunResult wait(std::chrono::milliseconds timeout) {
        auto deadline = start_ + timeout;
        int st = 0;
        for (;;) {
            pid_t r = waitpid(pid_, &st, WNOHANG);
            if (r == pid_) break;
            if (std::chrono::steady_clock::now() >= deadline) {
                res_.timed_out = true;
                kill(-pid_, SIGKILL);
                waitpid(pid_, &st, 0);
                break;
            }
            pump(20);
        }
        reaped_ = true;
        res_.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
        // Output still in the pipes; a leftover child holding them open gets
        // 2 s, then the group is killed.
        auto grace = std::chrono::steady_clock::now() + 2s;
        while ((fd_[0] >= 0 || fd_[1] >= 0) && std::chrono::steady_clock::now() < grace) pump(20);
        kill(-pid_, SIGKILL);
        auto hard = std::chrono::steady_clock::now() + 2s;  // a holder outside the group
        while ((fd_[0] >= 0 || fd_[1] >= 0) && std::chrono::steady_clock::now() < hard) pump(20);
        if (WIFEXITED(st)) {
            res_.exited = true;
            res_.code = WEXITSTATUS(st);
        } else if (WIFSIGNALED(st)) {
            res_.signaled = true;
            res_.sig = WTERMSIG(st);
        }
        res_.cmd = cmd_;
        return res_;
    }

    // Signal the program (not its group).
    void signal_it(int sig) { kill(pid_, sig); }

    // Its process id (for /proc/<pid>/...).
    pid_t pid() const { return pid_; }

private:
    // Read whatever is available on stdout/stderr, waiting up to `ms`.
    void pump(int ms) {
        pollfd p[2];
        int n = 0;
        for (int i = 0; i < 2; ++i)
            if (fd_[i] >= 0) p[n++] = {fd_[i], POLLIN, 0};
        if (n == 0) {
            usleep(static_cast<useconds_t>(ms) * 1000);
            return;
        }
        if (poll(p, static_cast<nfds_t>(n), ms) <= 0) return;
        for (int i = 0; i < n; ++i) {
            if (!p[i].revents) continue;
            int which = p[i].fd == fd_[0] ? 0 : 1;
            std::string& dst = which == 0 ? res_.out : res_.err;
            char buf[65536];
            for (;;) {
                ssize_t got = read(fd_[which], buf, sizeof buf);
                if (got > 0) {
                    dst.append(buf, static_cast<size_t>(got));
                    continue;
                }
                if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                    close(fd_[which]);
                    fd_[which] = -1;
                }
                break;
            }
        }
    }

    std::string cmd_;
    pid_t pid_ = -1;
    int fd_[2] = {-1, -1};
    bool reaped_ = false;
    size_t line_pos_ = 0;
    RunResult res_;
    std::chrono::steady_clock::time_point start_;
};

inline RunResult run(const std::vector<std::string>& argv, Mode mode, const Env& extra = {},
                     std::chrono::milliseconds timeout = 20s) {
    Proc p(argv, mode, extra);
    return p.wait(timeout);
}

// Lines of a text, without their '\n'.
inline std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> v;
    std::istringstream s(text);
    for (std::string l; std::getline(s, l);) v.push_back(l);
    return v;
}

// The value after "key: " on the first line that starts with key, or "".
inline std::string field(const std::string& text, const std::string& key) {
    for (auto& l : lines(text))
        if (l.rfind(key + ": ", 0) == 0) return l.substr(key.size() + 2);
    return "";
}

}  // namespace pt
