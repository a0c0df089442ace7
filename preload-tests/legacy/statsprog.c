/* statsprog: a known number of blocking waits of each kind, for the
 * COHOOK_STATS tests (stats_test.cpp).
 *
 * `statsprog` runs the steps below once. Under the shim with one carrier
 * (COHOOK_CARRIERS=1) every wait marked "parks" does park, exactly once: a
 * new thread does not run until the creating thread waits, so the waits are
 * ordered without any race (stats_test.cpp lists the resulting counts).
 * `statsprog live` naps 10 ms at a time for up to 60 s: a live process whose
 * counters keep growing. `statsprog fork` forks a child that prints its pid,
 * naps for 1.5 s and exits normally; the parent waits for it.
 */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/futex.h>

static void nap(int ms) { usleep((useconds_t)ms * 1000); } /* parks: sleep */

static int pipe_in[2], pipe_big[2];

static void *reader(void *arg)
{
    (void)arg;
    char c;
    ssize_t n = read(pipe_in[0], &c, 1); /* parks: read (nothing written yet) */
    return (void *)(intptr_t)n;
}

enum { kBig = 100000 };
static char big[kBig];

static void *writer(void *arg)
{
    (void)arg;
    ssize_t n = write(pipe_big[1], big, kBig); /* parks: write (the pipe holds 64 KiB) */
    return (void *)(intptr_t)n;
}

static int listener;

static void *acceptor(void *arg)
{
    (void)arg;
    int c = accept(listener, NULL, NULL); /* parks: accept (no client yet) */
    if (c >= 0) close(c);
    return (void *)(intptr_t)(c >= 0 ? 0 : errno);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void *locker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu); /* parks: mutex (main holds it) */
    pthread_mutex_unlock(&mu);
    return (void *)(intptr_t)1;
}

static pthread_mutex_t cmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int flag;

static void *cond_waiter(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&cmu);
    while (!flag) pthread_cond_wait(&cv, &cmu); /* parks: cond */
    pthread_mutex_unlock(&cmu);
    return (void *)(intptr_t)flag;
}

/* Start fn, let it reach its wait, then `release` it and join: the join parks
 * (the thread has been made runnable, it has not run yet). Threads print
 * nothing themselves (natively they run in parallel): main prints what fn
 * returned. */
static void step(const char *label, void *(*fn)(void *), void (*release)(void))
{
    pthread_t t;
    if (pthread_create(&t, NULL, fn, NULL) != 0) DIE("pthread_create");
    nap(20);
    release();
    void *ret;
    pthread_join(t, &ret); /* parks: join */
    printf("%s: %ld\n", label, (long)(intptr_t)ret);
}

static void release_reader(void)
{
    if (write(pipe_in[1], "x", 1) != 1) DIE("write");
}

static void release_writer(void)
{
    static char buf[65536];
    ssize_t n = read(pipe_big[0], buf, sizeof buf); /* the full pipe: no wait */
    printf("main: read %zd bytes\n", n);
}

static void release_acceptor(void)
{
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    socklen_t len = sizeof a;
    if (getsockname(listener, (struct sockaddr *)&a, &len) != 0) DIE("getsockname");
    if (connect(s, (struct sockaddr *)&a, len) != 0) DIE("connect"); /* backlog room: no wait */
    close(s);
}

static void release_locker(void) { pthread_mutex_unlock(&mu); }

static void release_cond_waiter(void)
{
    pthread_mutex_lock(&cmu);
    flag = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&cmu);
}

static int live(void)
{
    for (int i = 0; i < 6000; i++) nap(10);
    return 0;
}

static int forked(void)
{
    pid_t pid = fork();
    if (pid < 0) DIE("fork");
    if (pid == 0) {
        printf("child %d\n", (int)getpid());
        for (int i = 0; i < 150; i++) nap(10);
        exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    printf("child exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "live") == 0) return live();
    if (argc > 1 && strcmp(argv[1], "fork") == 0) return forked();

    for (int i = 0; i < 3; i++) nap(1);
    printf("slept 3 times\n");

    if (pipe(pipe_in) != 0 || pipe(pipe_big) != 0) DIE("pipe");
    step("reader got", reader, release_reader);
    step("writer wrote", writer, release_writer);
    static char rest[kBig];
    size_t got = 0;
    while (got < kBig - 65536) { /* written before the writer ended: no wait */
        ssize_t n = read(pipe_big[0], rest, sizeof rest);
        if (n <= 0) DIE("read rest");
        got += (size_t)n;
    }
    printf("main: read the other %zu bytes\n", got);

    /* An abstract Unix listener (autobind): no file to clean up. */
    listener = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (bind(listener, (struct sockaddr *)&a, sizeof(sa_family_t)) != 0 || listen(listener, 4) != 0)
        DIE("listen");
    step("acceptor error", acceptor, release_acceptor);

    pthread_mutex_lock(&mu);
    step("locker locked", locker, release_locker);
    step("cond_waiter flag", cond_waiter, release_cond_waiter);

    struct pollfd p = {pipe_in[0], POLLIN, 0};
    printf("poll: %d\n", poll(&p, 1, 10)); /* parks: poll (nothing to read) */

    uint32_t word = 0;
    struct timespec ts = {0, 10 * 1000 * 1000};
    long r = syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0); /* parks: futex */
    printf("futex: %ld %s\n", r, r ? ename(errno) : "");

    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) DIE("fork");
    if (pid == 0) {
        nap(50);
        _exit(7);
    }
    int status = 0;
    waitpid(pid, &status, 0); /* parks: child (it naps first) */
    printf("child: exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}
