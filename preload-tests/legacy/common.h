/* Helpers shared by the legacy test programs.
 *
 * These programs stand for "any unmodified blocking Linux program": they never
 * include a cohook header and never link to libcohook. preload_test.cpp runs
 * each one natively and under LD_PRELOAD=libcohook.so and compares stdout and
 * exit status, so everything printed to stdout must be deterministic: times are
 * printed as yes/no bounds ("elapsed>=300ms: yes"), never as numbers. Details
 * that may vary between runs (fd numbers, exact counts) go to stderr.
 */
#ifndef COHOOK_LEGACY_COMMON_H
#define COHOOK_LEGACY_COMMON_H

#include <arpa/inet.h>
#include <pthread.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Line-buffered stdout: nothing is lost if the runner kills us on a timeout,
 * and a fork without exec does not duplicate buffered output. */
__attribute__((constructor)) static void legacy_line_buffered(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
}

static inline double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* "EAGAIN", "EPIPE"... (glibc >= 2.32). */
static inline const char *ename(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

static inline const char *yesno(int b) { return b ? "yes" : "no"; }

#define DIE(...)                                                          \
    do {                                                                  \
        int die_errno_ = errno;                                           \
        fprintf(stderr, __VA_ARGS__);                                     \
        fprintf(stderr, " (errno %s, %s:%d)\n", ename(die_errno_),       \
                __FILE__, __LINE__);                                      \
        exit(99);                                                         \
    } while (0)

/* Sleep that resumes after signals (not the thing under test). */
static inline void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static inline int write_all(int fd, const void *buf, size_t len)
{
    const char *p = (const char *)buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A TCP listener on 127.0.0.1, kernel-chosen port (tests run in parallel). */
/* The late peer a blocking read waits for: a thread that writes `msg` to
 * `fd` after `ms` milliseconds. `w` must outlive the thread; pthread_join
 * the returned thread. */
struct late_write {
    int fd;
    int ms;
    const char *msg;
};
static inline void *late_write_thread(void *arg)
{
    struct late_write *w = arg;
    msleep(w->ms);
    if (write_all(w->fd, w->msg, strlen(w->msg)) != 0)
        DIE("late write");
    return NULL;
}
static inline pthread_t write_later(struct late_write *w)
{
    pthread_t t;
    pthread_create(&t, NULL, late_write_thread, w);
    return t;
}

static inline int tcp_listener(int *port, int backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        DIE("socket");
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
        DIE("bind");
    if (backlog > 0 && listen(fd, backlog) != 0)
        DIE("listen");
    socklen_t len = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        DIE("getsockname");
    *port = ntohs(a.sin_port);
    return fd;
}

static inline struct sockaddr_in loopback_addr(int port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);
    return a;
}

/* Blocking connect to 127.0.0.1:port; dies on failure. */
static inline int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        DIE("socket");
    struct sockaddr_in a = loopback_addr(port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        DIE("connect to port %d", port);
    return fd;
}

/* Number of this process's fds that are epoll instances. The shim's carrier
 * owns one; a program run natively (or with COHOOK_DISABLE=1) has none. */
static inline int count_eventpoll_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        DIE("opendir /proc/self/fd");
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], target[128];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = 0;
        if (strcmp(target, "anon_inode:[eventpoll]") == 0)
            count++;
    }
    closedir(d);
    return count;
}

/* ---- helpers for the thread programs (prodcons, rwlock, joins...) ---- */

/* A hang becomes a clear failure: SIGALRM's default action kills the
 * process ("killed by SIGALRM" in the runner's report). */
static inline void self_alarm(unsigned secs)
{
    alarm(secs);
}

/* pthread_create that dies on failure. */
static inline pthread_t spawn(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    int rc = pthread_create(&t, NULL, fn, arg);
    if (rc != 0) {
        errno = rc;
        DIE("pthread_create");
    }
    return t;
}

/* Join and return the thread's value as a long; dies on failure. */
static inline long join_long(pthread_t t)
{
    void *v;
    int rc = pthread_join(t, &v);
    if (rc != 0) {
        errno = rc;
        DIE("pthread_join");
    }
    return (long)v;
}

/* An absolute deadline `ms` from now on clock `clk` (for the *timedwait,
 * *timedlock, *clockwait and *timedjoin families). */
