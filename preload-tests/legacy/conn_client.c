/* Many-connection echo client: one process, non-blocking sockets, epoll.
 * Always run natively (it is the load, not the program under test).
 *
 *   conn_client PORT N SEED [hold]
 *
 * 1. Opens N connections to 127.0.0.1:PORT (at most 256 connects in flight),
 *    from source addresses 127.0.0.1 .. 127.0.0.16 so that the ephemeral
 *    ports of one address never run out. Prints "connected N".
 * 2. With "hold": waits for SIGUSR1 (at most 120 s) while every connection
 *    is open and idle: the test looks at the server meanwhile.
 * 3. Sends a request on every connection (16..2015 bytes, content a function
 *    of SEED and the connection number), half-closes it, reads the echo to
 *    EOF and checks it byte for byte.
 * Prints "connections N exact E bytes B digest D" (D: the sum over the
 * connections of the FNV-1a hash of each request, which an echo server that
 * sums the same over what it received reproduces). Exit 0 iff every echo was
 * exact. Timings go to stderr.
 */
#include "common.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/resource.h>

#define SOURCES 16
#define IN_FLIGHT 256

enum { CONNECTING, IDLE, SENDING, RECEIVING, DONE };

struct conn {
    int fd;
    uint32_t len, sent, recvd;
    uint8_t state, exact;
};

static uint64_t seed;

static uint32_t req_len(long i)
{
    return 16 + (uint32_t)(mix(seed * 1000003u + (uint64_t)i) % 2000);
}

static uint8_t req_byte(long i, uint32_t k)
{
    return (uint8_t)(mix(seed ^ ((uint64_t)i << 32) ^ (k / 8)) >> ((k % 8) * 8));
}

static void fill(long i, uint32_t from, uint8_t *buf, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++)
        buf[k] = req_byte(i, from + k);
}

