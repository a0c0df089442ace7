/* A pool of 4 threads accepting on one listener (the classic pre-threaded
 * server). After its first connection, one worker spins on the CPU for 2 s.
 * The other three must keep accepting: every later connection is served
 * within 1 s.
 *
 *   poolaccept */
#include <pthread.h>

#include "common.h"

static int ls;
static volatile int busy_taken;

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(ls, NULL, NULL);
        if (c < 0)
            return NULL;
        char b;
        if (read(c, &b, 1) == 1)
            write(c, "y", 1);
        close(c);
        if (!__sync_lock_test_and_set(&busy_taken, 1)) {
            double t = now_ms();
            while (now_ms() - t < 2000) {
            }
        }
    }
}

int main(void)
{
    ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(ls, (struct sockaddr *)&a, sizeof a);
    listen(ls, 64);
    getsockname(ls, (struct sockaddr *)&a, &len);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    usleep(100000);
    int served = 0, slow = 0;
    for (int k = 0; k < 8; k++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        double t0 = now_ms();
        char b = 0;
        if (connect(c, (struct sockaddr *)&a, sizeof a) == 0 && write(c, "x", 1) == 1 && read(c, &b, 1) == 1 &&
            b == 'y')
            served++;
        if (now_ms() - t0 > 1000)
            slow++;
        close(c);
        usleep(50000);
    }
    printf("served %d of 8, slower than 1 s: %d\n", served, slow);
    return 0;
}
