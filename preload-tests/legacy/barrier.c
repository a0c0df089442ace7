/* pthread_barrier: N threads through several phases.
 *
 *   barrier [THREADS [PHASES]]     (default 8 threads, 100 phases)
 *
 * Each phase: every thread counts its arrival, waits on the barrier, and on
 * leaving checks that every thread had arrived. Exactly one waiter per phase
 * gets PTHREAD_BARRIER_SERIAL_THREAD; it publishes the phase's result, and
 * after a second barrier every thread checks it sees that result. Arrival
 * order varies (yields, 1 ms sleeps). Also: a barrier of count 1, count 0
 * (EINVAL), destroy.
 */
#include "common.h"

#define MAXPHASES 1000

static int nthreads = 8, nphases = 100;
static pthread_barrier_t b1, b2;
static int arrived[MAXPHASES], serial[MAXPHASES];
static long result[MAXPHASES];
static int left_early, arrived_early, wrong_result, bad_rc;

static void *worker(void *arg)
{
    long i = (long)arg;
    for (int p = 0; p < nphases; p++) {
        if ((i + p) % 3 == 0)
            sched_yield();
        if ((i * 7 + p) % 23 == 0)
            msleep(1);
        if (p > 0 && __atomic_load_n(&arrived[p - 1], __ATOMIC_SEQ_CST) != nthreads)
            __atomic_add_fetch(&arrived_early, 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&arrived[p], 1, __ATOMIC_SEQ_CST);
        int rc = pthread_barrier_wait(&b1);
        if (__atomic_load_n(&arrived[p], __ATOMIC_SEQ_CST) != nthreads)
            __atomic_add_fetch(&left_early, 1, __ATOMIC_SEQ_CST);
        if (rc == PTHREAD_BARRIER_SERIAL_THREAD) {
            __atomic_add_fetch(&serial[p], 1, __ATOMIC_SEQ_CST);
            result[p] = p * 31L + 7;
        } else if (rc != 0) {
            __atomic_add_fetch(&bad_rc, 1, __ATOMIC_SEQ_CST);
        }
        rc = pthread_barrier_wait(&b2);
        if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD)
            __atomic_add_fetch(&bad_rc, 1, __ATOMIC_SEQ_CST);
        if (result[p] != p * 31L + 7)
            __atomic_add_fetch(&wrong_result, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    self_alarm(120);
    if (argc > 1)
        nthreads = atoi(argv[1]);
    if (argc > 2)
        nphases = atoi(argv[2]);
    if (nthreads < 1 || nphases < 1 || nphases > MAXPHASES) {
        fprintf(stderr, "usage: barrier [THREADS [PHASES<=%d]]\n", MAXPHASES);
        return 2;
    }
    pthread_barrierattr_t a;
    pthread_barrierattr_init(&a);
    pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_PRIVATE);
    if (pthread_barrier_init(&b1, &a, (unsigned)nthreads) != 0 ||
        pthread_barrier_init(&b2, NULL, (unsigned)nthreads) != 0)
        DIE("pthread_barrier_init");
    pthread_barrierattr_destroy(&a);
    pthread_t *t = calloc((size_t)nthreads, sizeof *t);
    for (long i = 0; i < nthreads; i++)
        t[i] = spawn(worker, (void *)i);
    for (int i = 0; i < nthreads; i++)
        join_long(t[i]);
    int exactly_one = 1, total = 0;
    for (int p = 0; p < nphases; p++) {
        exactly_one &= serial[p] == 1;
        total += serial[p];
    }
    printf("threads %d phases %d: exactly one serial waiter per phase: %s (total %d)\n", nthreads, nphases,
           yesno(exactly_one), total);
    printf("left a barrier before all arrived: %d, arrived at a phase before the previous filled: %d\n",
           left_early, arrived_early);
    printf("serial thread's result seen by all after the second barrier: %s, other return values: %d\n",
           yesno(wrong_result == 0), bad_rc);
    printf("destroy: %s %s\n", rcname(pthread_barrier_destroy(&b1)), rcname(pthread_barrier_destroy(&b2)));

    pthread_barrier_t one;
    pthread_barrier_init(&one, NULL, 1);
    int s = 0;
    for (int k = 0; k < 5; k++)
        s += pthread_barrier_wait(&one) == PTHREAD_BARRIER_SERIAL_THREAD;
    printf("count 1: serial on every wait: %s\n", yesno(s == 5));
    pthread_barrier_destroy(&one);
    pthread_barrier_t zero;
    printf("count 0: %s\n", rcname(pthread_barrier_init(&zero, NULL, 0)));
    return 0;
}
