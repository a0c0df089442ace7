/* 40 threads blocked in read under RLIMIT_NOFILE = 128: every thread gets
 * its byte. (Under cohook, threads that find no fds for a carrier of their
 * own block natively instead: same results.)
 *
 *   fdlimit */
#include <pthread.h>
#include <sys/resource.h>

#include "common.h"

#define N 40
static int sv[N][2];

static void *reader(void *arg)
{
    long i = (long)arg;
    char c;
    return (void *)(long)read(sv[i][0], &c, 1);
}

int main(void)
{
    struct rlimit rl = {128, 128};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1;
    pthread_t t[N];
    for (long i = 0; i < N; i++) {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]) != 0)
            return 2;
        pthread_create(&t[i], NULL, reader, (void *)i);
    }
    usleep(100000);
    for (int i = 0; i < N; i++)
        write(sv[i][1], "x", 1);
    int ok = 0;
    for (int i = 0; i < N; i++) {
        void *r;
        pthread_join(t[i], &r);
        ok += (long)r == 1;
    }
    printf("%d of %d threads read their byte\n", ok, N);
    return 0;
}
