/* Mutex kinds and semaphores: the error results of every call.
 *
 *   mutexkinds [mutex|sem|pshared]...     (default: all three)
 *
 * mutex:   normal, recursive and errorcheck mutexes (made with attributes
 *          and with the static initializers): EDEADLK, EPERM, EBUSY from
 *          trylock, ETIMEDOUT from timedlock/clocklock (never early), EINVAL
 *          for tv_nsec out of range, a timedlock that gets the mutex in time,
 *          and exact counters under contention for each kind.
 * sem:     sem_init/wait/trywait EAGAIN/timedwait ETIMEDOUT and EINVAL/
 *          clockwait/post/getvalue, a waiter woken by another thread,
 *          counting with several posters, SEM_VALUE_MAX+1.
 * pshared: a process-shared semaphore, mutex and condition variable in
 *          MAP_SHARED memory, the other side being a forked child.
 */
#include "common.h"

#include <limits.h>
#include <semaphore.h>
#include <sys/mman.h>
#include <sys/wait.h>

/* Run fn(arg) in another thread and return its result. */
static long other(void *(*fn)(void *), void *arg)
{
    return join_long(spawn(fn, arg));
}

static void *try_it(void *m)
{
    return (void *)(long)pthread_mutex_trylock(m);
}

static void *unlock_it(void *m)
{
    return (void *)(long)pthread_mutex_unlock(m);
}

static void *lock_unlock(void *m)
{
    int rc = pthread_mutex_lock(m);
    if (rc == 0)
        pthread_mutex_unlock(m);
    return (void *)(long)rc;
}

struct timed {
    pthread_mutex_t *m;
    clockid_t clk;
    int use_clocklock, ms;
    int rc, not_early;
    double elapsed;
};

static void *timed_lock(void *arg)
{
    struct timed *t = arg;
    struct timespec d = deadline_in(t->clk, t->ms);
    double t0 = now_ms();
    t->rc = t->use_clocklock ? pthread_mutex_clocklock(t->m, t->clk, &d) : pthread_mutex_timedlock(t->m, &d);
    t->elapsed = now_ms() - t0;
    t->not_early = reached(t->clk, &d);
    if (t->rc == 0)
        pthread_mutex_unlock(t->m);
    return NULL;
}

static void init_kind(pthread_mutex_t *m, int kind)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    if (pthread_mutexattr_settype(&a, kind) != 0)
        DIE("settype");
    int back = -1;
    pthread_mutexattr_gettype(&a, &back);
    if (back != kind)
        DIE("gettype %d != %d", back, kind);
    if (pthread_mutex_init(m, &a) != 0)
        DIE("pthread_mutex_init");
    pthread_mutexattr_destroy(&a);
}

/* ---- contention: 8 threads x 20000 increments ---- */
#define CT 8
#define CN 20000
static long counter;
static int contended_kind;
static void *incr(void *m)
{
    for (int k = 0; k < CN; k++) {
        pthread_mutex_lock(m);
        if (contended_kind == PTHREAD_MUTEX_RECURSIVE)
            pthread_mutex_lock(m);
        long c = counter;
        if (k % 500 == 0)
            sched_yield();
        counter = c + 1;
        if (contended_kind == PTHREAD_MUTEX_RECURSIVE)
            pthread_mutex_unlock(m);
        pthread_mutex_unlock(m);
    }
    return NULL;
}
static long contend(pthread_mutex_t *m, int kind)
{
    counter = 0;
    contended_kind = kind;
    pthread_t t[CT];
    for (int i = 0; i < CT; i++)
        t[i] = spawn(incr, m);
    for (int i = 0; i < CT; i++)
        join_long(t[i]);
    return counter;
}

static pthread_mutex_t s_normal = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t s_recursive = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static pthread_mutex_t s_errorcheck = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
static pthread_mutex_t s_adaptive = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;

struct holder {
    pthread_mutex_t *m;
    int ms;
    sem_t locked;
};
static void *hold_for(void *arg)
{
    struct holder *h = arg;
    pthread_mutex_lock(h->m);
    sem_post(&h->locked);
    msleep(h->ms);
    pthread_mutex_unlock(h->m);
    return NULL;
}

