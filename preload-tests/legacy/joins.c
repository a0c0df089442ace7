/* Thread lifecycle and identity: what pthread_join, _detach, _once, keys,
 * names, stacks and sched_yield return.
 *
 *   joins [join|detach|once|keys|names|stack|yield]...   (default: all)
 *
 * join:   return values, pthread_exit (also from a nested function),
 *         tryjoin_np EBUSY then 0, timedjoin_np/clockjoin_np ETIMEDOUT (never
 *         early) then 0, joining self EDEADLK, a thread joining another,
 *         pthread_self/pthread_equal, 200 threads created and joined.
 * detach: pthread_detach, detaching twice EINVAL, joining a detached thread
 *         EINVAL, PTHREAD_CREATE_DETACHED, 50 detached threads all finish.
 * once:   pthread_once from 16 threads runs the routine once, every caller
 *         returns after it finished.
 * keys:   destructors run at thread exit with the thread's value (not for
 *         NULL, not after pthread_key_delete), again while they re-set values,
 *         at most PTHREAD_DESTRUCTOR_ITERATIONS rounds; values are per thread.
 * names:  pthread_setname_np/getname_np, ERANGE for long names and small
 *         buffers, the name a new thread starts with.
 * stack:  pthread_getattr_np's stack contains a local variable (main, a
 *         default thread, a 1 MiB thread that uses ~900 KiB, a thread on a
 *         stack given with pthread_attr_setstack); a default thread can use a
 *         64 KiB local buffer; setstacksize below PTHREAD_STACK_MIN EINVAL.
 * yield:  sched_yield returns 0; two threads hand a token back and forth
 *         spinning on sched_yield only.
 */
#include "common.h"

#include <limits.h>
#include <semaphore.h>

static sem_t go;

static void wait_go(void)
{
    while (sem_wait(&go) != 0) {
    }
}

/* ---- join ---- */

static void *ret_value(void *arg)
{
    return arg;
}

static void *exit_value(void *arg)
{
    pthread_exit(arg);
}

static int after_exit_ran;
static void nested3(long v)
{
    pthread_exit((void *)v);
}
static void nested2(long v)
{
    nested3(v);
    after_exit_ran = 1;
}
static void *exit_nested(void *arg)
{
    nested2((long)arg);
    after_exit_ran = 1;
    return NULL;
}

static void *wait_then_return(void *arg)
{
    wait_go();
    return arg;
}

static void *join_self(void *arg)
{
    (void)arg;
    return (void *)(long)pthread_join(pthread_self(), NULL);
}

static pthread_t main_id, seen_self;
static int saw_main_equal;
static void *identity(void *arg)
{
    (void)arg;
    seen_self = pthread_self();
    saw_main_equal = pthread_equal(main_id, pthread_self()) != 0;
    return NULL;
}

static void *join_other(void *arg)
{
    pthread_t t = *(pthread_t *)arg;
    void *v = NULL;
    int rc = pthread_join(t, &v);
    return (void *)(rc == 0 ? (long)v : -1000L - rc);
}

