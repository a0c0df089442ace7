// The C++ standard library's threads on top of pthreads: an unmodified C++
// program (never linked to cohook).
//
//   cxxthreads [basic|unwind|jthread|latch|semaphore|atomic]...   (default: all)
//
// basic:  std::thread, std::mutex, std::condition_variable (notify, wait_for
//         timing out, wait_until on system_clock), thread_local objects whose
//         destructors run at thread exit, an exception thrown and caught
//         inside a thread, one carried to main by std::promise, std::async,
//         std::timed_mutex::try_lock_for, std::shared_mutex, sleep_for.
// unwind: glibc's forced unwinding: pthread_exit from a thread runs the
//         destructors of its locals, and a catch(...) that rethrows sees it;
//         the same for pthread_cancel of a thread blocked in read.
// C++20, one mode each: std::jthread with a stop_token and a
//         condition_variable_any woken by request_stop; std::latch;
//         std::counting_semaphore; std::atomic::wait/notify and std::barrier
//         (libstdc++ waits for these in futex(2) directly, not in pthread).
#include <pthread.h>
#include <unistd.h>

#include <time.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <future>
#include <latch>
#include <mutex>
#include <semaphore>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

static const char* yesno(bool b) { return b ? "yes" : "no"; }
static long ms_since(Clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

// ---- basic ----------------------------------------------------------------

static std::atomic<int> tl_constructed{0}, tl_destroyed{0};
struct PerThread {
    int value = 0;
    PerThread() { ++tl_constructed; }
    ~PerThread() { ++tl_destroyed; }
};
static thread_local PerThread per_thread;

static void basic() {
    {
        std::mutex m;
        long counter = 0;
        std::vector<std::thread> ts;
        for (int i = 0; i < 8; i++)
            ts.emplace_back([&] {
                for (int k = 0; k < 10000; k++) {
                    std::lock_guard<std::mutex> g(m);
                    ++counter;
                    if (k % 1000 == 0) std::this_thread::yield();
                }
                per_thread.value = 1;  // touch: constructs this thread's object
            });
        for (auto& t : ts) t.join();
        std::printf("std::thread x8, std::mutex: counter %ld; thread_local constructed %d, destroyed %d\n",
                    counter, tl_constructed.load(), tl_destroyed.load());
    }
    {
        std::mutex m;
        std::condition_variable cv;
        bool ready = false;
        int got = 0;
        std::thread consumer([&] {
            std::unique_lock<std::mutex> l(m);
            cv.wait(l, [&] { return ready; });
            got = 7;
        });
        std::this_thread::sleep_for(50ms);
        {
            std::lock_guard<std::mutex> g(m);
            ready = true;
        }
        cv.notify_one();
        consumer.join();
        std::printf("condition_variable notify_one: consumer got %d\n", got);

        std::unique_lock<std::mutex> l(m);
        auto t0 = Clock::now();
        auto st = cv.wait_for(l, 150ms);
        long el = ms_since(t0);
        // A spurious wakeup would be "no_timeout": loop like a program would.
        while (st == std::cv_status::no_timeout && el < 150) {
            st = cv.wait_for(l, 150ms - std::chrono::milliseconds(el));
            el = ms_since(t0);
        }
        std::printf("wait_for 150ms: %s, elapsed>=150ms: %s, <3s: %s\n",
                    st == std::cv_status::timeout ? "timeout" : "no_timeout", yesno(el >= 150),
                    yesno(el < 3000));
        t0 = Clock::now();
        bool pred = cv.wait_for(l, 100ms, [] { return false; });
        el = ms_since(t0);
        std::printf("wait_for 100ms with a false predicate: %s, elapsed>=100ms: %s\n", pred ? "true" : "false",
                    yesno(el >= 100));
        auto deadline = std::chrono::system_clock::now() + 100ms;
        st = cv.wait_until(l, deadline);
        while (st == std::cv_status::no_timeout) st = cv.wait_until(l, deadline);
        std::printf("wait_until system_clock +100ms: timeout, not early: %s\n",
                    yesno(std::chrono::system_clock::now() >= deadline));
    }
    {
        bool caught = false;
        std::thread t([&] {
            try {
                throw std::runtime_error("inside the thread");
            } catch (const std::exception& e) {
                caught = std::strcmp(e.what(), "inside the thread") == 0;
            }
        });
        t.join();
        std::printf("exception thrown and caught inside a thread: %s\n", yesno(caught));

        std::promise<int> p;
        auto f = p.get_future();
        std::thread t2([&] {
            try {
                throw std::out_of_range("carried to main");
            } catch (...) {
                p.set_exception(std::current_exception());
            }
        });
        std::string what;
        try {
            f.get();
        } catch (const std::out_of_range& e) {
            what = e.what();
        }
        t2.join();
        std::printf("exception carried to main by a promise: '%s'\n", what.c_str());

        auto a = std::async(std::launch::async, [] {
            std::this_thread::sleep_for(200ms);
            return 42;
        });
        auto ws = a.wait_for(20ms);
        std::printf("std::async: wait_for 20ms %s, get %d\n",
                    ws == std::future_status::timeout ? "timeout" : "ready", a.get());
    }
    {
        std::timed_mutex tm;
        tm.lock();
        bool got = true;
        long el = 0;
        std::thread t([&] {
            auto t0 = Clock::now();
            got = tm.try_lock_for(150ms);
            el = ms_since(t0);
            if (got) tm.unlock();
        });
        t.join();
        tm.unlock();
        std::printf("timed_mutex try_lock_for 150ms while held: %s, elapsed>=150ms: %s\n",
                    got ? "true" : "false", yesno(el >= 150));

        std::shared_mutex sm;
        std::atomic<int> inside{0}, max_inside{0};
        std::vector<std::thread> rs;
        for (int i = 0; i < 3; i++)
            rs.emplace_back([&] {
                std::shared_lock<std::shared_mutex> l(sm);
                int n = ++inside;
                int m = max_inside.load();
                while (n > m && !max_inside.compare_exchange_weak(m, n)) {
                }
                auto t0 = Clock::now();  // stay until all three are in (or 5 s)
                while (max_inside.load() < 3 && ms_since(t0) < 5000) std::this_thread::sleep_for(1ms);
                --inside;
            });
        for (auto& r : rs) r.join();
        sm.lock();
        bool excl = sm.try_lock_shared() == false;
        sm.unlock();
        std::printf("shared_mutex: 3 readers inside at once: %s, try_lock_shared while locked: %s\n",
                    yesno(max_inside.load() == 3), excl ? "false" : "true");

        std::recursive_mutex rm;
        rm.lock();
        bool again = rm.try_lock();
        rm.unlock();
        rm.unlock();
        auto t0 = Clock::now();
        std::this_thread::sleep_for(100ms);
        std::printf("recursive_mutex try_lock by owner: %s; sleep_for 100ms: elapsed>=100ms: %s\n",
                    again ? "true" : "false", yesno(ms_since(t0) >= 100));
    }
}

// ---- unwind -----------------------------------------------------------------

static std::atomic<int> dtors{0};
struct Guard {
    ~Guard() { ++dtors; }
};

static void deep_exit(int depth);
static void (*volatile deep_exit_ptr)(int) = deep_exit;  // an opaque call: no -Winfinite-recursion
static void deep_exit(int depth) {
    Guard g;
    if (depth > 0) deep_exit_ptr(depth - 1);
    pthread_exit(reinterpret_cast<void*>(7));  // reached at depth 0 only
}

static int pipe_fds[2];

static void unwind() {
    bool rethrown = false, after = false;
    void* v = nullptr;
    pthread_t t;
    struct Arg {
        bool* rethrown;
        bool* after;
    } arg{&rethrown, &after};
    pthread_create(
        &t, nullptr,
        [](void* p) -> void* {
            auto* a = static_cast<Arg*>(p);
            Guard outer;
            try {
                deep_exit(2);  // three Guards on the way down
            } catch (...) {
                *a->rethrown = true;  // glibc's forced unwind: must be rethrown
                throw;
            }
            *a->after = true;
            return nullptr;
        },
        &arg);
    pthread_join(t, &v);
    std::printf("pthread_exit(7) from a nested call: join value %ld, destructors run %d of 4, catch(...) saw "
                "it and rethrew: %s, code after it ran: %s\n",
                reinterpret_cast<long>(v), dtors.load(), yesno(rethrown), yesno(after));

    dtors = 0;
    if (pipe(pipe_fds) != 0) return;
    pthread_create(
        &t, nullptr,
        [](void*) -> void* {
            Guard g1;
            std::string s(1000, 'x');  // a heap-owning local too
            Guard g2;
            char c;
            (void)!read(pipe_fds[0], &c, 1);  // cancellation point, blocks
            return nullptr;
        },
        nullptr);
    std::this_thread::sleep_for(100ms);
    int rc = pthread_cancel(t);
    timespec d;  // bounded: a cancel that does not arrive is reported, not a hang
    clock_gettime(CLOCK_REALTIME, &d);
    d.tv_sec += 5;
    int jr = pthread_timedjoin_np(t, &v, &d);
    std::printf("pthread_cancel of a thread blocked in read: cancel %d, join %s, destructors run %d of 2\n", rc,
                jr != 0                  ? "still running after 5s"
                : v == PTHREAD_CANCELED ? "PTHREAD_CANCELED"
                                        : "not cancelled",
                dtors.load());

    // std::thread whose function calls pthread_exit: the thread ends quietly
    // (no std::terminate), locals destroyed.
    dtors = 0;
    std::thread st([] {
        Guard g;
        pthread_exit(nullptr);
    });
    st.join();
    std::printf("pthread_exit inside a std::thread: joined, destructors run %d of 1\n", dtors.load());
}

// ---- cxx20 ------------------------------------------------------------------

static void cxx20_jthread() {
    {
        std::mutex m;
        std::condition_variable_any cv;
        std::atomic<bool> stopped_seen{false};
        std::jthread j([&](std::stop_token st) {
            std::unique_lock<std::mutex> l(m);
            cv.wait(l, st, [] { return false; });  // only a stop request ends it
            stopped_seen = st.stop_requested();
        });
        std::this_thread::sleep_for(100ms);
        j.request_stop();
        j.join();
        std::printf("jthread + condition_variable_any woken by request_stop: %s\n", yesno(stopped_seen));
    }
}

static void cxx20_latch() {
    {
        std::latch done(4);
        std::atomic<int> n{0};
        std::vector<std::thread> ts;
        for (int i = 0; i < 4; i++)
            ts.emplace_back([&] {
                std::this_thread::sleep_for(50ms);
                ++n;
                done.count_down();
            });
        done.wait();
        std::printf("latch(4): main woke with all counted down: %s\n", yesno(n.load() == 4));
        for (auto& t : ts) t.join();
    }
}

static void cxx20_semaphore() {
    {
        std::counting_semaphore<8> sem(0);
        std::atomic<int> acquired{0};
        std::vector<std::thread> ts;
        for (int i = 0; i < 4; i++)
            ts.emplace_back([&] {
                sem.acquire();  // blocks until main releases
                ++acquired;
            });
        std::this_thread::sleep_for(100ms);
        int before = acquired.load();
        sem.release(4);
        for (auto& t : ts) t.join();
        bool timed = sem.try_acquire_for(100ms);
        std::printf("counting_semaphore: acquired before release %d, after %d, try_acquire_for 100ms: %s\n",
                    before, acquired.load(), timed ? "true" : "false");
    }
}

static void cxx20_atomic() {
    {
        std::atomic<int> flag{0};
        std::thread t([&] {
            flag.wait(0);  // futex wait until main stores and notifies
        });
        std::this_thread::sleep_for(100ms);
        flag = 1;
        flag.notify_all();
        t.join();
        std::barrier<> b(3);
        std::atomic<int> phases{0};
        std::vector<std::thread> ts;
        for (int i = 0; i < 3; i++)
            ts.emplace_back([&] {
                for (int p = 0; p < 20; p++) {
                    b.arrive_and_wait();
                    ++phases;
                }
            });
        for (auto& th : ts) th.join();
        std::printf("atomic wait/notify: woken; std::barrier 3 threads x 20 phases: %d\n", phases.load());
    }
}

int main(int argc, char** argv) {
    alarm(120);
    setvbuf(stdout, nullptr, _IOLBF, 0);
    std::vector<std::string> modes;
    for (int i = 1; i < argc; i++) modes.push_back(argv[i]);
    if (modes.empty()) modes = {"basic", "unwind", "jthread", "latch", "semaphore", "atomic"};
    for (auto& m : modes) {
        std::printf("== %s\n", m.c_str());
        if (m == "basic")
            basic();
        else if (m == "unwind")
            unwind();
        else if (m == "jthread")
            cxx20_jthread();
        else if (m == "latch")
            cxx20_latch();
        else if (m == "semaphore")
            cxx20_semaphore();
        else if (m == "atomic")
            cxx20_atomic();
        else {
            std::fprintf(stderr, "usage: cxxthreads [basic|unwind|jthread|latch|semaphore|atomic]...\n");
            return 2;
        }
    }
    return 0;
}