static void mutexes(void)
{
    pthread_mutex_t n, r, e;
    init_kind(&n, PTHREAD_MUTEX_NORMAL);
    init_kind(&r, PTHREAD_MUTEX_RECURSIVE);
    init_kind(&e, PTHREAD_MUTEX_ERRORCHECK);

    /* normal */
    int a = pthread_mutex_lock(&n);
    int b = pthread_mutex_trylock(&n);
    int c = (int)other(try_it, &n);
    printf("normal: lock %s, trylock by owner %s, trylock by another thread %s\n", rcname(a), rcname(b),
           rcname(c));
    struct timed t = {&n, CLOCK_REALTIME, 0, 200, 0, 0, 0};
    other(timed_lock, &t);
    printf("normal: timedlock 200ms by another thread while held: %s not early: %s elapsed<3s: %s\n",
           rcname(t.rc), yesno(t.not_early), yesno(t.elapsed < 3000));
    t = (struct timed){&n, CLOCK_MONOTONIC, 1, 200, 0, 0, 0};
    other(timed_lock, &t);
    printf("normal: clocklock MONOTONIC 200ms by another thread while held: %s not early: %s elapsed<3s: %s\n",
           rcname(t.rc), yesno(t.not_early), yesno(t.elapsed < 3000));
    struct timespec bad = bad_deadline(CLOCK_REALTIME);
    printf("normal: timedlock tv_nsec=1e9 while held: %s\n", rcname(pthread_mutex_timedlock(&n, &bad)));
    printf("normal: unlock %s\n", rcname(pthread_mutex_unlock(&n)));
    struct timespec past = deadline_in(CLOCK_REALTIME, 0);
    past.tv_sec -= 5;
    a = pthread_mutex_timedlock(&n, &past);
    printf("normal: timedlock on a free mutex, deadline past: %s\n", rcname(a));
    if (a == 0)
        pthread_mutex_unlock(&n);
    /* a timedlock that gets the mutex before its deadline */
    struct holder h = {&n, 100, {{0}}};
    sem_init(&h.locked, 0, 0);
    pthread_t ht = spawn(hold_for, &h);
    while (sem_wait(&h.locked) != 0) {
    }
    t = (struct timed){&n, CLOCK_REALTIME, 0, 5000, 0, 0, 0};
    timed_lock(&t);
    join_long(ht);
    printf("normal: timedlock 5s, holder releases after ~100ms: %s waited: %s elapsed<3s: %s\n", rcname(t.rc),
           yesno(t.elapsed >= 50), yesno(t.elapsed < 3000));

    /* errorcheck */
    a = pthread_mutex_lock(&e);
    b = pthread_mutex_lock(&e);
    struct timespec d = deadline_in(CLOCK_REALTIME, 100);
    c = pthread_mutex_timedlock(&e, &d);
    int tr = pthread_mutex_trylock(&e);
    printf("errorcheck: lock %s, lock again %s, timedlock by owner %s, trylock by owner %s\n", rcname(a),
           rcname(b), rcname(c), rcname(tr));
    a = (int)other(unlock_it, &e);
    b = (int)other(try_it, &e);
    printf("errorcheck: unlock by another thread %s, trylock by another thread %s\n", rcname(a), rcname(b));
    a = pthread_mutex_unlock(&e);
    b = pthread_mutex_unlock(&e);
    printf("errorcheck: unlock %s, unlock again %s\n", rcname(a), rcname(b));

    /* recursive */
    int l1 = pthread_mutex_lock(&r), l2 = pthread_mutex_lock(&r), l3 = pthread_mutex_lock(&r);
    int t4 = pthread_mutex_trylock(&r);
    int o1 = (int)other(try_it, &r);
    int o2 = (int)other(unlock_it, &r);
    printf("recursive: lock x3 %s %s %s, trylock by owner %s, trylock by another thread %s, unlock by another "
           "thread %s\n",
           rcname(l1), rcname(l2), rcname(l3), rcname(t4), rcname(o1), rcname(o2));
    int u[5];
    for (int i = 0; i < 4; i++)
        u[i] = pthread_mutex_unlock(&r);
    u[4] = pthread_mutex_unlock(&r);
    int after = (int)other(lock_unlock, &r);
    printf("recursive: unlock x4 %s %s %s %s, unlock again %s, another thread locks after: %s\n", rcname(u[0]),
           rcname(u[1]), rcname(u[2]), rcname(u[3]), rcname(u[4]), rcname(after));

    /* static initializers */
    a = pthread_mutex_lock(&s_normal);
    b = pthread_mutex_trylock(&s_normal);
    c = pthread_mutex_unlock(&s_normal);
    printf("PTHREAD_MUTEX_INITIALIZER: lock %s, trylock %s, unlock %s\n", rcname(a), rcname(b), rcname(c));
    a = pthread_mutex_lock(&s_recursive);
    b = pthread_mutex_lock(&s_recursive);
    c = (int)other(try_it, &s_recursive);
    int u1 = pthread_mutex_unlock(&s_recursive), u2 = pthread_mutex_unlock(&s_recursive);
    int u3 = pthread_mutex_unlock(&s_recursive);
    printf("PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP: lock x2 %s %s, trylock by another thread %s, unlock x2 %s "
           "%s, unlock again %s\n",
           rcname(a), rcname(b), rcname(c), rcname(u1), rcname(u2), rcname(u3));
    a = pthread_mutex_lock(&s_errorcheck);
    b = pthread_mutex_lock(&s_errorcheck);
    c = pthread_mutex_unlock(&s_errorcheck);
    int c2 = pthread_mutex_unlock(&s_errorcheck);
    printf("PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP: lock %s, lock again %s, unlock %s, unlock again %s\n",
           rcname(a), rcname(b), rcname(c), rcname(c2));
    a = pthread_mutex_lock(&s_adaptive);
    b = (int)other(try_it, &s_adaptive);
    c = pthread_mutex_unlock(&s_adaptive);
    printf("PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP: lock %s, trylock by another thread %s, unlock %s\n",
           rcname(a), rcname(b), rcname(c));

    /* contention */
    long cn = contend(&n, PTHREAD_MUTEX_NORMAL);
    long cr = contend(&r, PTHREAD_MUTEX_RECURSIVE);
    long ce = contend(&e, PTHREAD_MUTEX_ERRORCHECK);
    long cs = contend(&s_normal, PTHREAD_MUTEX_NORMAL);
    long ca = contend(&s_adaptive, PTHREAD_MUTEX_ADAPTIVE_NP);
    printf("contended, %d threads x %d: normal %ld recursive %ld errorcheck %ld static %ld adaptive %ld\n", CT, CN,
           cn, cr, ce, cs, ca);
    printf("destroy: %s %s %s\n", rcname(pthread_mutex_destroy(&n)), rcname(pthread_mutex_destroy(&r)),
           rcname(pthread_mutex_destroy(&e)));
}