static void join(void)
{
    void *v = NULL;
    pthread_t t = spawn(ret_value, (void *)42L);
    int rc = pthread_join(t, &v);
    printf("returned 42: join %s value %ld\n", rcname(rc), (long)v);
    t = spawn(exit_value, (void *)43L);
    rc = pthread_join(t, &v);
    printf("pthread_exit(43): join %s value %ld\n", rcname(rc), (long)v);
    t = spawn(exit_nested, (void *)44L);
    rc = pthread_join(t, &v);
    printf("pthread_exit(44) two calls deep: join %s value %ld, code after it ran: %s\n", rcname(rc), (long)v,
           yesno(after_exit_ran));
    t = spawn(ret_value, NULL);
    printf("join with a NULL value pointer: %s\n", rcname(pthread_join(t, NULL)));

    t = spawn(wait_then_return, (void *)45L);
    rc = pthread_tryjoin_np(t, &v);
    printf("tryjoin_np while it runs: %s\n", rcname(rc));
    sem_post(&go);
    double t0 = now_ms();
    while ((rc = pthread_tryjoin_np(t, &v)) == EBUSY && now_ms() - t0 < 10000)
        msleep(5);
    printf("tryjoin_np after it ended: %s value %ld\n", rcname(rc), (long)v);

    t = spawn(wait_then_return, (void *)46L);
    struct timespec d = deadline_in(CLOCK_REALTIME, 150);
    t0 = now_ms();
    rc = pthread_timedjoin_np(t, &v, &d);
    printf("timedjoin_np 150ms while it runs: %s not early: %s elapsed<3s: %s\n", rcname(rc),
           yesno(reached(CLOCK_REALTIME, &d)), yesno(now_ms() - t0 < 3000));
    sem_post(&go);
    d = deadline_in(CLOCK_REALTIME, 5000);
    rc = pthread_timedjoin_np(t, &v, &d);
    printf("timedjoin_np 5s, it ends: %s value %ld\n", rcname(rc), (long)v);

    t = spawn(wait_then_return, (void *)47L);
    d = deadline_in(CLOCK_MONOTONIC, 150);
    t0 = now_ms();
    rc = pthread_clockjoin_np(t, &v, CLOCK_MONOTONIC, &d);
    printf("clockjoin_np MONOTONIC 150ms while it runs: %s not early: %s elapsed<3s: %s\n", rcname(rc),
           yesno(reached(CLOCK_MONOTONIC, &d)), yesno(now_ms() - t0 < 3000));
    sem_post(&go);
    d = deadline_in(CLOCK_MONOTONIC, 5000);
    rc = pthread_clockjoin_np(t, &v, CLOCK_MONOTONIC, &d);
    printf("clockjoin_np 5s, it ends: %s value %ld\n", rcname(rc), (long)v);

    t = spawn(ret_value, (void *)48L);
    msleep(100);
    rc = pthread_join(t, &v);
    printf("join a thread that ended 100ms ago: %s value %ld\n", rcname(rc), (long)v);

    printf("join self (main): %s\n", rcname(pthread_join(pthread_self(), NULL)));
    printf("join self (a thread): %s\n", rcname((int)join_long(spawn(join_self, NULL))));

    pthread_t b = spawn(wait_then_return, (void *)49L);
    pthread_t a = spawn(join_other, &b);
    msleep(50);
    sem_post(&go);
    printf("a thread joins another: value %ld\n", join_long(a));

    main_id = pthread_self();
    t = spawn(identity, NULL);
    join_long(t);
    printf("pthread_self in the thread equals pthread_create's id: %s, equals main's: %s, main equals "
           "itself: %s\n",
           yesno(pthread_equal(seen_self, t) != 0), yesno(saw_main_equal),
           yesno(pthread_equal(pthread_self(), main_id) != 0));

    long sum = 0, expect = 0;
    pthread_t many[200];
    for (long i = 0; i < 200; i++) {
        many[i] = spawn(ret_value, (void *)(i * 3));
        expect += i * 3;
    }
    for (int i = 199; i >= 0; i--)
        sum += join_long(many[i]);
    printf("200 threads joined in reverse order: values sum right: %s\n", yesno(sum == expect));
}

/* ---- detach ---- */

static pthread_mutex_t dm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dc = PTHREAD_COND_INITIALIZER;
static int detached_done;

static void *detached_worker(void *arg)
{
    if (arg)
        wait_go();
    pthread_mutex_lock(&dm);
    detached_done++;
    pthread_cond_broadcast(&dc);
    pthread_mutex_unlock(&dm);
    return NULL;
}

static int self_detach_rc = -1;
static void *detach_self(void *arg)
{
    (void)arg;
    self_detach_rc = pthread_detach(pthread_self());
    return detached_worker(NULL);
}

static int wait_detached(int n)
{
    struct timespec d = deadline_in(CLOCK_REALTIME, 10000);
    pthread_mutex_lock(&dm);
    int rc = 0;
    while (detached_done < n && rc == 0)
        rc = pthread_cond_timedwait(&dc, &dm, &d);
    int done = detached_done;
    pthread_mutex_unlock(&dm);
    return done;
}

