/* io_uring completion waits, two ways:
 *  - io_uring_enter(IORING_ENTER_GETEVENTS) through libc's syscall(), as a
 *    program without liburing (or with its own thin wrapper) makes it: a
 *    read on a socket whose peer writes 300 ms later, then min_complete 2
 *    with peers at 200 and 400 ms. The ping-pong threads must keep playing.
 *  - liburing's io_uring_wait_cqe(), which enters the kernel with an inline
 *    `syscall` instruction (liburing 2.3): no hook sees it. Its result is
 *    printed on stdout; how long the ping-pong threads stood still goes to
 *    stderr ("wait_cqe gap: N ms"), where the runner reads it. The data
 *    comes from a child process, which no blocked carrier can hold up.
 * `uring skip` is printed when the kernel refuses io_uring (sysctl, seccomp). */
#include <liburing.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common.h"

static struct io_uring ring;

/* Queue a read of `n` bytes from fd into buf, tagged `tag`; submitted with
 * liburing's io_uring_submit (no wait). */
static void queue_read(int fd, char *buf, unsigned n, unsigned long tag)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    if (!sqe)
        DIE("io_uring_get_sqe");
    io_uring_prep_read(sqe, fd, buf, n, 0);
    io_uring_sqe_set_data64(sqe, tag);
}

/* Reap every completion there is: how many, and the sum of their results. */
static int reap(long *sum)
{
    struct io_uring_cqe *cqe;
    int n = 0;
    *sum = 0;
    while (io_uring_peek_cqe(&ring, &cqe) == 0) {
        *sum += cqe->res;
        n++;
        io_uring_cqe_seen(&ring, cqe);
    }
    return n;
}

static void *uring_thread(void *arg)
{
    (void)arg;
    int sv[2], sv2[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv2) != 0)
        DIE("socketpair");
    char a[16] = {0}, b[16] = {0};
    char what[200];
    long sum;

    /* 1. syscall(SYS_io_uring_enter, fd, 0, 1, GETEVENTS). */
    queue_read(sv[0], a, 4, 1);
    printf("io_uring_submit: %d\n", io_uring_submit(&ring));
    struct late_write lw = {sv[1], 300, "late"};
    pthread_t t = write_later(&lw);
    pingpong_reset();
    double t0 = now_ms();
    long r = syscall(SYS_io_uring_enter, ring.ring_fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0);
    double waited = now_ms() - t0;
    int n = reap(&sum);
    snprintf(what, sizeof what,
             "syscall(io_uring_enter, min_complete 1): %ld, %d completion(s) res %ld '%s', waited >= 250 ms: %s", r, n,
             sum, a, yesno(waited >= 250));
    pingpong_report(what);
    join_long(t);

    /* 2. min_complete 2: two reads whose data comes at 200 and 400 ms. */
    memset(a, 0, sizeof a);
    queue_read(sv[0], a, 5, 2);
    queue_read(sv2[0], b, 6, 3);
    io_uring_submit(&ring);
    struct late_write w1 = {sv[1], 200, "first"}, w2 = {sv2[1], 400, "second"};
    pthread_t t1 = write_later(&w1), t2 = write_later(&w2);
    pingpong_reset();
    t0 = now_ms();
    r = syscall(SYS_io_uring_enter, ring.ring_fd, 0, 2, IORING_ENTER_GETEVENTS, NULL, 0);
    waited = now_ms() - t0;
    n = reap(&sum);
    snprintf(what, sizeof what,
             "syscall(io_uring_enter, min_complete 2): %ld, %d completion(s) res %ld '%s' '%s', waited >= 350 ms: %s", r,
             n, sum, a, b, yesno(waited >= 350));
    pingpong_report(what);
    join_long(t1);
    join_long(t2);

    /* 3. Errors: a bad fd, and flags the kernel does not know. */
    r = syscall(SYS_io_uring_enter, 12345, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0);
    printf("io_uring_enter(bad fd): %ld %s\n", r, ename(errno));
    r = syscall(SYS_io_uring_enter, sv[0], 0, 1, IORING_ENTER_GETEVENTS, NULL, 0);
    printf("io_uring_enter(a socket): %ld %s\n", r, ename(errno));

    /* 4. liburing's own wait (escapes the hooks). */
    memset(a, 0, sizeof a);
    queue_read(sv[0], a, 4, 4);
    io_uring_submit(&ring);
    /* The writer is another process: under the shim with one carrier, a
     * writer thread would be a coroutine behind the blocked wait. */
    pid_t writer = fork();
    if (writer == 0) {
        msleep(300);
        _exit(write_all(sv[1], "cqe!", 4) == 0 ? 0 : 1);
    }
    pingpong_reset();
    t0 = now_ms();
    struct io_uring_cqe *cqe;
    int rc = io_uring_wait_cqe(&ring, &cqe);
    waited = now_ms() - t0;
    printf("io_uring_wait_cqe: %d, res %d tag %llu '%s', waited >= 250 ms: %s\n", rc, rc == 0 ? cqe->res : -1,
           rc == 0 ? (unsigned long long)cqe->user_data : 0ull, a, yesno(waited >= 250));
    if (rc == 0)
        io_uring_cqe_seen(&ring, cqe);
    msleep(30);
    fprintf(stderr, "wait_cqe gap: %.0f ms\n", pp_max_gap);
    int st;
    waitpid(writer, &st, 0);
    close(sv[0]);
    close(sv[1]);
    close(sv2[0]);
    close(sv2[1]);
    return NULL;
}

int main(void)
{
    self_alarm(20);
    int rc = io_uring_queue_init(8, &ring, 0);
    if (rc != 0) {
        printf("uring skip: io_uring_queue_init %s\n", ename(-rc));
        return 0;
    }
    pingpong_start();
    join_long(spawn(uring_thread, NULL));
    pingpong_stop();
    io_uring_queue_exit(&ring);
    return 0;
}