/* ---- semaphores ---- */

static sem_t s;

static void *post_later(void *arg)
{
    msleep((int)(long)arg);
    sem_post(&s);
    return NULL;
}

#define POSTERS 4
#define POSTS 5000
static void *poster(void *arg)
{
    (void)arg;
    for (int k = 0; k < POSTS; k++) {
        sem_post(&s);
        if (k % 1000 == 0)
            sched_yield();
    }
    return NULL;
}

static sem_t ping, pong;
static void *ponger(void *arg)
{
    long n = (long)arg;
    for (long k = 0; k < n; k++) {
        while (sem_wait(&ping) != 0) {
        }
        sem_post(&pong);
    }
    return NULL;
}

static const char *res(int r)
{
    static char buf[8][32];
    static int i;
    char *b = buf[i++ % 8];
    if (r == 0)
        snprintf(b, 32, "0");
    else
        snprintf(b, 32, "%d %s", r, ename(errno));
    return b;
}

static void sems(void)
{
    int v = -1;
    printf("sem_init 0: %s\n", res(sem_init(&s, 0, 0)));
    printf("sem_trywait: %s\n", res(sem_trywait(&s)));
    struct timespec d = deadline_in(CLOCK_REALTIME, 200);
    double t0 = now_ms();
    int r = sem_timedwait(&s, &d);
    printf("sem_timedwait 200ms: %s not early: %s elapsed<3s: %s\n", res(r), yesno(reached(CLOCK_REALTIME, &d)),
           yesno(now_ms() - t0 < 3000));
    d = deadline_in(CLOCK_MONOTONIC, 200);
    t0 = now_ms();
    r = sem_clockwait(&s, CLOCK_MONOTONIC, &d);
    printf("sem_clockwait MONOTONIC 200ms: %s not early: %s elapsed<3s: %s\n", res(r),
           yesno(reached(CLOCK_MONOTONIC, &d)), yesno(now_ms() - t0 < 3000));
    struct timespec bad = bad_deadline(CLOCK_REALTIME);
    printf("sem_timedwait tv_nsec=1e9: %s\n", res(sem_timedwait(&s, &bad)));
    r = sem_post(&s);
    sem_getvalue(&s, &v);
    printf("sem_post: %s getvalue: %d\n", res(r), v);
    bad = bad_deadline(CLOCK_REALTIME);
    r = sem_timedwait(&s, &bad); /* glibc checks the deadline first */
    sem_getvalue(&s, &v);
    printf("sem_timedwait tv_nsec=1e9 with the value 1: %s getvalue: %d\n", res(r), v);
    while (v > 1 && sem_trywait(&s) == 0) /* whatever happened, back to 1 */
        sem_getvalue(&s, &v);
    if (v == 0)
        sem_post(&s);
    r = sem_wait(&s);
    sem_getvalue(&s, &v);
    printf("sem_wait: %s getvalue: %d\n", res(r), v);

    t0 = now_ms();
    pthread_t t = spawn(post_later, (void *)100L);
    r = sem_wait(&s);
    double el = now_ms() - t0;
    join_long(t);
    printf("sem_wait woken by another thread's post after 100ms: %s waited>=100ms: %s elapsed<3s: %s\n", res(r),
           yesno(el >= 100), yesno(el < 3000));
    t0 = now_ms();
    t = spawn(post_later, (void *)100L);
    d = deadline_in(CLOCK_REALTIME, 5000);
    r = sem_timedwait(&s, &d);
    el = now_ms() - t0;
    join_long(t);
    printf("sem_timedwait 5s, post after 100ms: %s waited>=100ms: %s elapsed<3s: %s\n", res(r), yesno(el >= 100),
           yesno(el < 3000));

    pthread_t pt[POSTERS];
    for (int i = 0; i < POSTERS; i++)
        pt[i] = spawn(poster, NULL);
    int got = 0;
    for (int k = 0; k < POSTERS * POSTS; k++)
        if (sem_wait(&s) == 0)
            got++;
    for (int i = 0; i < POSTERS; i++)
        join_long(pt[i]);
    sem_getvalue(&s, &v);
    printf("%d posters x %d, %d sem_wait calls returned 0, value after: %d, trywait after: %s\n", POSTERS, POSTS,
           got, v, res(sem_trywait(&s)));

    sem_init(&ping, 0, 0);
    sem_init(&pong, 0, 0);
    t = spawn(ponger, (void *)10000L);
    int rounds = 0;
    for (int k = 0; k < 10000; k++) {
        sem_post(&ping);
        if (sem_wait(&pong) == 0)
            rounds++;
    }
    join_long(t);
    printf("ping-pong between two threads: %d round trips\n", rounds);

    sem_t big;
    printf("sem_init SEM_VALUE_MAX+1: %s\n", res(sem_init(&big, 0, (unsigned)SEM_VALUE_MAX + 1u)));
    printf("sem_destroy: %s\n", res(sem_destroy(&s)));
}

