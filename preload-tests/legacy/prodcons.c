/* Producers and consumers on a bounded queue guarded by a mutex and two
 * condition variables, then pthread_cond_timedwait / clockwait timeouts.
 *
 *   prodcons
 *
 * 1. Twice (waking with pthread_cond_signal, then with broadcast): 4
 *    producers put 5000 items each into an 8-slot queue, 3 consumers take
 *    them until each gets an end marker. The sum of a hash of every consumed
 *    item must equal the one computed from what was produced.
 * 2. Timed waits that nobody signals end with ETIMEDOUT, never before the
 *    deadline on the deadline's clock, with the mutex held again: CLOCK_REALTIME
 *    (the default), a CLOCK_MONOTONIC condattr, pthread_cond_clockwait on
 *    both clocks; a deadline already past; tv_nsec out of range (EINVAL).
 * 3. Timed waits that another thread signals before the deadline return 0.
 */
#include "common.h"

#include <stdint.h>

#define CAP 8
#define PRODUCERS 4
#define CONSUMERS 3
#define PER_PRODUCER 5000

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER;
static pthread_cond_t not_empty; /* pthread_cond_init'ed, for variety */
static long q[CAP];
static int head, count, use_broadcast;
static uint64_t consumed_hash[CONSUMERS];
static long consumed_n[CONSUMERS];
static long full_waits, empty_waits;

static void wake(pthread_cond_t *c)
{
    if (use_broadcast)
        pthread_cond_broadcast(c);
    else
        pthread_cond_signal(c);
}

static void put(long v)
{
    pthread_mutex_lock(&m);
    while (count == CAP) {
        full_waits++;
        pthread_cond_wait(&not_full, &m);
    }
    q[(head + count) % CAP] = v;
    count++;
    wake(&not_empty);
    pthread_mutex_unlock(&m);
}

static long get(void)
{
    pthread_mutex_lock(&m);
    while (count == 0) {
        empty_waits++;
        pthread_cond_wait(&not_empty, &m);
    }
    long v = q[head];
    head = (head + 1) % CAP;
    count--;
    wake(&not_full);
    pthread_mutex_unlock(&m);
    return v;
}

static long item(long producer, long k)
{
    return producer * 1000003L + k * 7 + 1;
}

static void *producer(void *arg)
{
    long p = (long)arg;
    for (long k = 0; k < PER_PRODUCER; k++)
        put(item(p, k));
    return NULL;
}

static void *consumer(void *arg)
{
    long c = (long)arg;
    for (;;) {
        long v = get();
        if (v < 0)
            break;
        consumed_hash[c] += mix((uint64_t)v);
        consumed_n[c]++;
    }
    return NULL;
}

static void round_trip(const char *how)
{
    full_waits = empty_waits = 0;
    memset(consumed_hash, 0, sizeof consumed_hash);
    memset(consumed_n, 0, sizeof consumed_n);
    uint64_t expected = 0;
    for (long p = 0; p < PRODUCERS; p++)
        for (long k = 0; k < PER_PRODUCER; k++)
            expected += mix((uint64_t)item(p, k));
    pthread_t pt[PRODUCERS], ct[CONSUMERS];
    for (long c = 0; c < CONSUMERS; c++)
        ct[c] = spawn(consumer, (void *)c);
    for (long p = 0; p < PRODUCERS; p++)
        pt[p] = spawn(producer, (void *)p);
    for (int p = 0; p < PRODUCERS; p++)
        join_long(pt[p]);
    for (int c = 0; c < CONSUMERS; c++)
        put(-1); /* one end marker per consumer */
    for (int c = 0; c < CONSUMERS; c++)
        join_long(ct[c]);
    uint64_t got = 0;
    long n = 0;
    for (int c = 0; c < CONSUMERS; c++) {
        got += consumed_hash[c];
        n += consumed_n[c];
    }
    printf("%s: produced %d consumed %ld checksum %016llx expected %016llx match: %s queue empty: %s\n",
           how, PRODUCERS * PER_PRODUCER, n, (unsigned long long)got, (unsigned long long)expected,
           yesno(got == expected), yesno(count == 0));
    fprintf(stderr, "%s: per consumer %ld %ld %ld, waits full %ld empty %ld\n", how, consumed_n[0],
            consumed_n[1], consumed_n[2], full_waits, empty_waits);
}

/* ---- 2. timed waits nobody signals ---- */

enum how { TIMEDWAIT, CLOCKWAIT };

