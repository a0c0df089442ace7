/* The hand-written reference for the echo benchmark: what a server rewritten
 * on epoll (libevent class) does, without any library.
 *
 *   epoll-echo-server [THREADS]
 *
 * Each of THREADS (default 1) threads owns a listening socket on the same
 * 127.0.0.1 port (SO_REUSEPORT, so the kernel spreads connections over them)
 * and one level-triggered epoll loop: accept every pending connection, and
 * on each readable connection read once and write the bytes back. Bytes the
 * socket cannot take yet wait in the connection's buffer for EPOLLOUT.
 * Prints "port N" when ready; runs until killed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 16384

struct conn {
    char pending[BUF]; /* read but not yet written back */
    size_t pending_len;
};

static int port;

static void die(const char *what)
{
    perror(what);
    exit(99);
}

static int listener(int want_port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)want_port);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("bind");
    if (listen(fd, 4096) != 0)
        die("listen");
    socklen_t len = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        die("getsockname");
    port = ntohs(a.sin_port);
    return fd;
}

static void drop(int ep, int fd, struct conn **conns)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    free(conns[fd]);
    conns[fd] = NULL;
}

/* Writes what is pending; returns 0 when all of it went out, 1 when the
 * socket is full (EPOLLOUT armed), -1 on error. */
static int flush_pending(int ep, int fd, struct conn *c)
{
    size_t off = 0;
    while (off < c->pending_len) {
        ssize_t w = write(fd, c->pending + off, c->pending_len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                return -1;
            memmove(c->pending, c->pending + off, c->pending_len - off);
            c->pending_len -= off;
            struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
            epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
            return 1;
        }
        off += (size_t)w;
    }
    c->pending_len = 0;
    return 0;
}

static void *serve(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    size_t max_fd = rl.rlim_cur;
    struct conn **conns = calloc(max_fd, sizeof *conns);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || ep < 0)
        die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                int c;
                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if ((size_t)c >= max_fd || !(conns[c] = calloc(1, sizeof(struct conn)))) {
                        close(c);
                        continue;
                    }
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            struct conn *c = conns[fd];
            if (!c)
                continue;
            if (c->pending_len > 0) { /* EPOLLOUT: the rest of the last echo */
                int r = flush_pending(ep, fd, c);
                if (r < 0)
                    drop(ep, fd, conns);
                else if (r == 0) {
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = fd};
                    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
                }
                continue;
            }
            ssize_t r = read(fd, c->pending, BUF);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0) {
                drop(ep, fd, conns);
                continue;
            }
            c->pending_len = (size_t)r;
            if (flush_pending(ep, fd, c) < 0)
                drop(ep, fd, conns);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (argc > 2 || threads < 1 || threads > 64) {
        fprintf(stderr, "usage: epoll-echo-server [THREADS 1..64]\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int first = listener(0);
    for (int t = 1; t < threads; t++) {
        pthread_t th;
        if (pthread_create(&th, NULL, serve, (void *)(intptr_t)listener(port)) != 0)
            die("pthread_create");
    }
    printf("port %d\n", port);
    fflush(stdout);
    serve((void *)(intptr_t)first);
    return 0;
}
