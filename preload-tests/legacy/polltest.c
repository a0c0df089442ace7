/* poll / ppoll / select / pselect / epoll_wait: timeouts and readiness.
 *
 * Timeouts use hrtimers natively, so a wait never ends before its timeout:
 * the lower bounds are exact. "immediate" means under 1 s (no speed claim).
 */
#include "common.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>

struct delayed {
    int fd, ms;
};

static void *delayed_write(void *arg)
{
    struct delayed *d = arg;
    msleep(d->ms);
    if (write_all(d->fd, "x", 1) != 0)
        DIE("delayed write");
    return NULL;
}

static void revents_str(short r, char *out)
{
    out[0] = 0;
    if (r & POLLIN) strcat(out, "POLLIN|");
    if (r & POLLOUT) strcat(out, "POLLOUT|");
    if (r & POLLHUP) strcat(out, "POLLHUP|");
    if (r & POLLERR) strcat(out, "POLLERR|");
    if (r & POLLNVAL) strcat(out, "POLLNVAL|");
    if (r & POLLRDHUP) strcat(out, "POLLRDHUP|");
    size_t n = strlen(out);
    if (n)
        out[n - 1] = 0;
    else
        strcpy(out, "0");
}

static void timed_poll(const char *label, struct pollfd *p, nfds_t n, int timeout)
{
    char s[96];
    double t0 = now_ms();
    int r = poll(p, n, timeout);
    int e = errno;
    double el = now_ms() - t0;
    revents_str(r > 0 ? p[0].revents : 0, s);
    if (r < 0)
        printf("%s: -1 %s\n", label, ename(e));
    else if (timeout > 0 && r == 0)
        printf("%s: %d revents %s elapsed>=%dms: %s elapsed<3s: %s\n", label, r, s, timeout,
               yesno(el >= timeout), yesno(el < 3000));
    else
        printf("%s: %d revents %s immediate: %s\n", label, r, s, yesno(el < 1000));
}

