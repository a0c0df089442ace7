/* pthread_cancel of threads waiting at cancellation points.
 *
 *   cancel
 *
 * Threads blocked in read, accept, pthread_cond_wait, nanosleep, sem_wait
 * and pthread_join are cancelled: each join gives PTHREAD_CANCELED (joins
 * are bounded: 5 s, then "still running") and the cleanup handler ran (for cond_wait with the mutex held again). A thread
 * with cancellation disabled finishes its wait and is cancelled at its
 * next pthread_testcancel. Cancelling a thread that is computing (deferred
 * type) takes effect at its testcancel (it also calls sched_yield: with one
 * carrier and no preemption a pure spin would starve main).
 */
#include "common.h"

#include <semaphore.h>

static int cleanups;
static pthread_cond_t cc = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t ecm; /* errorcheck: unlock tells whether we held it */
static int held_in_cleanup = -1;
static sem_t never;
static int lfd, rfd[2];

static void count_cleanup(void *arg)
{
    (void)arg;
    __atomic_add_fetch(&cleanups, 1, __ATOMIC_SEQ_CST);
}

static void unlock_cleanup(void *arg)
{
    held_in_cleanup = pthread_mutex_unlock(arg) == 0;
    count_cleanup(NULL);
}

static void *in_read(void *arg)
{
    (void)arg;
    char c;
    pthread_cleanup_push(count_cleanup, NULL);
    read(rfd[0], &c, 1);
    pthread_cleanup_pop(0);
    return (void *)1L;
}

static void *in_accept(void *arg)
{
    (void)arg;
    pthread_cleanup_push(count_cleanup, NULL);
    accept(lfd, NULL, NULL);
    pthread_cleanup_pop(0);
    return (void *)1L;
}

static void *in_cond_wait(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&ecm);
    pthread_cleanup_push(unlock_cleanup, &ecm);
    for (;;)
        pthread_cond_wait(&cc, &ecm);
    pthread_cleanup_pop(1);
    return (void *)1L;
}

static void *in_nanosleep(void *arg)
{
    (void)arg;
    pthread_cleanup_push(count_cleanup, NULL);
    struct timespec ts = {60, 0};
    nanosleep(&ts, NULL);
    pthread_cleanup_pop(0);
    return (void *)1L;
}

static void *in_sem_wait(void *arg)
{
    (void)arg;
    pthread_cleanup_push(count_cleanup, NULL);
    sem_wait(&never);
    pthread_cleanup_pop(0);
    return (void *)1L;
}

static void *in_join(void *arg)
{
    pthread_cleanup_push(count_cleanup, NULL);
    pthread_join(*(pthread_t *)arg, NULL);
    pthread_cleanup_pop(0);
    return (void *)1L;
}

static volatile int disabled_woke;
static void *disabled(void *arg)
{
    (void)arg;
    int old;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    pthread_cleanup_push(count_cleanup, NULL);
    struct timespec ts = {0, 200000000}; /* not cut short by the cancel */
    nanosleep(&ts, NULL);
    disabled_woke = 1;
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
    pthread_testcancel();
    pthread_cleanup_pop(0);
    return (void *)1L;
}

static void *computing(void *arg)
{
    (void)arg;
    pthread_cleanup_push(count_cleanup, NULL);
    for (long k = 0;; k++) {
        if (k % 1000 == 0) {
            pthread_testcancel();
            sched_yield(); /* cooperative: no preemption on one carrier */
        }
    }
    pthread_cleanup_pop(0);
    return (void *)1L;
}

/* Joins with a 5 s bound, so that a thread the cancel did not reach is
 * reported (and left behind) instead of hanging the program. */
static const char *outcome(pthread_t t)
{
    void *v;
    struct timespec d = deadline_in(CLOCK_REALTIME, 5000);
    int rc = pthread_timedjoin_np(t, &v, &d);
    if (rc == ETIMEDOUT)
        return "still running after 5s";
    if (rc != 0)
        return ename(rc);
    return v == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "returned normally";
}

static void one(const char *label, void *(*fn)(void *), void *arg)
{
    int before = cleanups;
    pthread_t t = spawn(fn, arg);
    msleep(100);
    int rc = pthread_cancel(t);
    const char *o = outcome(t);
    printf("%s: cancel %s, join %s, cleanup ran: %s\n", label, rcname(rc), o, yesno(cleanups == before + 1));
}

static void *sleeper_target(void *arg)
{
    (void)arg;
    msleep(500);
    return NULL;
}

int main(void)
{
    self_alarm(120);
    int port;
    lfd = tcp_listener(&port, 8);
    if (pipe(rfd) != 0)
        DIE("pipe");
    sem_init(&never, 0, 0);
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(&ecm, &a);

    one("blocked in read", in_read, NULL);
    one("blocked in accept", in_accept, NULL);
    one("blocked in pthread_cond_wait", in_cond_wait, NULL);
    printf("cond_wait's cleanup handler had the mutex: %s, mutex free after: %s\n", yesno(held_in_cleanup == 1),
           yesno(pthread_mutex_trylock(&ecm) == 0));
    pthread_mutex_unlock(&ecm);
    one("blocked in nanosleep 60s", in_nanosleep, NULL);
    one("blocked in sem_wait", in_sem_wait, NULL);
    pthread_t target = spawn(sleeper_target, NULL);
    one("blocked in pthread_join", in_join, &target);
    pthread_join(target, NULL); /* (not checked: if the cancel failed, in_join joined it) */
    one("computing, testcancel and sched_yield every 1000 iterations", computing, NULL);

    int before = cleanups;
    pthread_t t = spawn(disabled, NULL);
    msleep(50);
    pthread_cancel(t);
    const char *o = outcome(t);
    printf("cancel disabled during a 200ms sleep: sleep completed: %s, then join %s, cleanup ran: %s\n",
           yesno(disabled_woke), o, yesno(cleanups == before + 1));
    return 0;
}
