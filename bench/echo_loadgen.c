/* The one load generator of scripts/bench: a single thread, epoll, N
 * connections in a closed loop (each connection has one request in flight;
 * the next goes out when the whole reply is back and checked).
 *
 *   echo-loadgen [--http] PORT CONNS SECONDS [WARMUP_SECONDS]
 *
 * Echo mode: the request is 8 bytes (connection number, sequence number) and
 * the reply must be the same 8 bytes. --http: the request is
 * "GET /<8 hex digits> HTTP/1.1" and the reply must be exactly
 * "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n<the same 8 digits>".
 * Connections come from 127.0.0.1..127.0.0.16 so that ephemeral ports never
 * run out. Latency is measured per transaction (send to last reply byte);
 * only transactions that complete after the warm-up (default 0.5 s) count.
 * Prints one line:
 *   conns N transactions T seconds S tps X p50_us A p99_us B mismatches M errors E all_transactions A
 * (A: every transaction, warm-up included, for "server CPU per transaction").
 * Exit 0 iff every connection was made, no reply differed and no
 * connection failed. Always run natively: it is the load, not the program
 * under test.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SOURCES 16
#define IN_FLIGHT 256
#define MSG_MAX 64

struct conn {
    int fd;
    uint32_t seq;
    uint8_t req_len, sent, reply_len, got;
    uint64_t t_send;
    char req[MSG_MAX], want[MSG_MAX], reply[MSG_MAX];
};

static int http;
static long mismatches, errors, all_transactions;
static uint64_t *lat; /* ns, one per counted transaction */
static size_t nlat, cap_lat;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void die(const char *what)
{
    perror(what);
    exit(99);
}

/* The next request of connection i and the reply it must get back. */
static void prepare(struct conn *c, uint32_t i)
{
    c->seq++;
    if (http) {
        unsigned tag = (i * 2654435761u) ^ c->seq;
        c->req_len = (uint8_t)snprintf(c->req, MSG_MAX, "GET /%08x HTTP/1.1\r\nHost: b\r\n\r\n", tag);
        c->reply_len = (uint8_t)snprintf(c->want, MSG_MAX,
                                         "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n%08x", tag);
    } else {
        memcpy(c->req, &i, 4);
        memcpy(c->req + 4, &c->seq, 4);
        memcpy(c->want, c->req, 8);
        c->req_len = c->reply_len = 8;
    }
    c->sent = c->got = 0;
}

/* Sends the request: 0 when it all went out, -1 otherwise. With one
 * request of at most 64 bytes in flight the send buffer is never full, so a
 * short send means something is wrong and counts as an error. */
