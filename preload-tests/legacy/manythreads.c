/* 50 threads, each blocked reading its own socketpair (read, recv or readv);
 * the main thread writes a distinct message to each 100 ms later. Every thread
 * must get exactly its own message, and none before it was written.
 */
#include "common.h"

#include <pthread.h>
#include <sys/uio.h>

#define N 50

static int fds[N][2];
static int ok[N];
static double start, written_at[N];

static void *reader(void *arg)
{
    int i = (int)(long)arg;
    char buf[64], want[32];
    snprintf(want, sizeof want, "message %d", i);
    ssize_t n;
    if (i % 3 == 0)
        n = read(fds[i][0], buf, sizeof buf);
    else if (i % 3 == 1)
        n = recv(fds[i][0], buf, sizeof buf, 0);
    else {
        struct iovec iov[2] = {{buf, 4}, {buf + 4, sizeof buf - 4}};
        n = readv(fds[i][0], iov, 2);
    }
    double t = now_ms();
    ok[i] = n == (ssize_t)strlen(want) && memcmp(buf, want, (size_t)n) == 0 && t >= written_at[i];
    if (!ok[i])
        fprintf(stderr, "thread %d: got %zd bytes '%.*s' at %.1f ms (written at %.1f)\n", i, n,
                (int)(n > 0 ? n : 0), buf, t - start, written_at[i] - start);
    return NULL;
}

int main(void)
{
    pthread_t t[N];
    start = now_ms();
    for (int i = 0; i < N; i++) {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds[i]) != 0)
            DIE("socketpair");
        written_at[i] = 1e300;
    }
    for (int i = 0; i < N; i++)
        if (pthread_create(&t[i], NULL, reader, (void *)(long)i) != 0)
            DIE("pthread_create");
    msleep(100);
    for (int i = N - 1; i >= 0; i--) { /* reverse order, for variety */
        char msg[32];
        int len = snprintf(msg, sizeof msg, "message %d", i);
        written_at[i] = now_ms();
        __sync_synchronize();
        if (write_all(fds[i][1], msg, (size_t)len) != 0)
            DIE("write");
    }
    int good = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        good += ok[i];
    }
    printf("%d of %d threads got their own message, none early\n", good, N);
    return good == N ? 0 : 1;
}