static void detach(void)
{
    pthread_t t = spawn(detached_worker, (void *)1L);
    int a = pthread_detach(t);
    int b = pthread_detach(t);
    int c = pthread_join(t, NULL);
    printf("detach %s, detach again %s, join it %s\n", rcname(a), rcname(b), rcname(c));
    sem_post(&go);
    printf("it finished: %s\n", yesno(wait_detached(1) == 1));

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int st = -1;
    pthread_attr_getdetachstate(&attr, &st);
    if (pthread_create(&t, &attr, detached_worker, (void *)1L) != 0)
        DIE("pthread_create detached");
    pthread_attr_t got;
    int ga = pthread_getattr_np(t, &got);
    int gst = -1;
    pthread_attr_getdetachstate(&got, &gst);
    pthread_attr_destroy(&got);
    c = pthread_join(t, NULL);
    printf("created detached: attr says detached %s, getattr_np %s says detached %s, join %s\n",
           yesno(st == PTHREAD_CREATE_DETACHED), rcname(ga), yesno(gst == PTHREAD_CREATE_DETACHED), rcname(c));
    sem_post(&go);
    printf("it finished: %s\n", yesno(wait_detached(2) == 2));

    t = spawn(detach_self, NULL);
    int n = wait_detached(3);
    printf("a thread detaching itself: %s, finished: %s\n", rcname(self_detach_rc), yesno(n == 3));

    for (int i = 0; i < 50; i++)
        if (pthread_create(&t, &attr, detached_worker, NULL) != 0)
            DIE("pthread_create detached");
    printf("50 detached threads finished: %s\n", yesno(wait_detached(53) == 53));
    pthread_attr_destroy(&attr);
}

/* ---- once ---- */

static pthread_once_t once = PTHREAD_ONCE_INIT, once2 = PTHREAD_ONCE_INIT;
static int init_runs, init_finished, saw_unfinished, init2_runs;

static void init_routine(void)
{
    __atomic_add_fetch(&init_runs, 1, __ATOMIC_SEQ_CST);
    msleep(100); /* the other callers must wait for this */
    __atomic_store_n(&init_finished, 1, __ATOMIC_SEQ_CST);
}
static void init2_routine(void)
{
    init2_runs++;
}

static void *call_once(void *arg)
{
    (void)arg;
    pthread_once(&once, init_routine);
    if (!__atomic_load_n(&init_finished, __ATOMIC_SEQ_CST))
        __atomic_add_fetch(&saw_unfinished, 1, __ATOMIC_SEQ_CST);
    pthread_once(&once2, init2_routine);
    return NULL;
}

static void once_test(void)
{
    pthread_t t[16];
    for (int i = 0; i < 16; i++)
        t[i] = spawn(call_once, NULL);
    for (int i = 0; i < 16; i++)
        join_long(t[i]);
    pthread_once(&once, init_routine);
    printf("pthread_once from 16 threads: routine ran %d time(s), callers that returned before it "
           "finished: %d\n",
           init_runs, saw_unfinished);
    printf("second once control: ran %d time(s)\n", init2_runs);
}

/* ---- keys ---- */

static pthread_key_t k_plain, k_again, k_chain_a, k_chain_b, k_deleted;
static int plain_calls, plain_right_value, again_calls[8], chain_b_calls, deleted_calls;
static long vals[8];
static pthread_mutex_t km = PTHREAD_MUTEX_INITIALIZER;

static void plain_dtor(void *v)
{
    pthread_mutex_lock(&km);
    plain_calls++;
    long *p = v;
    if (p >= vals && p < vals + 8 && *p == (p - vals) * 10)
        plain_right_value++;
    pthread_mutex_unlock(&km);
}
/* Re-sets its value every time: glibc calls it PTHREAD_DESTRUCTOR_ITERATIONS times. */
static void again_dtor(void *v)
{
    long i = (long)v - 1;
    pthread_mutex_lock(&km);
    again_calls[i]++;
    pthread_mutex_unlock(&km);
    pthread_setspecific(k_again, v);
}
static void chain_a_dtor(void *v)
{
    (void)v; /* sets another key's value: its destructor runs in a later round */
    pthread_setspecific(k_chain_b, (void *)1);
}
static void chain_b_dtor(void *v)
{
    (void)v;
    pthread_mutex_lock(&km);
    chain_b_calls++;
    pthread_mutex_unlock(&km);
}
static void deleted_dtor(void *v)
{
    (void)v;
    deleted_calls++;
}

