/* N threads that all wait at once, then are all released and joined.
 *
 *   manyparked N
 *
 * Thread i waits in pthread_cond_wait (i even), in a 1-byte read on a pipe
 * shared by all readers (i % 4 == 1), or in a loop of 500 ms nanosleeps
 * (i % 4 == 3). Each counts itself as parked (under a mutex) just before
 * waiting; the last one wakes main. Main lets them settle, records VmRSS,
 * VmPTE, VmSize and Threads from /proc/self/status (to stderr, as "peak KEY:
 * VALUE" lines), then releases everybody: a broadcast, one byte per reader
 * into the pipe, a flag the sleepers see. It joins all N and prints counts.
 * Exit 1 if a thread could not be created (the error goes to stderr).
 */
#include "common.h"

#include <fcntl.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t release_cv = PTHREAD_COND_INITIALIZER, all_parked = PTHREAD_COND_INITIALIZER;
static long n, parked;
static int released;
static volatile int sleepers_go;
static int pfd[2];

static void park_count(void)
{
    pthread_mutex_lock(&m);
    if (++parked == n)
        pthread_cond_signal(&all_parked);
    pthread_mutex_unlock(&m);
}

static void *waiter(void *arg)
{
    long i = (long)arg;
    if (i % 2 == 0) {
        pthread_mutex_lock(&m);
        if (++parked == n)
            pthread_cond_signal(&all_parked);
        while (!released)
            pthread_cond_wait(&release_cv, &m);
        pthread_mutex_unlock(&m);
        return (void *)1L;
    }
    if (i % 4 == 1) {
        park_count();
        char c;
        ssize_t r;
        while ((r = read(pfd[0], &c, 1)) < 0 && errno == EINTR) {
        }
        return (void *)(r == 1 ? 2L : 0L);
    }
    park_count();
    while (!sleepers_go) {
        struct timespec ts = {0, 500000000};
        nanosleep(&ts, NULL);
    }
    return (void *)3L;
}

static void report(const char *key)
{
    fprintf(stderr, "peak %s: %ld\n", key, self_status(key));
}

int main(int argc, char **argv)
{
    if (argc != 2 || (n = atol(argv[1])) < 4) {
        fprintf(stderr, "usage: manyparked N (N >= 4)\n");
        return 2;
    }
    self_alarm(280);
    if (pipe(pfd) != 0)
        DIE("pipe");
    pthread_t *t = calloc((size_t)n, sizeof *t);
    long created = 0, want[4] = {0};
    double t0 = now_ms();
    for (long i = 0; i < n; i++) {
        int rc = pthread_create(&t[i], NULL, waiter, (void *)i);
        if (rc != 0) {
            fprintf(stderr, "pthread_create #%ld: %s\n", i, ename(rc));
            break;
        }
        created++;
        want[i % 2 == 0 ? 1 : i % 4 == 1 ? 2 : 3]++;
    }
    double t1 = now_ms();
    int all = created == n;
    pthread_mutex_lock(&m);
    if (!all)
        n = created; /* release what there is */
    struct timespec d = deadline_in(CLOCK_REALTIME, 200000);
    int rc = 0;
    while (parked < n && rc == 0)
        rc = pthread_cond_timedwait(&all_parked, &m, &d);
    long p = parked;
    pthread_mutex_unlock(&m);
    double t2 = now_ms();
    msleep(300); /* into their waits */
    if (all) {
        report("VmRSS");
        report("VmPTE");
        report("VmSize");
        report("Threads");
    }
    printf("created %ld of %s threads: cond %ld, read %ld, sleep %ld\n", created, argv[1], want[1], want[2],
           want[3]);
    printf("all parked at once: %s\n", yesno(p == n && all));

    double t3 = now_ms();
    pthread_mutex_lock(&m);
    released = 1;
    pthread_cond_broadcast(&release_cv);
    pthread_mutex_unlock(&m);
    sleepers_go = 1;
    static char ones[4096];
    memset(ones, 'x', sizeof ones);
    for (long left = want[2]; left > 0;) {
        size_t chunk = left < (long)sizeof ones ? (size_t)left : sizeof ones;
        if (write_all(pfd[1], ones, chunk) != 0)
            DIE("write");
        left -= (long)chunk;
    }
    long got[4] = {0};
    for (long i = 0; i < created; i++) {
        long v = join_long(t[i]);
        got[v >= 0 && v <= 3 ? v : 0]++;
    }
    double t4 = now_ms();
    fprintf(stderr, "create %.0f ms, park %.0f ms, release+join %.0f ms; VmHWM %ld kB\n", t1 - t0, t2 - t1,
           t4 - t3, self_status("VmHWM"));
    printf("joined %ld: woken from cond %ld, read %ld, sleep %ld, failed %ld\n", created, got[1], got[2],
           got[3], got[0]);
    return all && got[0] == 0 ? 0 : 1;
}
