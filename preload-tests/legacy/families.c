/* The rest of the interposed surface, each call made the blocking way with
 * the peer acting later, so under cohook each one parks:
 * accept4, sendto/recvfrom, sendmsg/recvmsg (with SCM_RIGHTS), sendmmsg,
 * sendfile and sendfile64, pipe2, close_range, closefrom, epoll_pwait2,
 * fcntl (built without _FILE_OFFSET_BITS=64, so the symbol is `fcntl`), and
 * the signal-installing variants bsd_signal, ssignal, sysv_signal,
 * siginterrupt and __sigaction.
 *
 *   families */
#define _GNU_SOURCE 1
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "common.h"

typedef void (*handler_t)(int);
extern handler_t bsd_signal(int, handler_t);
extern handler_t ssignal(int, handler_t);
extern handler_t sysv_signal(int, handler_t);
extern int __sigaction(int, const struct sigaction *, struct sigaction *);
extern int close_range(unsigned, unsigned, int);
extern void closefrom(int);

/* Runs f in a child process after ms milliseconds (the late peer). */
#define LATER(ms, ...)         \
    do {                       \
        if (fork() == 0) {     \
            msleep(ms);        \
            __VA_ARGS__;       \
            _exit(0);          \
        }                      \
    } while (0)

static void on_sig(int s) { (void)s; }

