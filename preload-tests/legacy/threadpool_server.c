/* A fixed pool of worker threads behind an acceptor thread: the classic
 * thread-pool server. The acceptor puts accepted fds on a queue (mutex +
 * condition variable); each worker takes one, echoes it until EOF, hashes
 * what it received, closes it and takes the next.
 *
 *   threadpool_server NCONN [WORKERS]      (default 8 workers)
 *
 * Prints "port N" first; after NCONN connections, "served N connections,
 * B bytes, digest D, errors E" (D: the sum over connections of the FNV-1a
 * hash of what each sent, as conn_client computes it) and exits 0 iff no
 * error. Accepted-but-unserved connections simply wait in the queue, so it
 * can hold any number of them with WORKERS threads.
 */
#include "common.h"

#include <stdint.h>
#include <sys/resource.h>

static pthread_mutex_t qm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qc = PTHREAD_COND_INITIALIZER;
static int *queue;
static long nconn, pushed, popped;
static long served, errors;
static unsigned long long total_bytes, digest;
static int lfd;

static void *acceptor(void *arg)
{
    (void)arg;
    for (long i = 0; i < nconn;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            DIE("accept");
        }
        pthread_mutex_lock(&qm);
        queue[pushed++] = fd;
        pthread_cond_signal(&qc);
        pthread_mutex_unlock(&qm);
        i++;
    }
    return NULL;
}

static void *worker(void *arg)
{
    (void)arg;
    char buf[16384];
    for (;;) {
        pthread_mutex_lock(&qm);
        while (popped == pushed && popped < nconn)
            pthread_cond_wait(&qc, &qm);
        if (popped == nconn) {
            pthread_cond_broadcast(&qc); /* let the others see it too */
            pthread_mutex_unlock(&qm);
            return NULL;
        }
        int fd = queue[popped++];
        if (popped == nconn)
            pthread_cond_broadcast(&qc);
        pthread_mutex_unlock(&qm);

        uint64_t h = 1469598103934665603ull;
        unsigned long long bytes = 0;
        int failed = 0;
        for (;;) {
            ssize_t n = read(fd, buf, sizeof buf);
            if (n == 0)
                break;
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                fprintf(stderr, "server: read: %s\n", ename(errno));
                failed = 1;
                break;
            }
            for (ssize_t k = 0; k < n; k++)
                h = (h ^ (uint8_t)buf[k]) * 1099511628211ull;
            if (write_all(fd, buf, (size_t)n) != 0) {
                fprintf(stderr, "server: write: %s\n", ename(errno));
                failed = 1;
                break;
            }
            bytes += (unsigned long long)n;
        }
        close(fd);
        pthread_mutex_lock(&qm);
        served++;
        errors += failed;
        total_bytes += bytes;
        digest += h;
        pthread_mutex_unlock(&qm);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: threadpool_server NCONN [WORKERS]\n");
        return 2;
    }
    self_alarm(300);
    nconn = atol(argv[1]);
    int workers = argc > 2 ? atoi(argv[2]) : 8;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    queue = calloc((size_t)nconn, sizeof *queue);
    int port;
    lfd = tcp_listener(&port, 4096);
    printf("port %d\n", port);
    fflush(stdout);
    pthread_t a = spawn(acceptor, NULL);
    pthread_t *w = calloc((size_t)workers, sizeof *w);
    for (int i = 0; i < workers; i++)
        w[i] = spawn(worker, NULL);
    join_long(a);
    for (int i = 0; i < workers; i++)
        join_long(w[i]);
    printf("served %ld connections, %llu bytes, digest %016llx, errors %ld\n", served, total_bytes,
           digest, errors);
    return errors ? 1 : 0;
}