static inline struct timespec deadline_in(clockid_t clk, int ms)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Has clock `clk` reached the absolute time `d`? ("never early") */
static inline int reached(clockid_t clk, const struct timespec *d)
{
    struct timespec now;
    clock_gettime(clk, &now);
    return now.tv_sec > d->tv_sec || (now.tv_sec == d->tv_sec && now.tv_nsec >= d->tv_nsec);
}

/* A deadline with tv_nsec out of range (EINVAL when the call would wait). */
static inline struct timespec bad_deadline(clockid_t clk)
{
    struct timespec ts = deadline_in(clk, 1000);
    ts.tv_nsec = 1000000000L;
    return ts;
}

/* A 64-bit mixing function (splitmix's finaliser), for payloads and
 * checksums that depend on a seed. */
static inline uint64_t mix(uint64_t v)
{
    v ^= v >> 33;
    v *= 0xff51afd7ed558ccdull;
    v ^= v >> 33;
    v *= 0xc4ceb9fe1a85ec53ull;
    v ^= v >> 33;
    return v;
}

/* "0" or the errno name of a pthread-style return code. */
static inline const char *rcname(int rc)
{
    return rc == 0 ? "0" : ename(rc);
}

/* The number after "key:" in /proc/self/status (kB for Vm*, a count for
 * Threads), or -1. */
static inline long self_status(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    size_t kl = strlen(key);
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* Proof that a wait somewhere in the program leaves the other threads
 * running: two threads play ping-pong over a socketpair every 2 ms and
 * record the longest gap between rounds. pingpong_start(); before each wait
 * pingpong_reset(); after it pingpong_report(what) prints what and whether
 * the gap stayed under 150 ms. */
__attribute__((unused)) static int pp_sv[2];
__attribute__((unused)) static volatile int pp_stop;
__attribute__((unused)) static volatile double pp_max_gap;
__attribute__((unused)) static pthread_t pp_threads[2];

static inline void *pp_pinger(void *arg)
{
    (void)arg;
    char c = 'x';
    double last = now_ms();
    while (!pp_stop) {
        if (write(pp_sv[0], &c, 1) != 1 || read(pp_sv[0], &c, 1) != 1)
            break;
        msleep(2);
        double t = now_ms();
        if (t - last > pp_max_gap)
            pp_max_gap = t - last;
        last = t;
    }
    return NULL;
}

static inline void *pp_ponger(void *arg)
{
    (void)arg;
    char c;
    while (read(pp_sv[1], &c, 1) == 1 && write(pp_sv[1], &c, 1) == 1) {
    }
    return NULL;
}

static inline void pingpong_start(void)
{
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pp_sv) != 0)
        DIE("socketpair");
    pp_threads[0] = spawn(pp_ponger, NULL);
    pp_threads[1] = spawn(pp_pinger, NULL);
    msleep(50);
}

static inline void pingpong_reset(void) { pp_max_gap = 0; }

static inline void pingpong_report(const char *what)
{
    /* The first round after a stall is the one that sees it: let it run. */
    msleep(30);
    printf("%s; the other threads kept running: %s\n", what, pp_max_gap < 150 ? "yes" : "no");
    if (pp_max_gap >= 150)
        fprintf(stderr, "%s: longest ping-pong gap %.0f ms\n", what, pp_max_gap);
}

static inline void pingpong_stop(void)
{
    pp_stop = 1;
    pthread_join(pp_threads[1], NULL);
    shutdown(pp_sv[0], SHUT_RDWR);
    pthread_join(pp_threads[0], NULL);
}

/* The thread a stall program keeps beside its wait (stall_stdio, stall_lock,
 * stall_msgq): it ticks every 5 ms, so when the wait holds the only carrier
 * the stall watchdog has a runnable thread kept waiting to report.
 * ticker_start() before the wait; ticker_stop() after it joins the thread
 * and returns the number of ticks (varies between runs: print to stderr). */
__attribute__((unused)) static volatile int tk_stop;
__attribute__((unused)) static volatile int tk_ticks;
__attribute__((unused)) static pthread_t tk_thread;

static inline void *tk_main(void *arg)
{
    (void)arg;
    while (!tk_stop) {
        tk_ticks++;
        msleep(5);
    }
    return NULL;
}

static inline void ticker_start(void) { tk_thread = spawn(tk_main, NULL); }

static inline int ticker_stop(void)
{
    tk_stop = 1;
    pthread_join(tk_thread, NULL);
    return tk_ticks;
}

#endif
