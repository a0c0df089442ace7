/* The main thread waits for a signal while worker threads do the work (the
 * usual shape of a threaded daemon: start workers, then pause() or sigwait()
 * until told to stop).
 *
 *   mainwaits pause|sigsuspend|sigwait|sigwaitinfo|sigtimedwait|select|poll
 *
 * Two worker threads play 200 ping-pongs over a socketpair with blocking
 * read/write; a third thread blocks in a 20 ms nanosleep loop. When the
 * ping-pong is done, a worker sends SIGUSR1 to the process (again every
 * 100 ms until main says it woke, so a signal that arrives before main
 * waits is not fatal). Main must wake from its wait and join everyone.
 */
#include "common.h"

#include <poll.h>
#include <signal.h>
#include <sys/select.h>

static int sv[2];
static volatile int main_awake, handler_runs, pings_done;

static void on_usr1(int sig)
{
    (void)sig;
    handler_runs++;
}

static void *pinger(void *arg)
{
    (void)arg;
    char c = 'p';
    int ok = 1;
    for (int k = 0; k < 200 && ok; k++)
        ok = write(sv[0], &c, 1) == 1 && read(sv[0], &c, 1) == 1;
    pings_done = ok;
    /* tell main, until it listens */
    double t0 = now_ms();
    while (!main_awake && now_ms() - t0 < 20000) {
        kill(getpid(), SIGUSR1);
        msleep(100);
    }
    return (void *)(long)ok;
}

static void *ponger(void *arg)
{
    (void)arg;
    char c;
    for (int k = 0; k < 200; k++)
        if (read(sv[1], &c, 1) != 1 || write(sv[1], &c, 1) != 1)
            return (void *)0L;
    return (void *)1L;
}

static void *napper(void *arg)
{
    (void)arg;
    int naps = 0;
    /* at least one nap: main may wake before this thread first looks */
    do {
        msleep(20);
        naps++;
    } while (!main_awake && naps < 2000);
    return (void *)(long)(naps > 0);
}

int main(int argc, char **argv)
{
    self_alarm(30);
    if (argc != 2) {
        fprintf(stderr, "usage: mainwaits MODE\n");
        return 2;
    }
    const char *mode = argv[1];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        DIE("socketpair");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    /* Workers never take SIGUSR1: block it before they start (they inherit
     * the mask). Main unblocks it (or waits for it with sigwait). */
    sigset_t usr1, none;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigemptyset(&none);
    pthread_sigmask(SIG_BLOCK, &usr1, NULL);
    pthread_t t[3] = {spawn(pinger, NULL), spawn(ponger, NULL), spawn(napper, NULL)};

    int rc = 0, err = 0, sig = 0;
    const char *what;
    if (strcmp(mode, "pause") == 0) {
        pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
        rc = pause();
        err = errno;
        what = "pause()";
    } else if (strcmp(mode, "sigsuspend") == 0) {
        rc = sigsuspend(&none);
        err = errno;
        what = "sigsuspend(empty mask)";
    } else if (strcmp(mode, "sigwait") == 0) {
        rc = sigwait(&usr1, &sig);
        what = "sigwait(SIGUSR1)";
    } else if (strcmp(mode, "sigwaitinfo") == 0) {
        siginfo_t si;
        rc = sigwaitinfo(&usr1, &si);
        err = errno;
        sig = rc > 0 && si.si_pid == getpid() ? rc : -1;
        what = "sigwaitinfo(SIGUSR1)";
    } else if (strcmp(mode, "sigtimedwait") == 0) {
        siginfo_t si;
        struct timespec ts = {20, 0};
        rc = sigtimedwait(&usr1, &si, &ts);
        err = errno;
        sig = rc;
        what = "sigtimedwait(SIGUSR1, 20s)";
    } else if (strcmp(mode, "select") == 0) {
        pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
        rc = select(0, NULL, NULL, NULL, NULL);
        err = errno;
        what = "select(0, NULL, NULL, NULL, NULL)";
    } else if (strcmp(mode, "poll") == 0) {
        pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
        rc = poll(NULL, 0, -1);
        err = errno;
        what = "poll(NULL, 0, -1)";
    } else {
        fprintf(stderr, "mainwaits: unknown mode %s\n", mode);
        return 2;
    }
    main_awake = 1;
    int pinged = pings_done;
    long ok = 0;
    for (int i = 0; i < 3; i++)
        ok += join_long(t[i]);
    if (sig)
        printf("main in %s: returned %s, the workers' ping-pong had finished: %s\n", what,
               sig == SIGUSR1 ? "SIGUSR1" : "something else", yesno(pinged));
    else
        printf("main in %s: %d %s, handler ran: %s, the workers' ping-pong had finished: %s\n", what, rc,
               rc < 0 ? ename(err) : "", yesno(handler_runs > 0), yesno(pinged));
    printf("workers done: %ld of 3\n", ok);
    return 0;
}
