/* Readers and writers with pthread_rwlock.
 *
 *   rwlock
 *
 * 1. 4 readers and 2 writers share a 16-slot array. A writer increments every
 *    slot under the write lock, yielding in the middle now and then; a reader
 *    checks under the read lock that all slots are equal (no half-done write),
 *    yielding inside its section too. Counts are exact at the end.
 * 2. The error results: a second reader gets in while the lock is read-held;
 *    trywrlock EBUSY; timedwrlock and clockwrlock ETIMEDOUT, never early; a
 *    recursive read lock succeeds even with a writer waiting (the default
 *    kind prefers readers); the writer gets the lock only when every reader
 *    left; while write-held, tryrdlock EBUSY and timedrdlock ETIMEDOUT; the
 *    write owner relocking gets EDEADLK.
 */
#include "common.h"

#include <semaphore.h>

#define SLOTS 16
#define READERS 4
#define WRITERS 2
#define READS 4000
#define WRITES 1500

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static volatile long data[SLOTS];
static long torn, reads_done, writes_done;

static void *reader(void *arg)
{
    (void)arg;
    long my_torn = 0;
    for (int k = 0; k < READS; k++) {
        pthread_rwlock_rdlock(&rw);
        long v = data[0];
        if (k % 64 == 0)
            sched_yield();
        for (int s = 1; s < SLOTS; s++)
            if (data[s] != v)
                my_torn++;
        pthread_rwlock_unlock(&rw);
        __atomic_add_fetch(&reads_done, 1, __ATOMIC_RELAXED);
    }
    __atomic_add_fetch(&torn, my_torn, __ATOMIC_RELAXED);
    return NULL;
}

static void *writer(void *arg)
{
    (void)arg;
    for (int k = 0; k < WRITES; k++) {
        pthread_rwlock_wrlock(&rw);
        for (int s = 0; s < SLOTS; s++) {
            data[s] = data[s] + 1;
            if (s == SLOTS / 2 && k % 16 == 0)
                sched_yield(); /* a half-done write, visible if the lock is broken */
        }
        writes_done++;
        pthread_rwlock_unlock(&rw);
    }
    return NULL;
}

/* ---- 2 ---- */

static pthread_rwlock_t lk;
static sem_t held, release, release_writer;
static int readers_inside;          /* under lk's read side: atomic */
static int writer_saw_readers = -1; /* readers_inside when the writer got in */

static void *hold_read(void *arg)
{
    (void)arg;
    if (pthread_rwlock_rdlock(&lk) != 0)
        DIE("rdlock");
    __atomic_add_fetch(&readers_inside, 1, __ATOMIC_SEQ_CST);
    sem_post(&held);
    while (sem_wait(&release) != 0) {
    }
    __atomic_sub_fetch(&readers_inside, 1, __ATOMIC_SEQ_CST);
    pthread_rwlock_unlock(&lk);
    return NULL;
}

static void *waiting_writer(void *arg)
{
    (void)arg;
    int rc = pthread_rwlock_wrlock(&lk);
    writer_saw_readers = __atomic_load_n(&readers_inside, __ATOMIC_SEQ_CST);
    sem_post(&held);
    while (sem_wait(&release_writer) != 0) { /* hold it until main has tried */
    }
    pthread_rwlock_unlock(&lk);
    return (void *)(long)rc;
}

static void *try_read(void *arg)
{
    (void)arg;
    return (void *)(long)pthread_rwlock_tryrdlock(&lk);
}

static void *timed_read(void *arg)
{
    (void)arg;
    struct timespec d = deadline_in(CLOCK_REALTIME, 150);
    int rc = pthread_rwlock_timedrdlock(&lk, &d);
    int r = reached(CLOCK_REALTIME, &d);
    if (rc == 0)
        pthread_rwlock_unlock(&lk);
    return (void *)(long)(rc | (r ? 0x10000 : 0));
}

