/* SO_RCVTIMEO / SO_SNDTIMEO expiry, on a socketpair and on loopback TCP.
 *
 * Receive: the peer never writes; read() and recv() must return -1 EAGAIN
 * after the 300 ms timeout (and well before 3 s). Send: the peer never reads;
 * the first big send fills the buffers and returns a partial count (or -1
 * EAGAIN) after the timeout, the second one times out too.
 *
 * The kernel converts SO_*TIMEO to jiffies and may end the wait up to one tick
 * early, so the lower bound allows 10 ms (HZ >= 100).
 */
#include "common.h"

#include <netinet/tcp.h>
#include <sys/time.h>

#define TIMEOUT_MS 300
#define TOLERANCE_MS 10

static void set_timeo(int fd, int opt)
{
    struct timeval tv = {0, TIMEOUT_MS * 1000};
    if (setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv) != 0)
        DIE("setsockopt");
    struct timeval back;
    socklen_t len = sizeof back;
    if (getsockopt(fd, SOL_SOCKET, opt, &back, &len) != 0)
        DIE("getsockopt");
    printf("  getsockopt(%s) = %ld.%06ld\n", opt == SO_RCVTIMEO ? "SO_RCVTIMEO" : "SO_SNDTIMEO",
           (long)back.tv_sec, (long)back.tv_usec);
}

static void report(const char *what, ssize_t n, int err, double elapsed)
{
    fprintf(stderr, "  %s: %.1f ms\n", what, elapsed);
    printf("  %s: %s%s elapsed>=%dms: %s elapsed<3s: %s\n", what, n < 0 ? "-1 " : "",
           n < 0 ? ename(err) : "returned data", TIMEOUT_MS,
           yesno(elapsed >= TIMEOUT_MS - TOLERANCE_MS), yesno(elapsed < 3000));
}

static void receive_side(int fd)
{
    set_timeo(fd, SO_RCVTIMEO);
    char b[64];
    double t0 = now_ms();
    ssize_t n = read(fd, b, sizeof b);
    int e = errno;
    report("read", n, e, now_ms() - t0);
    t0 = now_ms();
    n = recv(fd, b, sizeof b, 0);
    e = errno;
    report("recv", n, e, now_ms() - t0);
}

static void send_side(int fd)
{
    set_timeo(fd, SO_SNDTIMEO);
    size_t big = 4u << 20;
    char *buf = calloc(1, big);
    for (int i = 1; i <= 2; i++) {
        double t0 = now_ms();
        ssize_t n = i == 1 ? send(fd, buf, big, 0) : write(fd, buf, big);
        int e = errno;
        double el = now_ms() - t0;
        int timed_out = (n > 0 && (size_t)n < big) || (n < 0 && e == EAGAIN);
        /* Partial count vs -1 EAGAIN may depend on how much buffer space TCP
         * freed meanwhile: the exact result goes to stderr only. */
        fprintf(stderr, "  %s#%d: %zd %s %.1f ms\n", i == 1 ? "send" : "write", i, n,
                n < 0 ? ename(e) : "", el);
        printf("  %s#%d: timed out (partial or EAGAIN): %s elapsed>=%dms: %s elapsed<3s: %s\n",
               i == 1 ? "send" : "write", i, yesno(timed_out), TIMEOUT_MS,
               yesno(el >= TIMEOUT_MS - TOLERANCE_MS), yesno(el < 3000));
    }
    free(buf);
}

int main(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        DIE("socketpair");
    printf("socketpair receive:\n");
    receive_side(sv[0]);
    printf("socketpair send:\n");
    send_side(sv[0]);

    /* TCP: small buffers so that 4 MiB cannot fit whatever autotuning does. */
    int port;
    int lfd = tcp_listener(&port, 0);
    int small = 65536;
    if (setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) != 0)
        DIE("SO_RCVBUF");
    if (listen(lfd, 4) != 0)
        DIE("listen");
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (setsockopt(c, SOL_SOCKET, SO_SNDBUF, &small, sizeof small) != 0)
        DIE("SO_SNDBUF");
    struct sockaddr_in a = loopback_addr(port);
    if (connect(c, (struct sockaddr *)&a, sizeof a) != 0)
        DIE("connect");
    int s = accept(lfd, NULL, NULL);
    if (s < 0)
        DIE("accept");
    printf("tcp receive:\n");
    receive_side(c);
    printf("tcp send:\n");
    send_side(c);
    return 0;
}
