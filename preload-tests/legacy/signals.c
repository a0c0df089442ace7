/* Signal handlers and blocking calls: EINTR, SA_RESTART, and the daemon
 * pattern of a SIGTERM handler that breaks a blocking accept() loop.
 *
 *   signals
 *
 * Each line is deterministic: errno names and yes/no time bounds. */
#define _GNU_SOURCE 1
#include <poll.h>
#include <sys/select.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "common.h"

static volatile sig_atomic_t hits, stop;
static void on_sig(int s) { (void)s; hits++; }
static void on_term(int s) { (void)s; stop = 1; }

static void handler(int sig, void (*fn)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigaction(sig, &sa, NULL);
}

/* Sends `sig` to this process after `ms` milliseconds, from a thread. */
struct later { int sig, ms; };
static void *send_later(void *p)
{
    struct later *l = p;
    usleep((useconds_t)l->ms * 1000);
    kill(getpid(), l->sig);
    return NULL;
}
static void signal_in(int sig, int ms)
{
    static struct later l;
    l.sig = sig;
    l.ms = ms;
    pthread_t t;
    pthread_create(&t, NULL, send_later, &l);
    pthread_detach(t);
}

static int listener(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (struct sockaddr *)&a, sizeof a);
    listen(s, 8);
    return s;
}

int main(void)
{
    /* Only the main thread takes signals: the helper threads block them, so
     * the kernel delivers to the thread that waits, as in a daemon whose main
     * thread sits in accept(). */
    sigset_t all;
    sigfillset(&all);
    int s = listener();
    double t;

    handler(SIGUSR1, on_sig, 0); /* no SA_RESTART */
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    signal_in(SIGUSR1, 150);
    pthread_sigmask(SIG_UNBLOCK, &all, NULL);
    t = now_ms();
    int r = accept(s, NULL, NULL);
    printf("accept, handler without SA_RESTART: %d %s early: %s\n", r, r < 0 ? ename(errno) : "-",
           now_ms() - t < 3000 ? "yes" : "no");

    struct pollfd p = {s, POLLIN, 0};
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    signal_in(SIGUSR1, 150);
    pthread_sigmask(SIG_UNBLOCK, &all, NULL);
    r = poll(&p, 1, 5000);
    printf("poll, any handler: %d %s\n", r, r < 0 ? ename(errno) : "-");

    /* SA_RESTART: the read goes on and gets the byte written later. */
    handler(SIGUSR1, on_sig, SA_RESTART);
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pid_t child = fork();
    if (child == 0) {
        usleep(500000);
        write(sv[1], "x", 1);
        _exit(0);
    }
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    signal_in(SIGUSR1, 150);
    pthread_sigmask(SIG_UNBLOCK, &all, NULL);
    char c = 0;
    t = now_ms();
    r = (int)read(sv[0], &c, 1);
    printf("read, handler with SA_RESTART: %d byte %c waited>=450ms: %s\n", r, c,
           now_ms() - t >= 450 ? "yes" : "no");

    /* The same with SO_RCVTIMEO set: signal(7) says EINTR even so. */
    struct timeval tv = {5, 0};
    setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    signal_in(SIGUSR1, 150);
    pthread_sigmask(SIG_UNBLOCK, &all, NULL);
    r = (int)read(sv[0], &c, 1);
    printf("read with SO_RCVTIMEO, handler with SA_RESTART: %d %s\n", r, r < 0 ? ename(errno) : "-");

    /* sigset (System V): not restarting. Old, but still in old daemons. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    sigset(SIGUSR2, on_sig);
#pragma GCC diagnostic pop
    int pp[2];
    pipe(pp);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    signal_in(SIGUSR2, 150);
    pthread_sigmask(SIG_UNBLOCK, &all, NULL);
    r = (int)read(pp[0], &c, 1);
    printf("pipe read, sigset handler: %d %s\n", r, r < 0 ? ename(errno) : "-");

    /* ppoll / pselect / epoll_pwait with a mask that opens a signal the
     * thread otherwise blocks: the handler runs during the wait, EINTR. */
    {
        sigset_t usr1, open_mask;
        sigemptyset(&usr1);
        sigaddset(&usr1, SIGUSR1);
        sigemptyset(&open_mask);
        pthread_sigmask(SIG_BLOCK, &usr1, NULL);
        struct pollfd pf = {pp[0], POLLIN, 0};
        struct timespec ts = {5, 0};
        pthread_sigmask(SIG_BLOCK, &all, NULL);
        signal_in(SIGUSR1, 150);
        pthread_sigmask(SIG_UNBLOCK, &all, NULL);
        pthread_sigmask(SIG_BLOCK, &usr1, NULL);
        r = ppoll(&pf, 1, &ts, &open_mask);
        printf("ppoll with a mask opening the signal: %d %s\n", r, r < 0 ? ename(errno) : "-");
        fd_set rs;
        FD_ZERO(&rs);
        FD_SET(pp[0], &rs);
        pthread_sigmask(SIG_BLOCK, &all, NULL);
        signal_in(SIGUSR1, 150);
        pthread_sigmask(SIG_UNBLOCK, &all, NULL);
        pthread_sigmask(SIG_BLOCK, &usr1, NULL);
        r = pselect(pp[0] + 1, &rs, NULL, NULL, &ts, &open_mask);
        printf("pselect with a mask opening the signal: %d %s\n", r, r < 0 ? ename(errno) : "-");
        kill(getpid(), SIGUSR1); /* pending before the wait: EINTR at once */
        r = ppoll(&pf, 1, &ts, &open_mask);
        printf("ppoll, signal pending when the mask opens: %d %s\n", r, r < 0 ? ename(errno) : "-");
        sigset_t now;
        pthread_sigmask(SIG_BLOCK, NULL, &now);
        printf("mask restored after the waits: %s\n", sigismember(&now, SIGUSR1) ? "yes" : "no");
        pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
    }

    /* What sigaction reports is the program's own handler. */
    struct sigaction old;
    sigaction(SIGUSR1, NULL, &old);
    printf("sigaction reports the program's handler: %s, SA_RESTART: %s\n",
           old.sa_handler == on_sig ? "yes" : "no", (old.sa_flags & SA_RESTART) ? "yes" : "no");

    /* The daemon pattern: accept until SIGTERM, then exit cleanly. */
    handler(SIGTERM, on_term, 0);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    signal_in(SIGTERM, 200);
    pthread_sigmask(SIG_UNBLOCK, &all, NULL);
    t = now_ms();
    int loops = 0;
    while (!stop && loops < 100) {
        int fd = accept(s, NULL, NULL);
        if (fd >= 0) close(fd);
        loops++;
    }
    printf("accept loop stopped by SIGTERM: %s within 3s: %s\n", stop ? "yes" : "no",
           now_ms() - t < 3000 ? "yes" : "no");
    waitpid(child, NULL, 0);
    fprintf(stderr, "handler hits: %d\n", (int)hits);
    return 0;
}