static void errors(void)
{
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    if (pthread_rwlock_init(&lk, &a) != 0)
        DIE("pthread_rwlock_init");
    pthread_rwlockattr_destroy(&a);
    sem_init(&held, 0, 0);
    sem_init(&release, 0, 0);
    sem_init(&release_writer, 0, 0);

    pthread_t r1 = spawn(hold_read, NULL);
    while (sem_wait(&held) != 0) {
    }
    int rc = pthread_rwlock_tryrdlock(&lk);
    printf("tryrdlock while read-held by another thread: %s\n", rcname(rc));
    if (rc == 0)
        pthread_rwlock_unlock(&lk);
    printf("trywrlock while read-held: %s\n", rcname(pthread_rwlock_trywrlock(&lk)));

    struct timespec d = deadline_in(CLOCK_REALTIME, 200);
    double t0 = now_ms();
    rc = pthread_rwlock_timedwrlock(&lk, &d);
    printf("timedwrlock 200ms while read-held: %s not early: %s elapsed<3s: %s\n", rcname(rc),
           yesno(reached(CLOCK_REALTIME, &d)), yesno(now_ms() - t0 < 3000));
    d = deadline_in(CLOCK_MONOTONIC, 200);
    t0 = now_ms();
    rc = pthread_rwlock_clockwrlock(&lk, CLOCK_MONOTONIC, &d);
    printf("clockwrlock MONOTONIC 200ms while read-held: %s not early: %s elapsed<3s: %s\n", rcname(rc),
           yesno(reached(CLOCK_MONOTONIC, &d)), yesno(now_ms() - t0 < 3000));
    struct timespec bad = bad_deadline(CLOCK_REALTIME);
    printf("timedwrlock tv_nsec=1e9 while read-held: %s\n", rcname(pthread_rwlock_timedwrlock(&lk, &bad)));

    /* Recursive read lock, with a writer queued behind the readers. */
    rc = pthread_rwlock_rdlock(&lk);
    __atomic_add_fetch(&readers_inside, 1, __ATOMIC_SEQ_CST);
    printf("rdlock (main, first): %s\n", rcname(rc));
    pthread_t w = spawn(waiting_writer, NULL);
    msleep(100);
    d = deadline_in(CLOCK_REALTIME, 2000);
    rc = pthread_rwlock_timedrdlock(&lk, &d);
    printf("rdlock again by the same thread with a writer waiting: %s\n", rcname(rc));
    printf("writer got in while readers held it: %s\n", yesno(writer_saw_readers != -1));
    if (rc == 0)
        pthread_rwlock_unlock(&lk);
    __atomic_sub_fetch(&readers_inside, 1, __ATOMIC_SEQ_CST);
    pthread_rwlock_unlock(&lk);
    sem_post(&release); /* the other reader leaves: the writer may go */
    join_long(r1);
    while (sem_wait(&held) != 0) {
    }
    printf("writer got the lock after every reader left: %s (readers inside: %d)\n",
           yesno(writer_saw_readers == 0), writer_saw_readers);

    /* While the writer holds it (until release_writer). */
    printf("tryrdlock while write-held: %s\n", rcname((int)join_long(spawn(try_read, NULL))));
    long tr = join_long(spawn(timed_read, NULL));
    printf("timedrdlock 150ms while write-held: %s not early: %s\n", rcname((int)(tr & 0xffff)),
           yesno((tr & 0x10000) != 0));
    sem_post(&release_writer);
    printf("writer's wrlock: %s\n", rcname((int)join_long(w)));
    t0 = now_ms();
    rc = pthread_rwlock_rdlock(&lk);
    printf("rdlock after the writer left: %s\n", rcname(rc));
    pthread_rwlock_unlock(&lk);

    rc = pthread_rwlock_wrlock(&lk);
    int again = pthread_rwlock_wrlock(&lk);
    int rd = pthread_rwlock_rdlock(&lk);
    printf("wrlock: %s, wrlock again by the owner: %s, rdlock by the write owner: %s\n", rcname(rc),
           rcname(again), rcname(rd));
    rc = pthread_rwlock_unlock(&lk);
    int tw = pthread_rwlock_trywrlock(&lk);
    printf("unlock: %s, trywrlock after: %s\n", rcname(rc), rcname(tw));
    pthread_rwlock_unlock(&lk);
    printf("destroy: %s\n", rcname(pthread_rwlock_destroy(&lk)));
}

int main(void)
{
    self_alarm(120);
    pthread_t t[READERS + WRITERS];
    for (int i = 0; i < READERS + WRITERS; i++)
        t[i] = spawn(i < READERS ? reader : writer, NULL);
    for (int i = 0; i < READERS + WRITERS; i++)
        join_long(t[i]);
    int same = 1;
    for (int s = 0; s < SLOTS; s++)
        same &= data[s] == (long)WRITERS * WRITES;
    printf("readers %d x %d, writers %d x %d: reads %ld writes %ld torn reads %ld every slot %d: %s\n", READERS,
           READS, WRITERS, WRITES, reads_done, writes_done, torn, WRITERS * WRITES, yesno(same));
    errors();
    return 0;
}