static void signal_variant(const char *name, handler_t (*install)(int, handler_t), int interrupt_flag)
{
    int p[2];
    pipe(p);
    if (install)
        install(SIGUSR1, on_sig);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    if (interrupt_flag >= 0)
        siginterrupt(SIGUSR1, interrupt_flag);
#pragma GCC diagnostic pop
    pid_t me = getpid();
    LATER(100, kill(me, SIGUSR1));
    LATER(400, write(p[1], "d", 1));
    char c = 0;
    double t = now_ms();
    int r = (int)read(p[0], &c, 1);
    printf("%s: read %d %s%s\n", name, r, r < 0 ? ename(errno) : "", r < 0 ? "" : (now_ms() - t >= 350 ? "after the data" : "early"));
    while (wait(NULL) > 0) {
    }
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    char buf[256];
    int port;

    /* accept4 with flags, the client connecting 100 ms later. */
    int ls = tcp_listener(&port, 8);
    LATER(100, { int c = tcp_connect(port); write_all(c, "hi", 2); msleep(50); });
    int a = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
    printf("accept4: %s cloexec %s nonblock %s\n", a >= 0 ? "ok" : ename(errno),
           yesno(fcntl(a, F_GETFD) & FD_CLOEXEC), yesno(fcntl(a, F_GETFL) & O_NONBLOCK));
    printf("read on it: %zd\n", read(a, buf, sizeof buf));
    close(a);
    while (wait(NULL) > 0) {
    }

    /* sendto / recvfrom on UDP loopback. */
    int u1 = socket(AF_INET, SOCK_DGRAM, 0), u2 = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in ua = loopback_addr(0);
    socklen_t ul = sizeof ua;
    bind(u1, (struct sockaddr *)&ua, sizeof ua);
    getsockname(u1, (struct sockaddr *)&ua, &ul);
    LATER(100, sendto(u2, "datagram", 8, 0, (struct sockaddr *)&ua, sizeof ua));
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(u1, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
    printf("recvfrom: %zd '%.*s' from loopback %s\n", n, (int)(n > 0 ? n : 0), buf,
           yesno(from.sin_addr.s_addr == htonl(INADDR_LOOPBACK)));
    while (wait(NULL) > 0) {
    }

    /* sendmsg with an fd (SCM_RIGHTS) then plain data, recvmsg then read. */
    int sv[2], pp[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pipe2(pp, O_CLOEXEC);
    LATER(100, {
        char cbuf[CMSG_SPACE(sizeof(int))];
        memset(cbuf, 0, sizeof cbuf);
        struct iovec v = {"F", 1};
        struct msghdr m = {0};
        m.msg_iov = &v;
        m.msg_iovlen = 1;
        m.msg_control = cbuf;
        m.msg_controllen = sizeof cbuf;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &pp[1], sizeof(int));
        sendmsg(sv[1], &m, 0);
        write_all(sv[1], "after", 5);
    });
    {
        char cbuf[CMSG_SPACE(sizeof(int))], one;
        struct iovec v = {&one, 1};
        struct msghdr m = {0};
        m.msg_iov = &v;
        m.msg_iovlen = 1;
        m.msg_control = cbuf;
        m.msg_controllen = sizeof cbuf;
        ssize_t r = recvmsg(sv[0], &m, 0);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
        int got = -1;
        if (cm && cm->cmsg_type == SCM_RIGHTS)
            memcpy(&got, CMSG_DATA(cm), sizeof got);
        printf("recvmsg: %zd byte %c with an fd %s\n", r, one, yesno(got >= 0));
        if (got >= 0) {
            write_all(got, "via passed fd", 13);
            close(got);
        }
        n = read(sv[0], buf, 5);
        printf("then read: %zd '%.*s'\n", n, (int)(n > 0 ? n : 0), buf);
    }
    while (wait(NULL) > 0) {
    }
    close(pp[1]);
    n = read(pp[0], buf, sizeof buf);
    printf("pipe2 read end got: %zd '%.*s'\n", n, (int)(n > 0 ? n : 0), buf);
    close(pp[0]);

    /* pipe2: blocking read waits; O_NONBLOCK read does not. */
    int q[2];
    pipe2(q, 0);
    LATER(100, write(q[1], "p", 1));
    printf("pipe2 blocking read: %zd\n", read(q[0], buf, 1));
    while (wait(NULL) > 0) {
    }
    int nb[2];
    pipe2(nb, O_NONBLOCK);
    ssize_t r = read(nb[0], buf, 1);
    printf("pipe2 O_NONBLOCK read: %zd %s\n", r, r < 0 ? ename(errno) : "");

    /* sendmmsg three datagrams. */
    int dg[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, dg);
    {
        struct iovec v[3] = {{"one", 3}, {"two", 3}, {"three", 5}};
        struct mmsghdr mm[3];
        memset(mm, 0, sizeof mm);
        for (int i = 0; i < 3; i++) {
            mm[i].msg_hdr.msg_iov = &v[i];
            mm[i].msg_hdr.msg_iovlen = 1;
        }
        printf("sendmmsg: %d", sendmmsg(dg[0], mm, 3, 0));
        for (int i = 0; i < 3; i++)
            printf(" %zd", recv(dg[1], buf, sizeof buf, 0));
        printf("\n");
    }

    /* sendfile and sendfile64: 2 MiB from a file into a socket whose reader
     * starts 200 ms later, so the send buffer fills and sendfile must wait. */
    char path[] = "/tmp/cohook-families-XXXXXX";
    int f = mkstemp(path);
    unlink(path);
    static char blob[1 << 16];
    for (size_t i = 0; i < sizeof blob; i++)
        blob[i] = (char)(i * 7);
    for (int i = 0; i < 32; i++)
        write_all(f, blob, sizeof blob);
    for (int variant = 0; variant < 2; variant++) {
        int s2[2];
        socketpair(AF_UNIX, SOCK_STREAM, 0, s2);
        LATER(200, {
            close(s2[0]); /* or the reader never sees EOF */
            unsigned long sum = 0;
            ssize_t k;
            long total = 0;
            while ((k = read(s2[1], buf, sizeof buf)) > 0) {
                for (ssize_t i = 0; i < k; i++)
                    sum += (unsigned char)buf[i];
                total += k;
            }
            printf("  reader got %ld bytes, sum %lu\n", total, sum);
        });
        close(s2[1]);
        off_t off = 0;
        off64_t off64 = 0;
        ssize_t sent = variant == 0 ? sendfile(s2[0], f, &off, 2 << 20) : sendfile64(s2[0], f, &off64, 2 << 20);
        printf("%s: %zd\n", variant == 0 ? "sendfile" : "sendfile64", sent);
        close(s2[0]);
        while (wait(NULL) > 0) {
        }
    }
    close(f);

    /* epoll_pwait2: a timeout, then a ready fd. */
    int ep = epoll_create1(0), e2[2];
    pipe(e2);
    struct epoll_event ev = {.events = EPOLLIN};
    epoll_ctl(ep, EPOLL_CTL_ADD, e2[0], &ev);
    struct timespec ts = {0, 150 * 1000000};
    double t = now_ms();
    int k = epoll_pwait2(ep, &ev, 1, &ts, NULL);
    printf("epoll_pwait2 timeout: %d elapsed>=150ms: %s\n", k, yesno(now_ms() - t >= 150));
    LATER(100, write(e2[1], "e", 1));
    ts.tv_sec = 5;
    k = epoll_pwait2(ep, &ev, 1, &ts, NULL);
    printf("epoll_pwait2 ready: %d\n", k);
    while (wait(NULL) > 0) {
    }

    /* lockf itself (an LFS build calls lockf64): an uncontended lock. */
    {
        char path[] = "/tmp/families-lockf-XXXXXX";
        int lf = mkstemp(path);
        printf("lockf F_LOCK: %d, F_ULOCK: %d\n", lockf(lf, F_LOCK, 0), lockf(lf, F_ULOCK, 0));
        close(lf);
        unlink(path);
    }

    /* close_range and closefrom: the fds are gone, the numbers reusable. */
    int lo = dup(0), mid = dup(0), hi = dup(0);
    close_range((unsigned)lo, (unsigned)mid, 0);
    printf("close_range: closed %s, beyond kept %s\n", yesno(fcntl(lo, F_GETFD) < 0 && fcntl(mid, F_GETFD) < 0),
           yesno(fcntl(hi, F_GETFD) >= 0));
    closefrom(hi);
    printf("closefrom: closed %s\n", yesno(fcntl(hi, F_GETFD) < 0 && errno == EBADF));
    int again[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, again);
    LATER(100, write(again[1], "r", 1));
    printf("a socket on a freed number reads: %zd\n", read(again[0], buf, 1));
    while (wait(NULL) > 0) {
    }

    /* The signal-installing variants: interrupted or restarted as natively. */
    signal_variant("bsd_signal (restarts)", bsd_signal, -1);
    signal_variant("ssignal (restarts)", ssignal, -1);
    signal_variant("sysv_signal (one-shot, interrupts)", sysv_signal, -1);
    signal_variant("signal + siginterrupt(1)", signal, 1);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig;
    __sigaction(SIGUSR1, &sa, NULL);
    signal_variant("__sigaction without SA_RESTART", NULL, -1);
    return 0;
}