static void timed_out(const char *label, clockid_t attr_clock, enum how how, clockid_t clk, int ms)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    if (attr_clock != (clockid_t)-1 && pthread_condattr_setclock(&ca, attr_clock) != 0)
        DIE("pthread_condattr_setclock");
    pthread_cond_t c;
    pthread_cond_init(&c, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_t em;
    pthread_mutex_init(&em, &ma);
    pthread_mutexattr_destroy(&ma);

    pthread_mutex_lock(&em);
    struct timespec d = deadline_in(clk, ms);
    double t0 = now_ms();
    int rc, spurious = 0;
    /* A correct program loops on its predicate (never true here): a spurious
     * 0 is allowed, the end must be ETIMEDOUT. */
    for (;;) {
        rc = how == TIMEDWAIT ? pthread_cond_timedwait(&c, &em, &d)
                              : pthread_cond_clockwait(&c, &em, clk, &d);
        if (rc != 0 || ++spurious > 1000)
            break;
    }
    int late_enough = reached(clk, &d);
    double el = now_ms() - t0;
    int held = pthread_mutex_unlock(&em) == 0; /* errorcheck: EPERM if not ours */
    printf("%s %dms: %s not early: %s elapsed<3s: %s mutex held after: %s\n", label, ms, rcname(rc),
           yesno(late_enough), yesno(el < 3000), yesno(held));
    if (spurious)
        fprintf(stderr, "%s: %d spurious wakeups\n", label, spurious);
    pthread_cond_destroy(&c);
    pthread_mutex_destroy(&em);
}

static void invalid(void)
{
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    pthread_mutex_t mm = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mm);
    struct timespec bad = bad_deadline(CLOCK_REALTIME);
    printf("cond_timedwait tv_nsec=1e9: %s\n", rcname(pthread_cond_timedwait(&c, &mm, &bad)));
    struct timespec d = deadline_in(CLOCK_MONOTONIC, 100);
    printf("cond_clockwait CLOCK_PROCESS_CPUTIME_ID: %s\n",
           rcname(pthread_cond_clockwait(&c, &mm, CLOCK_PROCESS_CPUTIME_ID, &d)));
    struct timespec past = deadline_in(CLOCK_REALTIME, 0);
    past.tv_sec -= 5;
    double t0 = now_ms();
    int rc = pthread_cond_timedwait(&c, &mm, &past);
    printf("cond_timedwait deadline 5s ago: %s immediate: %s\n", rcname(rc), yesno(now_ms() - t0 < 1000));
    pthread_mutex_unlock(&mm);
}

/* ---- 3. timed waits signalled in time ---- */

struct signaller {
    pthread_mutex_t *m;
    pthread_cond_t *c;
    int *flag;
    int ms;
};

static void *signal_later(void *arg)
{
    struct signaller *s = arg;
    msleep(s->ms);
    pthread_mutex_lock(s->m);
    *s->flag = 1;
    pthread_cond_signal(s->c);
    pthread_mutex_unlock(s->m);
    return NULL;
}

static void signalled(const char *label, clockid_t attr_clock)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, attr_clock);
    pthread_cond_t c;
    pthread_cond_init(&c, &ca);
    pthread_mutex_t mm = PTHREAD_MUTEX_INITIALIZER;
    int flag = 0;
    struct signaller s = {&mm, &c, &flag, 100};
    pthread_mutex_lock(&mm);
    double t0 = now_ms();
    pthread_t t = spawn(signal_later, &s);
    struct timespec d = deadline_in(attr_clock, 5000);
    int rc = 0;
    while (!flag && rc == 0)
        rc = pthread_cond_timedwait(&c, &mm, &d);
    double el = now_ms() - t0;
    pthread_mutex_unlock(&mm);
    join_long(t);
    printf("%s signalled after 100ms, deadline 5s: %s flag: %d waited>=100ms: %s elapsed<3s: %s\n", label,
           rcname(rc), flag, yesno(el >= 100), yesno(el < 3000));
    pthread_cond_destroy(&c);
}

int main(void)
{
    self_alarm(120);
    pthread_cond_init(&not_empty, NULL);
    use_broadcast = 0;
    round_trip("signal");
    use_broadcast = 1;
    round_trip("broadcast");

    timed_out("cond_timedwait CLOCK_REALTIME (default attr)", (clockid_t)-1, TIMEDWAIT, CLOCK_REALTIME, 200);
    timed_out("cond_timedwait CLOCK_MONOTONIC condattr", CLOCK_MONOTONIC, TIMEDWAIT, CLOCK_MONOTONIC, 200);
    timed_out("cond_timedwait CLOCK_REALTIME condattr", CLOCK_REALTIME, TIMEDWAIT, CLOCK_REALTIME, 150);
    timed_out("cond_clockwait CLOCK_MONOTONIC", (clockid_t)-1, CLOCKWAIT, CLOCK_MONOTONIC, 200);
    timed_out("cond_clockwait CLOCK_REALTIME", (clockid_t)-1, CLOCKWAIT, CLOCK_REALTIME, 150);
    invalid();
    signalled("cond_timedwait CLOCK_REALTIME", CLOCK_REALTIME);
    signalled("cond_timedwait CLOCK_MONOTONIC", CLOCK_MONOTONIC);
    return 0;
}
