/* The pthread calls no other legacy program makes, from a created thread
 * (a coroutine under the shim) and from main: affinity, scheduling
 * parameters, the thread CPU-time clock, cancel type, pthread_yield,
 * pthread_rwlock_clockrdlock and pthread_mutex_consistent. Prints return
 * values and errno names only.
 *
 *   pthread_families */
#define _GNU_SOURCE 1
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "common.h"

/* Old binaries call the symbol pthread_yield (now a compat-only version in
 * glibc); today's headers redirect the name to sched_yield. Bind to it. */
#if defined(__x86_64__)
__asm__(".symver old_pthread_yield,pthread_yield@GLIBC_2.2.5");
#elif defined(__aarch64__)
__asm__(".symver old_pthread_yield,pthread_yield@GLIBC_2.17");
#endif
int old_pthread_yield(void);

static void exercise(const char *who)
{
    pthread_t self = pthread_self();
    cpu_set_t set;
    CPU_ZERO(&set);
    int r = pthread_getaffinity_np(self, sizeof set, &set);
    printf("%s: getaffinity %d, cpus>0 %s\n", who, r, CPU_COUNT(&set) > 0 ? "yes" : "no");
    printf("%s: setaffinity (same set) %d\n", who, pthread_setaffinity_np(self, sizeof set, &set));
    clockid_t clk;
    r = pthread_getcpuclockid(self, &clk);
    struct timespec ts = {0, 0};
    printf("%s: getcpuclockid %d, clock readable %s\n", who, r, clock_gettime(clk, &ts) == 0 ? "yes" : "no");
    int policy = -1;
    struct sched_param sp = {0};
    r = pthread_getschedparam(self, &policy, &sp);
    printf("%s: getschedparam %d policy %s prio %d\n", who, r, policy == SCHED_OTHER ? "OTHER" : "?",
           sp.sched_priority);
    printf("%s: setschedparam(OTHER, 0) %d\n", who, pthread_setschedparam(self, SCHED_OTHER, &sp));
    printf("%s: setschedprio(0) %d\n", who, pthread_setschedprio(self, 0));
    int old = -1;
    r = pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &old);
    printf("%s: setcanceltype %d old %s, bad type %s\n", who, r, old == PTHREAD_CANCEL_DEFERRED ? "DEFERRED" : "?",
           pthread_setcanceltype(99, NULL) == EINVAL ? "EINVAL" : "?");
    printf("%s: pthread_yield %d\n", who, old_pthread_yield());
    pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += 1;
    r = pthread_rwlock_clockrdlock(&rw, CLOCK_MONOTONIC, &until);
    printf("%s: rwlock_clockrdlock %d, unlock %d\n", who, r, pthread_rwlock_unlock(&rw));
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    r = pthread_mutex_consistent(&m); /* not a robust mutex */
    printf("%s: mutex_consistent on a normal mutex: %s\n", who, r == EINVAL ? "EINVAL" : "?");
}

static void *thread_main(void *arg)
{
    (void)arg;
    exercise("thread");
    return NULL;
}

int main(void)
{
    alarm(30);
    pthread_t t;
    pthread_create(&t, NULL, thread_main, NULL);
    pthread_join(t, NULL);
    exercise("main");
    return 0;
}
