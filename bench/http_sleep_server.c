/* A latency-bound service written the ordinary way: one blocking thread per
 * connection whose handler sleeps (a stand-in for a call to a backend)
 * before it answers. Never linked to cohook; scripts/bench runs it natively
 * and under the shim.
 *
 *   http-sleep-server [SLEEP_MS]
 *
 * Keep-alive HTTP/1.1: for each request "GET /<path> ..." it sleeps SLEEP_MS
 * (default 50) and answers "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n"
 * followed by the first 8 bytes of the path. Prints "port N"; runs until
 * killed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int sleep_ms = 50;

static void *handle(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    size_t have = 0;
    for (;;) {
        char *end = have ? memmem(buf, have, "\r\n\r\n", 4) : NULL;
        if (!end) {
            if (have == sizeof buf)
                break; /* a header this long is not ours */
            ssize_t r = read(fd, buf + have, sizeof buf - have);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            have += (size_t)r;
            continue;
        }
        size_t request_len = (size_t)(end - buf) + 4;
        if (request_len < 13 || memcmp(buf, "GET /", 5) != 0)
            break;
        struct timespec ts = {sleep_ms / 1000, (long)(sleep_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        char reply[64];
        int len = snprintf(reply, sizeof reply, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n%.8s", buf + 5);
        if (write(fd, reply, (size_t)len) != len)
            break;
        memmove(buf, buf + request_len, have - request_len);
        have -= request_len;
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && (sleep_ms = atoi(argv[1])) < 0)) {
        fprintf(stderr, "usage: http-sleep-server [SLEEP_MS]\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 4096) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) != 0) {
        perror("listen");
        return 99;
    }
    printf("port %d\n", ntohs(a.sin_port));
    fflush(stdout);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            perror("accept");
            return 99;
        }
        pthread_t t;
        int rc = pthread_create(&t, &attr, handle, (void *)(intptr_t)fd);
        if (rc != 0) {
            fprintf(stderr, "pthread_create: %s\n", strerror(rc));
            return 99;
        }
    }
}