/* ---- process-shared objects across fork ---- */

struct shared {
    sem_t sem, to_child;
    pthread_mutex_t m;
    pthread_cond_t c;
    int flag;
};

static int wait_child(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) != pid)
        if (errno != EINTR)
            DIE("waitpid");
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void pshared(void)
{
    struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        DIE("mmap");
    if (sem_init(&sh->sem, 1, 0) != 0 || sem_init(&sh->to_child, 1, 0) != 0)
        DIE("sem_init pshared");
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&sh->m, &ma);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
    pthread_cond_init(&sh->c, &ca);

    pid_t pid = fork();
    if (pid < 0)
        DIE("fork");
    if (pid == 0) {
        self_alarm(30);
        msleep(100);
        sem_post(&sh->sem); /* 1: wakes the parent's sem_wait */
        pthread_mutex_lock(&sh->m);
        while (sem_wait(&sh->to_child) != 0) { /* 2: the parent is about to lock */
        }
        msleep(100);
        pthread_mutex_unlock(&sh->m);
        msleep(100);
        pthread_mutex_lock(&sh->m); /* 3: the parent waits on the cond */
        sh->flag = 1;
        pthread_cond_signal(&sh->c);
        pthread_mutex_unlock(&sh->m);
        _exit(0);
    }
    double t0 = now_ms();
    int r = sem_wait(&sh->sem);
    double el = now_ms() - t0;
    printf("process-shared sem_wait, posted by the child: %s waited: %s elapsed<5s: %s\n", res(r),
           yesno(el >= 100), yesno(el < 5000));
    msleep(50); /* the child takes the mutex meanwhile */
    sem_post(&sh->to_child);
    t0 = now_ms();
    int rc = pthread_mutex_lock(&sh->m);
    el = now_ms() - t0;
    printf("process-shared mutex held by the child: lock %s waited: %s elapsed<5s: %s\n", rcname(rc),
           yesno(el >= 50), yesno(el < 5000));
    struct timespec d = deadline_in(CLOCK_REALTIME, 5000);
    rc = 0;
    while (!sh->flag && rc == 0)
        rc = pthread_cond_timedwait(&sh->c, &sh->m, &d);
    printf("process-shared cond signalled by the child: %s flag: %d\n", rcname(rc), sh->flag);
    pthread_mutex_unlock(&sh->m);
    printf("child exit: %d\n", wait_child(pid));
}

int main(int argc, char **argv)
{
    self_alarm(120);
    const char *all[] = {"mutex", "sem", "pshared"};
    int n = argc > 1 ? argc - 1 : 3;
    for (int i = 0; i < n; i++) {
        const char *mode = argc > 1 ? argv[i + 1] : all[i];
        printf("== %s\n", mode);
        if (strcmp(mode, "mutex") == 0)
            mutexes();
        else if (strcmp(mode, "sem") == 0)
            sems();
        else if (strcmp(mode, "pshared") == 0)
            pshared();
        else {
            fprintf(stderr, "usage: mutexkinds [mutex|sem|pshared]...\n");
            return 2;
        }
    }
    return 0;
}