static int own_value_ok;
static void *key_user(void *arg)
{
    long i = (long)arg;
    int ok = pthread_getspecific(k_plain) == NULL; /* starts NULL */
    if (i < 6)
        pthread_setspecific(k_plain, &vals[i]); /* threads 6, 7 leave it NULL */
    pthread_setspecific(k_again, (void *)(i + 1));
    if (i == 0)
        pthread_setspecific(k_chain_a, (void *)1);
    pthread_setspecific(k_deleted, (void *)1);
    sched_yield();
    wait_go(); /* main deletes k_deleted meanwhile */
    if (i < 6)
        ok &= pthread_getspecific(k_plain) == &vals[i];
    pthread_mutex_lock(&km);
    own_value_ok += ok;
    pthread_mutex_unlock(&km);
    if (i == 5)
        pthread_exit(NULL); /* destructors run on pthread_exit too */
    return NULL;
}

static void keys(void)
{
    for (int i = 0; i < 8; i++)
        vals[i] = i * 10;
    if (pthread_key_create(&k_plain, plain_dtor) || pthread_key_create(&k_again, again_dtor) ||
        pthread_key_create(&k_chain_a, chain_a_dtor) || pthread_key_create(&k_chain_b, chain_b_dtor) ||
        pthread_key_create(&k_deleted, deleted_dtor))
        DIE("pthread_key_create");
    pthread_setspecific(k_plain, &vals[7]); /* main's own value */
    pthread_t t[8];
    for (long i = 0; i < 8; i++)
        t[i] = spawn(key_user, (void *)i);
    printf("pthread_key_delete: %s\n", rcname(pthread_key_delete(k_deleted)));
    for (int i = 0; i < 8; i++)
        sem_post(&go);
    for (int i = 0; i < 8; i++)
        join_long(t[i]);
    printf("each thread saw NULL first, then its own value: %s\n", yesno(own_value_ok == 8));
    printf("main still sees its own value: %s\n", yesno(pthread_getspecific(k_plain) == &vals[7]));
    printf("destructor calls: %d (6 threads set a value, 2 left NULL), each with its thread's value: %s\n",
           plain_calls, yesno(plain_right_value == plain_calls));
    int same = 1;
    for (int i = 1; i < 8; i++)
        same &= again_calls[i] == again_calls[0];
    printf("a destructor that always re-sets its value ran %d times in every thread: %s "
           "(PTHREAD_DESTRUCTOR_ITERATIONS %d)\n",
           again_calls[0], yesno(same), PTHREAD_DESTRUCTOR_ITERATIONS);
    printf("a value set by another key's destructor was destroyed too: %d call(s)\n", chain_b_calls);
    printf("destructor of a deleted key ran: %d\n", deleted_calls);
    pthread_key_t many[100];
    int distinct = 1;
    for (int i = 0; i < 100; i++) {
        if (pthread_key_create(&many[i], NULL) != 0)
            DIE("pthread_key_create many");
        for (int j = 0; j < i; j++)
            distinct &= many[j] != many[i];
    }
    for (int i = 0; i < 100; i++)
        pthread_key_delete(many[i]);
    printf("100 more keys, all distinct: %s\n", yesno(distinct));
}

/* ---- names ---- */

static char default_name[32], self_named_rc[32];
static sem_t named_ready;
static void *named(void *arg)
{
    pthread_getname_np(pthread_self(), default_name, sizeof default_name);
    if (arg)
        snprintf(self_named_rc, sizeof self_named_rc, "%s",
                 rcname(pthread_setname_np(pthread_self(), "self-named")));
    sem_post(&named_ready);
    wait_go();
    return NULL;
}