static int send_rest(struct conn *c)
{
    while (c->sent < c->req_len) {
        ssize_t w = send(c->fd, c->req + c->sent, c->req_len - c->sent, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c->sent = (uint8_t)(c->sent + w);
    }
    return 0;
}

static void record(uint64_t ns)
{
    if (nlat == cap_lat) {
        cap_lat = cap_lat ? cap_lat * 2 : 1 << 16;
        lat = realloc(lat, cap_lat * sizeof *lat);
        if (!lat)
            die("realloc");
    }
    lat[nlat++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int start_connect(long i, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK + (uint32_t)(i % SOURCES));
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("bind");
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS)
        die("connect");
    return fd;
}

int main(int argc, char **argv)
{
    int argi = 1;
    if (argc > 1 && strcmp(argv[1], "--http") == 0) {
        http = 1;
        argi++;
    }
    if (argc - argi < 3 || argc - argi > 4) {
        fprintf(stderr, "usage: echo-loadgen [--http] PORT CONNS SECONDS [WARMUP_SECONDS]\n");
        return 2;
    }
    int port = atoi(argv[argi]);
    long n = atol(argv[argi + 1]);
    double seconds = atof(argv[argi + 2]);
    double warmup = argc - argi == 4 ? atof(argv[argi + 3]) : 0.5;
    if (port <= 0 || n <= 0 || seconds <= 0 || warmup < 0) {
        fprintf(stderr, "echo-loadgen: bad arguments\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct conn *conns = calloc((size_t)n, sizeof *conns);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || ep < 0)
        die("setup");

    /* 1. Connect all, IN_FLIGHT at a time. */
    struct epoll_event evs[1024];
    long started = 0, connected = 0, in_flight = 0;
    uint64_t t0 = now_ns(), connect_deadline = t0 + 60ull * 1000000000u;
    while (connected < n) {
        while (started < n && in_flight < IN_FLIGHT) {
            conns[started].fd = start_connect(started, port);
            struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = (uint64_t)started};
            epoll_ctl(ep, EPOLL_CTL_ADD, conns[started].fd, &ev);
            started++;
            in_flight++;
        }
        if (now_ns() > connect_deadline) {
            fprintf(stderr, "echo-loadgen: %ld of %ld connected after 60 s\n", connected, n);
            return 1;
        }
        int k = epoll_wait(ep, evs, 1024, 1000);
        for (int j = 0; j < k; j++) {
            struct conn *c = &conns[evs[j].data.u64];
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) {
                errno = err;
                die("connect");
            }
            struct epoll_event ev = {.events = EPOLLIN, .data.u64 = evs[j].data.u64};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            connected++;
            in_flight--;
        }
    }
    fprintf(stderr, "echo-loadgen: %ld connected in %.2f s\n", n, (double)(now_ns() - t0) / 1e9);

    /* 2. Closed loop until the end of the measured window. */
    uint64_t start = now_ns();
    uint64_t measure_from = start + (uint64_t)(warmup * 1e9);
    uint64_t end = measure_from + (uint64_t)(seconds * 1e9);
    for (long i = 0; i < n; i++) {
        prepare(&conns[i], (uint32_t)i);
        conns[i].t_send = now_ns();
        if (send_rest(&conns[i]) < 0)
            errors++;
    }
    uint64_t now = start;
    while ((now = now_ns()) < end) {
        int timeout_ms = (int)((end - now) / 1000000u) + 1;
        int k = epoll_wait(ep, evs, 1024, timeout_ms);
        if (k < 0 && errno != EINTR)
            die("epoll_wait");
        for (int j = 0; j < k; j++) {
            uint32_t i = (uint32_t)evs[j].data.u64;
            struct conn *c = &conns[i];
            if (c->fd < 0)
                continue;
            ssize_t r = recv(c->fd, c->reply + c->got, c->reply_len - c->got, 0);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0) { /* the server closed or failed: this connection stops */
                errors++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = -1;
                continue;
            }
            c->got = (uint8_t)(c->got + r);
            if (c->got < c->reply_len)
                continue;
            uint64_t t = now_ns();
            if (memcmp(c->reply, c->want, c->reply_len) != 0)
                mismatches++;
            all_transactions++;
            if (t >= measure_from && t < end)
                record(t - c->t_send);
            prepare(c, i);
            c->t_send = t;
            if (send_rest(c) < 0)
                errors++;
        }
    }
    double secs = (double)(end - measure_from) / 1e9;
    uint64_t p50 = 0, p99 = 0;
    if (nlat > 0) {
        qsort(lat, nlat, sizeof *lat, cmp_u64);
        p50 = lat[nlat / 2];
        p99 = lat[(size_t)((double)nlat * 0.99)];
    }
    printf("conns %ld transactions %zu seconds %.3f tps %.0f p50_us %.1f p99_us %.1f mismatches %ld errors %ld all_transactions %ld\n",
           n, nlat, secs, (double)nlat / secs, (double)p50 / 1e3, (double)p99 / 1e3, mismatches, errors,
           all_transactions);
    int ok = mismatches == 0 && errors == 0 && nlat > 0;
    for (long i = 0; i < n; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    close(ep);
    free(conns);
    free(lat);
    return ok ? 0 : 1;
}
