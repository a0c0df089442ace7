/* N threads that sleep for an hour: the "sleeping coroutines" of the idle
 * benchmark. An ordinary program; scripts/bench runs it under the shim and
 * counts how often the process wakes up while nothing is due.
 *
 *   idle-sleepers N
 *
 * Prints "sleeping N" once every thread has started; runs until killed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t all_started = PTHREAD_COND_INITIALIZER;
static long n, started;

static void *sleeper(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&m);
    if (++started == n)
        pthread_cond_signal(&all_started);
    pthread_mutex_unlock(&m);
    for (;;)
        sleep(3600);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2 || (n = atol(argv[1])) <= 0) {
        fprintf(stderr, "usage: idle-sleepers N\n");
        return 2;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    for (long i = 0; i < n; i++) {
        pthread_t t;
        int rc = pthread_create(&t, &attr, sleeper, NULL);
        if (rc != 0) {
            fprintf(stderr, "pthread_create #%ld: %s\n", i, strerror(rc));
            return 1;
        }
    }
    pthread_mutex_lock(&m);
    while (started < n)
        pthread_cond_wait(&all_started, &m);
    pthread_mutex_unlock(&m);
    printf("sleeping %ld\n", n);
    fflush(stdout);
    for (;;)
        pause();
}
