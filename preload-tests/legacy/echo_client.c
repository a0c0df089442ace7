/* Load client for echo_server (always run natively).
 *
 *   echo_client PORT NCONN SEED
 *
 * Opens NCONN connections at once, sends each a pseudo-random payload of a
 * different size (1 B .. 256 KiB: connection 0 gets 1 byte, connection 1
 * 256 KiB, every 4th a log-uniform size, the rest uniform; ~25 MB in all), half-closes after sending, and checks that the
 * echo is byte-exact. One poll loop drives all connections, so large payloads
 * cannot deadlock against a server that writes while we write. Prints one
 * deterministic summary line; exit 0 iff every echo was exact.
 */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <stdint.h>

struct conn {
    int fd;
    unsigned char *payload;
    size_t len, sent, recvd;
    int done, exact, shut;
};

static uint64_t rng_state;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: echo_client PORT NCONN SEED\n");
        return 2;
    }
    int port = atoi(argv[1]);
    int n = atoi(argv[2]);
    rng_state = strtoull(argv[3], NULL, 0) * 2654435761u + 88172645463325252ull;
    struct conn *c = calloc((size_t)n, sizeof *c);
    struct pollfd *pfd = calloc((size_t)n, sizeof *pfd);
    size_t total = 0;
    uint64_t digest = 1469598103934665603ull; /* FNV-1a over all payloads */
    for (int i = 0; i < n; i++) {
        /* every 4th log-uniform (mostly small), the others uniform */
        size_t len = i == 0   ? 1
                     : i == 1 ? 262144
                     : i % 4  ? 1 + (size_t)(rng() % 262144)
                              : 1 + (size_t)(rng() % (1u << (rng() % 19)));
        c[i].len = len;
        c[i].payload = malloc(len);
        for (size_t k = 0; k < len; k++) {
            c[i].payload[k] = (unsigned char)(rng() >> 24);
            digest = (digest ^ c[i].payload[k]) * 1099511628211ull;
        }
        total += len;
        c[i].exact = 1;
    }
    for (int i = 0; i < n; i++) {
        c[i].fd = tcp_connect(port);
        if (fcntl(c[i].fd, F_SETFL, O_NONBLOCK) != 0)
            DIE("fcntl");
    }
    static unsigned char buf[65536];
    int remaining = n;
    double deadline = now_ms() + 60000;
    while (remaining > 0) {
        int m = 0;
        int idx[n];
        for (int i = 0; i < n; i++) {
            if (c[i].done)
                continue;
            pfd[m].fd = c[i].fd;
            pfd[m].events = POLLIN | (c[i].sent < c[i].len ? POLLOUT : 0);
            idx[m++] = i;
        }
        int r = poll(pfd, (nfds_t)m, 1000);
        if (r < 0 && errno != EINTR)
            DIE("poll");
        if (now_ms() > deadline) {
            printf("client: timed out with %d connections unfinished\n", remaining);
            return 1;
        }
        for (int j = 0; j < m && r > 0; j++) {
            struct conn *k = &c[idx[j]];
            if (pfd[j].revents & POLLOUT) {
                ssize_t w = send(k->fd, k->payload + k->sent, k->len - k->sent, MSG_NOSIGNAL);
                if (w > 0)
                    k->sent += (size_t)w;
                else if (w < 0 && errno != EAGAIN && errno != EINTR)
                    DIE("send on connection %d", idx[j]);
            }
            if (k->sent == k->len && !k->shut) {
                if (shutdown(k->fd, SHUT_WR) != 0)
                    DIE("shutdown");
                k->shut = 1;
            }
            if (pfd[j].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t got = recv(k->fd, buf, sizeof buf, 0);
                if (got > 0) {
                    size_t g = (size_t)got;
                    if (k->recvd + g > k->len || memcmp(buf, k->payload + k->recvd, g) != 0)
                        k->exact = 0;
                    k->recvd += g;
                } else if (got == 0) {
                    k->done = 1;
                    remaining--;
                    if (k->recvd != k->len)
                        k->exact = 0;
                    close(k->fd);
                } else if (errno != EAGAIN && errno != EINTR) {
                    fprintf(stderr, "client: recv on connection %d: %s\n", idx[j], ename(errno));
                    k->done = 1;
                    k->exact = 0;
                    remaining--;
                    close(k->fd);
                }
            }
        }
    }
    int exact = 0;
    for (int i = 0; i < n; i++)
        exact += c[i].exact;
    printf("connections %d exact %d bytes %zu digest %016llx\n", n, exact, total,
           (unsigned long long)digest);
    return exact == n ? 0 : 1;
}