static int start_connect(long i, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        DIE("socket #%ld", i);
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src;
    memset(&src, 0, sizeof src);
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + (uint32_t)(i % SOURCES));
    if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0)
        DIE("bind 127.0.0.%ld", 1 + i % SOURCES);
    struct sockaddr_in dst = loopback_addr(port);
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0 && errno != EINPROGRESS)
        DIE("connect #%ld", i);
    return fd;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5 || (argc == 5 && strcmp(argv[4], "hold") != 0)) {
        fprintf(stderr, "usage: conn_client PORT N SEED [hold]\n");
        return 2;
    }
    self_alarm(300);
    int port = atoi(argv[1]);
    long n = atol(argv[2]);
    seed = strtoull(argv[3], NULL, 0);
    int hold = argc == 5;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)n + 16 > rl.rlim_cur) {
        fprintf(stderr, "conn_client: %ld connections need more fds than RLIMIT_NOFILE %llu\n", n,
                (unsigned long long)rl.rlim_cur);
        return 2;
    }
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);

    struct conn *c = calloc((size_t)n, sizeof *c);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        DIE("epoll_create1");
    struct epoll_event evs[512];
    uint64_t digest = 0, total = 0;
    for (long i = 0; i < n; i++) {
        c[i].len = req_len(i);
        c[i].exact = 1;
        total += c[i].len;
        uint64_t h = 1469598103934665603ull;
        for (uint32_t k = 0; k < c[i].len; k++)
            h = (h ^ req_byte(i, k)) * 1099511628211ull;
        digest += h;
    }

    /* 1. connect */
    double t0 = now_ms();
    long next = 0, connected = 0, in_flight = 0, failed = 0;
    while (connected + failed < n) {
        while (next < n && in_flight < IN_FLIGHT) {
            c[next].fd = start_connect(next, port);
            struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = (uint64_t)next};
            if (epoll_ctl(ep, EPOLL_CTL_ADD, c[next].fd, &ev) != 0)
                DIE("epoll_ctl add");
            next++;
            in_flight++;
        }
        int k = epoll_wait(ep, evs, 512, 1000);
        if (k < 0 && errno != EINTR)
            DIE("epoll_wait");
        if (now_ms() - t0 > 120000) {
            printf("connect phase timed out: %ld of %ld connected\n", connected, n);
            return 1;
        }
        for (int j = 0; j < k; j++) {
            long i = (long)evs[j].data.u64;
            if (c[i].state != CONNECTING)
                continue;
            int err = 0;
            socklen_t el = sizeof err;
            getsockopt(c[i].fd, SOL_SOCKET, SO_ERROR, &err, &el);
            in_flight--;
            struct epoll_event ev = {.events = 0, .data.u64 = (uint64_t)i};
            epoll_ctl(ep, EPOLL_CTL_MOD, c[i].fd, &ev);
            if (err) {
                fprintf(stderr, "conn_client: connect #%ld: %s\n", i, ename(err));
                failed++;
                c[i].state = DONE;
                c[i].exact = 0;
            } else {
                connected++;
                c[i].state = IDLE;
            }
        }
    }
    double t1 = now_ms();
    fprintf(stderr, "conn_client: %ld connected in %.0f ms (%ld failed)\n", connected, t1 - t0, failed);
    printf("connected %ld\n", connected);
    fflush(stdout);

    /* 2. hold */
    if (hold) {
        struct timespec ts = {120, 0};
        if (sigtimedwait(&usr1, NULL, &ts) != SIGUSR1) {
            printf("no SIGUSR1 within 120 s\n");
            return 1;
        }
    }

    /* 3. exchange */
    double t2 = now_ms();
    long remaining = 0;
    for (long i = 0; i < n; i++) {
        if (c[i].state != IDLE)
            continue;
        c[i].state = SENDING;
        struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u64 = (uint64_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_MOD, c[i].fd, &ev) != 0)
            DIE("epoll_ctl mod");
        remaining++;
    }
    static uint8_t buf[65536], want[65536];
    while (remaining > 0) {
        int k = epoll_wait(ep, evs, 512, 1000);
        if (k < 0 && errno != EINTR)
            DIE("epoll_wait");
        if (now_ms() - t2 > 120000) {
            printf("exchange timed out: %ld connections unfinished\n", remaining);
            return 1;
        }
        for (int j = 0; j < k; j++) {
            long i = (long)evs[j].data.u64;
            struct conn *x = &c[i];
            if (x->state == SENDING && (evs[j].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
                uint32_t chunk = x->len - x->sent;
                if (chunk > sizeof buf)
                    chunk = sizeof buf;
                fill(i, x->sent, buf, chunk);
                ssize_t w = send(x->fd, buf, chunk, MSG_NOSIGNAL);
                if (w > 0)
                    x->sent += (uint32_t)w;
                else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                    fprintf(stderr, "conn_client: send #%ld: %s\n", i, ename(errno));
                    x->exact = 0;
                    x->sent = x->len;
                }
                if (x->sent == x->len) {
                    shutdown(x->fd, SHUT_WR);
                    x->state = RECEIVING;
                    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
                    epoll_ctl(ep, EPOLL_CTL_MOD, x->fd, &ev);
                }
            }
            if (evs[j].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                for (;;) {
                    ssize_t got = recv(x->fd, buf, sizeof buf, 0);
                    if (got > 0) {
                        uint32_t g = (uint32_t)got;
                        if (x->recvd + g > x->len) {
                            x->exact = 0;
                        } else {
                            fill(i, x->recvd, want, g);
                            if (memcmp(buf, want, g) != 0)
                                x->exact = 0;
                        }
                        x->recvd += g;
                        continue;
                    }
                    if (got < 0 && (errno == EAGAIN || errno == EINTR))
                        break;
                    if (got < 0) {
                        fprintf(stderr, "conn_client: recv #%ld: %s\n", i, ename(errno));
                        x->exact = 0;
                    }
                    if (x->recvd != x->len || x->sent != x->len)
                        x->exact = 0;
                    x->state = DONE;
                    epoll_ctl(ep, EPOLL_CTL_DEL, x->fd, NULL);
                    close(x->fd);
                    remaining--;
                    break;
                }
            }
        }
    }
    long exact = 0;
    for (long i = 0; i < n; i++)
        exact += c[i].exact;
    fprintf(stderr, "conn_client: exchange took %.0f ms\n", now_ms() - t2);
    printf("connections %ld exact %ld bytes %llu digest %016llx\n", n, exact, (unsigned long long)total,
           (unsigned long long)digest);
    return exact == n ? 0 : 1;
}