static void names(void)
{
    char buf[32] = "", small[8];
    int rc = pthread_getname_np(pthread_self(), buf, sizeof buf);
    printf("main's name: %s '%s'\n", rcname(rc), buf);
    sem_init(&named_ready, 0, 0);
    pthread_t t = spawn(named, NULL);
    while (sem_wait(&named_ready) != 0) {
    }
    printf("a new thread starts with its creator's name: %s\n", yesno(strcmp(default_name, buf) == 0));
    int a = pthread_setname_np(t, "worker-7");
    rc = pthread_getname_np(t, buf, sizeof buf);
    printf("setname_np(thread, \"worker-7\"): %s, getname_np: %s '%s'\n", rcname(a), rcname(rc), buf);
    int b = pthread_setname_np(t, "abcdefghijklmnop"); /* 16 characters */
    rc = pthread_getname_np(t, buf, sizeof buf);
    printf("setname_np 16 characters: %s, name still '%s'\n", rcname(b), buf);
    b = pthread_setname_np(t, "abcdefghijklmno"); /* 15: the most that fits */
    rc = pthread_getname_np(t, buf, sizeof buf);
    printf("setname_np 15 characters: %s, getname_np '%s'\n", rcname(b), buf);
    printf("getname_np into 8 bytes: %s\n", rcname(pthread_getname_np(t, small, sizeof small)));
    pthread_t s = spawn(named, (void *)1L);
    while (sem_wait(&named_ready) != 0) {
    }
    rc = pthread_getname_np(s, buf, sizeof buf);
    printf("a thread naming itself: %s, seen from main: %s '%s'\n", self_named_rc, rcname(rc), buf);
    a = pthread_setname_np(pthread_self(), "main-renamed");
    rc = pthread_getname_np(pthread_self(), buf, sizeof buf);
    printf("main renames itself: %s, getname_np '%s'\n", rcname(a), buf);
    sem_post(&go);
    sem_post(&go);
    join_long(t);
    join_long(s);
}

/* ---- stack ---- */

static int contains(const pthread_attr_t *a, const void *p, size_t *size_out)
{
    void *base;
    size_t size;
    if (pthread_attr_getstack(a, &base, &size) != 0)
        return 0;
    *size_out = size;
    return (const char *)p >= (const char *)base && (const char *)p < (const char *)base + size;
}

struct stack_report {
    int getattr_rc, has_local;
    size_t size;
    int used_ok;
    size_t use;
    const char *local_at;
};

static __attribute__((noinline)) int use_stack(size_t bytes)
{
    volatile char *big = __builtin_alloca(bytes);
    for (size_t i = 0; i < bytes; i += 1024)
        big[i] = (char)i;
    int ok = 1;
    for (size_t i = 0; i < bytes; i += 1024)
        ok &= big[i] == (char)i;
    return ok;
}

static void *stack_probe(void *arg)
{
    struct stack_report *r = arg;
    int local = 0;
    r->local_at = (const char *)&local;
    pthread_attr_t a;
    r->getattr_rc = pthread_getattr_np(pthread_self(), &a);
    if (r->getattr_rc == 0) {
        r->has_local = contains(&a, &local, &r->size);
        pthread_attr_destroy(&a);
    }
    r->used_ok = r->use ? use_stack(r->use) : 1;
    return NULL;
}

