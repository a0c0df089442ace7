/* Blocking echo server, one pthread per connection.
 *
 *   echo_server NCONN
 *
 * Listens on 127.0.0.1 (kernel-chosen port), prints "port N" first, echoes
 * every connection until the client closes, and after NCONN connections have
 * been served prints a summary and exits 0. Odd-numbered fds use recv/send,
 * even ones read/write, so both families are exercised.
 */
#include "common.h"

#include <pthread.h>
#include <stdint.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int served, errors, max_conns;
static long long total_bytes;

static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    int use_recv = fd & 1;
    char buf[16384];
    long long bytes = 0;
    int failed = 0;
    for (;;) {
        ssize_t n = use_recv ? recv(fd, buf, sizeof buf, 0) : read(fd, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "server: %s: %s\n", use_recv ? "recv" : "read", ename(errno));
            failed = 1;
            break;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = use_recv ? send(fd, buf + off, (size_t)(n - off), 0)
                                 : write(fd, buf + off, (size_t)(n - off));
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                fprintf(stderr, "server: %s: %s\n", use_recv ? "send" : "write", ename(errno));
                failed = 1;
                goto out;
            }
            off += w;
        }
        bytes += n;
    }
out:
    close(fd);
    pthread_mutex_lock(&lock);
    served++;
    errors += failed;
    total_bytes += bytes;
    if (served == max_conns) {
        printf("served %d connections, %lld bytes, %d errors\n", served, total_bytes, errors);
        fflush(stdout);
        exit(errors ? 1 : 0);
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: echo_server NCONN\n");
        return 2;
    }
    max_conns = atoi(argv[1]);
    int port;
    int lfd = tcp_listener(&port, 4096);
    printf("port %d\n", port);
    fflush(stdout);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            DIE("accept");
        }
        pthread_t t;
        int rc = pthread_create(&t, &attr, serve, (void *)(intptr_t)fd);
        if (rc != 0) {
            errno = rc;
            DIE("pthread_create");
        }
    }
}