int main(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        DIE("socketpair");

    /* poll */
    struct pollfd p[2] = {{sv[0], POLLIN, 0}, {-1, POLLIN, 0}};
    timed_poll("poll 200ms, nothing ready", p, 1, 200);
    timed_poll("poll 0ms, nothing ready", p, 1, 0);
    p[0].events = POLLOUT;
    timed_poll("poll POLLOUT on writable", p, 1, 5000);
    p[0].events = POLLIN;
    write_all(sv[1], "abc", 3);
    timed_poll("poll POLLIN with data", p, 1, 5000);
    timed_poll("poll, negative fd ignored", p, 2, 5000);
    printf("negative fd revents: %d\n", p[1].revents);
    close(sv[1]);
    timed_poll("poll after peer close (data left)", p, 1, 5000);
    char buf[16];
    if (read(sv[0], buf, sizeof buf) != 3)
        DIE("read");
    timed_poll("poll after peer close (drained)", p, 1, 5000);
    p[0].events = POLLIN | POLLRDHUP;
    timed_poll("poll POLLRDHUP after peer close", p, 1, 5000);
    int dead = sv[0];
    close(sv[0]);
    struct pollfd nv = {dead, POLLIN, 0};
    timed_poll("poll on a closed fd number", &nv, 1, 5000);
    struct pollfd none;
    double t0 = now_ms();
    int r = poll(&none, 0, 150);
    printf("poll no fds 150ms: %d elapsed>=150ms: %s\n", r, yesno(now_ms() - t0 >= 150));

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        DIE("socketpair");

    /* ppoll */
    struct timespec ts = {0, 200 * 1000000L};
    struct pollfd pp = {sv[0], POLLIN, 0};
    t0 = now_ms();
    r = ppoll(&pp, 1, &ts, NULL);
    double el = now_ms() - t0;
    printf("ppoll 200ms: %d elapsed>=200ms: %s elapsed<3s: %s timespec after: %ld.%09ld\n", r,
           yesno(el >= 200), yesno(el < 3000), (long)ts.tv_sec, ts.tv_nsec);

    /* select: Linux writes the remaining time back into the timeval. */
    fd_set rf;
    FD_ZERO(&rf);
    FD_SET(sv[0], &rf);
    struct timeval tv = {0, 200000};
    t0 = now_ms();
    r = select(sv[0] + 1, &rf, NULL, NULL, &tv);
    el = now_ms() - t0;
    printf("select 200ms, nothing ready: %d bit set: %s elapsed>=200ms: %s elapsed<3s: %s "
           "timeval after: %ld.%06ld\n",
           r, yesno(FD_ISSET(sv[0], &rf)), yesno(el >= 200), yesno(el < 3000), (long)tv.tv_sec,
           (long)tv.tv_usec);
    write_all(sv[1], "x", 1);
    FD_ZERO(&rf);
    FD_SET(sv[0], &rf);
    fd_set wf;
    FD_ZERO(&wf);
    FD_SET(sv[0], &wf);
    tv.tv_sec = 2;
    tv.tv_usec = 0;
    t0 = now_ms();
    r = select(sv[0] + 1, &rf, &wf, NULL, &tv);
    el = now_ms() - t0;
    long rem_us = tv.tv_sec * 1000000L + tv.tv_usec;
    printf("select 2s, readable+writable: %d read bit: %s write bit: %s immediate: %s "
           "remaining in (1s,2s]: %s\n",
           r, yesno(FD_ISSET(sv[0], &rf)), yesno(FD_ISSET(sv[0], &wf)), yesno(el < 1000),
           yesno(rem_us > 1000000L && rem_us <= 2000000L));
    if (read(sv[0], buf, 1) != 1)
        DIE("read");
    /* select without a timeout: waits until a thread writes, 100 ms later. */
    FD_ZERO(&rf);
    FD_SET(sv[0], &rf);
    pthread_t t;
    struct delayed d = {sv[1], 100};
    t0 = now_ms();
    pthread_create(&t, NULL, delayed_write, &d);
    r = select(sv[0] + 1, &rf, NULL, NULL, NULL);
    el = now_ms() - t0;
    printf("select no timeout, data after 100ms: %d bit set: %s elapsed>=100ms: %s\n", r,
           yesno(FD_ISSET(sv[0], &rf)), yesno(el >= 100));
    pthread_join(t, NULL);
    if (read(sv[0], buf, 1) != 1)
        DIE("read");

    /* pselect: glibc leaves the caller's timespec alone. */
    FD_ZERO(&rf);
    FD_SET(sv[0], &rf);
    ts.tv_sec = 0;
    ts.tv_nsec = 200 * 1000000L;
    t0 = now_ms();
    r = pselect(sv[0] + 1, &rf, NULL, NULL, &ts, NULL);
    el = now_ms() - t0;
    printf("pselect 200ms: %d elapsed>=200ms: %s elapsed<3s: %s timespec after: %ld.%09ld\n", r,
           yesno(el >= 200), yesno(el < 3000), (long)ts.tv_sec, ts.tv_nsec);

    /* The program's own epoll instance keeps working. */
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 42};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev) != 0)
        DIE("epoll_ctl");
    struct epoll_event out[4];
    t0 = now_ms();
    r = epoll_wait(ep, out, 4, 200);
    el = now_ms() - t0;
    printf("epoll_wait 200ms, nothing ready: %d elapsed>=200ms: %s elapsed<3s: %s\n", r,
           yesno(el >= 200), yesno(el < 3000));
    d.ms = 100;
    t0 = now_ms();
    pthread_create(&t, NULL, delayed_write, &d);
    r = epoll_wait(ep, out, 4, -1);
    el = now_ms() - t0;
    printf("epoll_wait forever, data after 100ms: %d events EPOLLIN: %s data %llu "
           "elapsed>=100ms: %s\n",
           r, yesno(r == 1 && (out[0].events & EPOLLIN)), r == 1 ? (unsigned long long)out[0].data.u64 : 0ull,
           yesno(el >= 100));
    pthread_join(t, NULL);
    sigset_t none_blocked;
    sigemptyset(&none_blocked);
    r = epoll_pwait(ep, out, 4, 100, &none_blocked);
    printf("epoll_pwait, data still there (level-triggered): %d\n", r);
    return 0;
}