static void stack(void)
{
    struct stack_report r = {0};
    stack_probe(&r);
    printf("main: getattr_np %s, stack contains a local: %s\n", rcname(r.getattr_rc), yesno(r.has_local));

    r = (struct stack_report){.use = 64 * 1024};
    join_long(spawn(stack_probe, &r));
    printf("default thread: getattr_np %s, stack contains a local: %s, 64 KiB local buffer used: %s\n",
           rcname(r.getattr_rc), yesno(r.has_local), yesno(r.used_ok));

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    int rc = pthread_attr_setstacksize(&attr, 1 << 20);
    size_t sz = 0;
    pthread_attr_getstacksize(&attr, &sz);
    printf("attr_setstacksize 1 MiB: %s, reads back %zu\n", rcname(rc), sz);
    r = (struct stack_report){.use = 900 * 1024};
    pthread_t t;
    if (pthread_create(&t, &attr, stack_probe, &r) != 0)
        DIE("pthread_create 1 MiB");
    join_long(t);
    printf("1 MiB thread: getattr_np %s, stack contains a local: %s, size >= 900 KiB: %s, used 900 KiB: %s\n",
           rcname(r.getattr_rc), yesno(r.has_local), yesno(r.size >= 900u * 1024), yesno(r.used_ok));
    printf("attr_setstacksize PTHREAD_STACK_MIN-1: %s\n",
           rcname(pthread_attr_setstacksize(&attr, PTHREAD_STACK_MIN - 1)));
    pthread_attr_destroy(&attr);

    size_t given = 256 * 1024;
    void *mem = NULL;
    if (posix_memalign(&mem, 4096, given) != 0)
        DIE("posix_memalign");
    pthread_attr_init(&attr);
    rc = pthread_attr_setstack(&attr, mem, given);
    r = (struct stack_report){.use = 64 * 1024};
    if (pthread_create(&t, &attr, stack_probe, &r) != 0)
        DIE("pthread_create setstack");
    join_long(t);
    void *base = NULL;
    size_t gsz = 0;
    pthread_attr_getstack(&attr, &base, &gsz);
    int in_given = r.local_at >= (const char *)mem && r.local_at < (const char *)mem + given;
    printf("attr_setstack 256 KiB: %s, thread: getattr_np %s, stack contains a local: %s, the local lies in "
           "the given memory: %s, size reported %zu\n",
           rcname(rc), rcname(r.getattr_rc), yesno(r.has_local), yesno(in_given), r.size);
    pthread_attr_destroy(&attr);
    free(mem);

    pthread_attr_init(&attr);
    rc = pthread_attr_setguardsize(&attr, 64 * 1024);
    r = (struct stack_report){.use = 16 * 1024};
    if (pthread_create(&t, &attr, stack_probe, &r) != 0)
        DIE("pthread_create guardsize");
    join_long(t);
    printf("attr_setguardsize 64 KiB: %s, thread ran: %s\n", rcname(rc), yesno(r.used_ok && r.has_local));
    pthread_attr_destroy(&attr);
}

/* ---- yield ---- */

static volatile int token;
#define HANDOFFS 2000
static int spin_until(int want, double deadline)
{
    while (__atomic_load_n(&token, __ATOMIC_ACQUIRE) != want) {
        if (now_ms() > deadline)
            return 0;
        sched_yield();
    }
    return 1;
}
static void *yield_partner(void *arg)
{
    double deadline = *(double *)arg;
    for (int k = 0; k < HANDOFFS; k++) {
        if (!spin_until(1, deadline))
            return (void *)0L;
        __atomic_store_n(&token, 0, __ATOMIC_RELEASE);
    }
    return (void *)1L;
}

static void yield(void)
{
    printf("sched_yield: %d\n", sched_yield());
    double deadline = now_ms() + 20000;
    pthread_t t = spawn(yield_partner, &deadline);
    int ok = 1;
    for (int k = 0; k < HANDOFFS && ok; k++) {
        __atomic_store_n(&token, 1, __ATOMIC_RELEASE);
        ok = spin_until(0, deadline);
    }
    long partner = join_long(t);
    printf("%d hand-offs spinning on sched_yield: %s\n", HANDOFFS, yesno(ok && partner));
}

int main(int argc, char **argv)
{
    self_alarm(120);
    sem_init(&go, 0, 0);
    const char *all[] = {"join", "detach", "once", "keys", "names", "stack", "yield"};
    int n = argc > 1 ? argc - 1 : 7;
    for (int i = 0; i < n; i++) {
        const char *mode = argc > 1 ? argv[i + 1] : all[i];
        printf("== %s\n", mode);
        if (strcmp(mode, "join") == 0)
            join();
        else if (strcmp(mode, "detach") == 0)
            detach();
        else if (strcmp(mode, "once") == 0)
            once_test();
        else if (strcmp(mode, "keys") == 0)
            keys();
        else if (strcmp(mode, "names") == 0)
            names();
        else if (strcmp(mode, "stack") == 0)
            stack();
        else if (strcmp(mode, "yield") == 0)
            yield();
        else {
            fprintf(stderr, "usage: joins [join|detach|once|keys|names|stack|yield]...\n");
            return 2;
        }
    }
    return 0;
}
