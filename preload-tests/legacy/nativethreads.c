/* nativethreads: a thread that spins beside threads that serve -- the
 * program COHOOK_NATIVE_THREADS=spin_worker is for.
 *
 *   pingpong  spin_worker spins while a thread-per-connection server (an
 *             acceptor, one handler per connection) answers 2 clients x 100
 *             one-byte round trips. Prints whether spin_worker had an OS
 *             thread of its own (its tid shared with no other thread of the
 *             program); stderr: the OS threads (/proc/self/task) while
 *             serving and the slowest round trip.
 *   joins     spin_worker joined from a thread (while another thread ticks)
 *             and from main; pthread_exit; tryjoin/timedjoin while it runs;
 *             detach; a blocking read inside it, and its cancellation.
 *   from      generic_task threads: the one launch_from_pool() makes (for
 *             COHOOK_NATIVE_THREADS=from:launch_from_pool) and one made by
 *             main; prints the first one's OS thread.
 */
#include "common.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>

static pid_t my_tid(void) { return (pid_t)syscall(SYS_gettid); }

static int count_tasks(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        DIE("opendir /proc/self/task");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* Threads record their tid here; main compares once all are alive. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pid_t tids[32];
static int ntids;
static int go;
static int spinning; /* spin_worker has begun (pingpong) */
static double go_ms; /* when main released everybody */

static int record_tid(void)
{
    pthread_mutex_lock(&mu);
    int slot = ntids++;
    tids[slot] = my_tid();
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    return slot;
}

static void wait_for_tids(int n)
{
    pthread_mutex_lock(&mu);
    while (ntids < n)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

static void wait_for_go(void)
{
    pthread_mutex_lock(&mu);
    while (!go)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

static void release_all(void)
{
    pthread_mutex_lock(&mu);
    go = 1;
    go_ms = now_ms();
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* Is tids[slot] shared with no other recorded thread? */
static int own_os_thread(int slot)
{
    for (int i = 0; i < ntids; i++)
        if (i != slot && tids[i] == tids[slot])
            return 0;
    return 1;
}

/* ---- spin_worker: what it does depends on its job ---- */

enum job { SPIN_AFTER_GO, SPIN_300MS, SPIN_THEN_EXIT, SPIN_UNTIL_STOP, READ_PIPE };
struct spin_job {
    enum job job;
    int fd;
    int slot;
};
static atomic_int stop;
static double spun_ms;

static long spin_for(double ms)
{
    double t0 = now_ms();
    long n = 0;
    while (!atomic_load(&stop) && now_ms() - t0 < ms)
        n++;
    spun_ms = now_ms() - t0;
    return n;
}

__attribute__((noinline)) static void exit_from_nested(long v)
{
    pthread_exit((void *)v);
}

void *spin_worker(void *arg)
{
    struct spin_job *j = arg;
    switch (j->job) {
    case SPIN_AFTER_GO:
        j->slot = record_tid();
        wait_for_go();
        pthread_mutex_lock(&mu);
        spinning = 1;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
        return (void *)(long)(spin_for(6000) > 0); /* until stop, at most 6 s */
    case SPIN_300MS:
        spin_for(300);
        return (void *)42L;
    case SPIN_THEN_EXIT:
        spin_for(100);
        exit_from_nested(43);
        return NULL;
    case SPIN_UNTIL_STOP:
        spin_for(20000);
        return (void *)44L;
    case READ_PIPE: {
        char c = 0;
        ssize_t n = read(j->fd, &c, 1);
        return (void *)(long)(n == 1 ? c : -1);
    }
    }
    return NULL;
}

/* ---- pingpong ---- */

enum { CLIENTS = 2, ROUNDS = 100 };
static double max_rtt_ms;

static void *conn_handler(void *arg)
{
    int fd = (int)(intptr_t)arg;
    record_tid();
    char c;
    while (read(fd, &c, 1) == 1)
        if (write(fd, &c, 1) != 1)
            break;
    close(fd);
    return NULL;
}

static void *acceptor(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    record_tid();
    pthread_t h[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            DIE("accept");
        h[i] = spawn(conn_handler, (void *)(intptr_t)fd);
    }
    for (int i = 0; i < CLIENTS; i++)
        join_long(h[i]);
    return NULL;
}

static void *client(void *arg)
{
    int fd = tcp_connect((int)(intptr_t)arg);
    record_tid();
    /* The requests go out while spin_worker spins. */
    pthread_mutex_lock(&mu);
    while (!spinning)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    long echoed = 0;
    for (int i = 0; i < ROUNDS; i++) {
        char c = (char)('a' + i % 26), back = 0;
        /* The first request was due when main said go: a server that
         * could not run then makes it wait. */
        double t0 = i == 0 ? go_ms : now_ms();
        if (write(fd, &c, 1) != 1 || read(fd, &back, 1) != 1)
            DIE("round trip");
        double rtt = now_ms() - t0;
        pthread_mutex_lock(&mu);
        if (rtt > max_rtt_ms)
            max_rtt_ms = rtt;
        pthread_mutex_unlock(&mu);
        echoed += back == c;
    }
    close(fd);
    return (void *)echoed;
}

static void pingpong(void)
{
    int port;
    int lfd = tcp_listener(&port, 16);
    struct spin_job job = {SPIN_AFTER_GO, -1, -1};
    pthread_t spin = spawn(spin_worker, &job);
    pthread_t acc = spawn(acceptor, (void *)(intptr_t)lfd);
    pthread_t cl[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        cl[i] = spawn(client, (void *)(intptr_t)port);
    /* spin_worker, acceptor, the handlers, the clients */
    wait_for_tids(2 + 2 * CLIENTS);
    int main_slot = record_tid();
    int tasks = count_tasks();
    int own = own_os_thread(job.slot);
    (void)main_slot;
    release_all();
    long echoed = 0;
    for (int i = 0; i < CLIENTS; i++)
        echoed += join_long(cl[i]);
    atomic_store(&stop, 1);
    void *spun = NULL;
    int rc = pthread_join(spin, &spun);
    join_long(acc);
    close(lfd);
    printf("ping-pong: %d connections x %d round trips, all echoed: %s\n", CLIENTS, ROUNDS,
           yesno(echoed == CLIENTS * ROUNDS));
    printf("spin_worker on its own OS thread: %s; joined from main: %s\n", yesno(own), rc ? ename(rc) : "0");
    fprintf(stderr, "tasks while serving: %d\nslowest round trip: %.1f ms\nspin_worker spun: %.0f ms (%s)\n",
            tasks, max_rtt_ms, spun_ms, spun ? "some iterations" : "stopped before it began");
}

/* ---- joins ---- */

static atomic_int ticks;
static atomic_int ticking = 1;

static void *ticker(void *arg)
{
    (void)arg;
    while (atomic_load(&ticking)) {
        msleep(5);
        atomic_fetch_add(&ticks, 1);
    }
    return NULL;
}

/* A thread (a coroutine under the shim) that joins spin_worker. */
static void *joiner(void *arg)
{
    (void)arg;
    struct spin_job job = {SPIN_300MS, -1, -1};
    pthread_t t = spawn(spin_worker, &job);
    int before = atomic_load(&ticks);
    void *v = NULL;
    int rc = pthread_join(t, &v);
    int during = atomic_load(&ticks) - before;
    printf("a thread joined spin_worker (300 ms): %s value %ld, the other threads ran meanwhile: %s\n",
           rc ? ename(rc) : "0", (long)v, yesno(during >= 3));
    fprintf(stderr, "ticks during the join: %d\n", during);
    return NULL;
}

static void joins(void)
{
    pthread_t tick = spawn(ticker, NULL);
    join_long(spawn(joiner, NULL));

    struct spin_job ex = {SPIN_THEN_EXIT, -1, -1};
    pthread_t t = spawn(spin_worker, &ex);
    void *v = NULL;
    int rc = pthread_join(t, &v);
    printf("pthread_exit(43) two calls deep in spin_worker: join %s value %ld\n", rc ? ename(rc) : "0", (long)v);

    atomic_store(&stop, 0);
    struct spin_job until = {SPIN_UNTIL_STOP, -1, -1};
    t = spawn(spin_worker, &until);
    printf("tryjoin_np while it spins: %s\n", ename(pthread_tryjoin_np(t, &v)));
    struct timespec dl = deadline_in(CLOCK_REALTIME, 150);
    double t0 = now_ms();
    rc = pthread_timedjoin_np(t, &v, &dl);
    double el = now_ms() - t0;
    printf("timedjoin_np 150ms while it spins: %s not early: %s\n", ename(rc), yesno(el >= 149));
    atomic_store(&stop, 1);
    dl = deadline_in(CLOCK_REALTIME, 10000);
    rc = pthread_timedjoin_np(t, &v, &dl);
    printf("timedjoin_np 10s, it stops: %s value %ld\n", rc ? ename(rc) : "0", (long)v);

    atomic_store(&stop, 0);
    t = spawn(spin_worker, &until);
    int d1 = pthread_detach(t);
    int d2 = pthread_detach(t);
    int j = pthread_join(t, &v);
    printf("detach %s, detach again %s, join it %s\n", d1 ? ename(d1) : "0", ename(d2), ename(j));
    atomic_store(&stop, 1);
    msleep(50);

    int p[2];
    if (pipe(p) != 0)
        DIE("pipe");
    struct spin_job rd = {READ_PIPE, p[0], -1};
    t = spawn(spin_worker, &rd);
    int before = atomic_load(&ticks);
    msleep(200);
    int during = atomic_load(&ticks) - before;
    if (write(p[1], "x", 1) != 1)
        DIE("write");
    long got = join_long(t);
    printf("spin_worker blocked in read for 200 ms, the other threads ran meanwhile: %s; it read '%c'\n",
           yesno(during >= 3), (char)got);

    /* Cancellation acts on its blocking read, as on any OS thread's. */
    t = spawn(spin_worker, &rd);
    msleep(100);
    int c = pthread_cancel(t);
    rc = pthread_join(t, &v);
    printf("pthread_cancel of spin_worker blocked in read: cancel %s, join %s, PTHREAD_CANCELED: %s\n",
           c ? ename(c) : "0", rc ? ename(rc) : "0", yesno(v == PTHREAD_CANCELED));
    close(p[0]);
    close(p[1]);

    atomic_store(&ticking, 0);
    join_long(tick);
}

/* ---- from ---- */

void *generic_task(void *arg)
{
    int *slot = arg;
    *slot = record_tid();
    wait_for_go();
    return NULL;
}

__attribute__((noinline)) pthread_t launch_from_pool(int *slot)
{
    return spawn(generic_task, slot);
}

static void from(void)
{
    int pooled = -1, plain = -1;
    pthread_t a = launch_from_pool(&pooled);
    pthread_t b = spawn(generic_task, &plain);
    wait_for_tids(2);
    record_tid();
    int own_pooled = own_os_thread(pooled), own_plain = own_os_thread(plain);
    release_all();
    join_long(a);
    join_long(b);
    printf("generic_task made by launch_from_pool: own OS thread %s\n", yesno(own_pooled));
    fprintf(stderr, "generic_task made by main: own OS thread %s\n", yesno(own_plain));
}

int main(int argc, char **argv)
{
    self_alarm(60);
    for (int i = 1; i < argc; i++) {
        ntids = 0;
        go = spinning = 0;
        atomic_store(&stop, 0);
        if (strcmp(argv[i], "pingpong") == 0)
            pingpong();
        else if (strcmp(argv[i], "joins") == 0)
            joins();
        else if (strcmp(argv[i], "from") == 0)
            from();
        else
            DIE("unknown section %s", argv[i]);
    }
    return 0;
}
