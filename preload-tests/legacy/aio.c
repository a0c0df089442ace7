/* Linux AIO through libaio, as a storage engine uses it: submit, then wait
 * in io_getevents for the completion. The waits here take 200-300 ms
 * natively (a poll request on a socket whose peer writes late, a timeout on
 * an idle context) while the ping-pong threads play: under the shim they
 * must not hold the carrier. Results (and libaio's negative error numbers)
 * are printed for comparison. */
#include <fcntl.h>
#include <libaio.h>
#include <poll.h>
#include <sys/stat.h>

#include "common.h"

static const char *aio_err(int r) { return r < 0 ? ename(-r) : "0"; }

/* Waits in a thread (a coroutine under the shim), its buffers on its stack. */
static void *aio_thread(void *arg)
{
    (void)arg;
    io_context_t ctx = 0;
    int rc = io_setup(8, &ctx);
    printf("io_setup: %s\n", aio_err(rc));
    if (rc != 0)
        return NULL;
    struct io_event ev[4];

    /* 1. A poll request completed by a peer that writes 300 ms later. */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        DIE("socketpair");
    struct iocb poll_cb, *cbs[1] = {&poll_cb};
    io_prep_poll(&poll_cb, sv[0], POLLIN);
    rc = io_submit(ctx, 1, cbs);
    printf("io_submit(poll): %d\n", rc);
    struct late_write lw = {sv[1], 300, "late"};
    pthread_t t = write_later(&lw);
    pingpong_reset();
    double t0 = now_ms();
    rc = io_getevents(ctx, 1, 4, ev, NULL);
    double waited = now_ms() - t0;
    char what[200];
    snprintf(what, sizeof what, "io_getevents(min 1, no timeout): %d, POLLIN %s, right iocb %s, waited >= 250 ms: %s",
             rc, yesno(rc == 1 && (ev[0].res & POLLIN)), yesno(rc == 1 && ev[0].obj == &poll_cb),
             yesno(waited >= 250));
    pingpong_report(what);
    join_long(t);

    /* 2. Nothing in flight: the timeout expires. */
    struct timespec ts = {0, 200 * 1000000L};
    pingpong_reset();
    t0 = now_ms();
    rc = io_getevents(ctx, 1, 4, ev, &ts);
    snprintf(what, sizeof what, "io_getevents(min 1, 200 ms) on an idle context: %d, waited >= 150 ms: %s", rc,
             yesno(now_ms() - t0 >= 150));
    pingpong_report(what);

    /* 3. io_pgetevents with no sigmask: the same wait. */
    ts.tv_nsec = 100 * 1000000L;
    t0 = now_ms();
    rc = io_pgetevents(ctx, 1, 4, ev, &ts, NULL);
    printf("io_pgetevents(min 1, 100 ms): %s, waited >= 50 ms: %s\n", rc < 0 ? aio_err(rc) : (rc ? "events" : "0"),
           yesno(now_ms() - t0 >= 50));

    /* 4. A buffered file read completes at once; min 2 of 2 reads. */
    char path[128];
    snprintf(path, sizeof path, "/tmp/cohook-aio-%d", (int)getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write_all(fd, "0123456789abcdef", 16) != 0)
        DIE("test file");
    char a[8] = {0}, b[8] = {0};
    struct iocb r1, r2, *reads[2] = {&r1, &r2};
    io_prep_pread(&r1, fd, a, 4, 0);
    io_prep_pread(&r2, fd, b, 4, 10);
    rc = io_submit(ctx, 2, reads);
    printf("io_submit(2 preads): %d\n", rc);
    int got = 0;
    while (got < 2) {
        rc = io_getevents(ctx, 2 - got, 4, ev + got, NULL);
        if (rc <= 0)
            break;
        got += rc;
    }
    long sum = 0;
    for (int i = 0; i < got; i++)
        sum += ev[i].res;
    printf("io_getevents(min 2): %d events, %ld bytes, '%.4s' '%.4s'\n", got, sum, a, b);
    close(fd);
    unlink(path);

    /* 5. Non-blocking and error forms. */
    printf("io_getevents(min 0) on an idle context: %d\n", io_getevents(ctx, 0, 4, ev, NULL));
    ts.tv_sec = 0;
    ts.tv_nsec = 0;
    printf("io_getevents(zero timeout): %d\n", io_getevents(ctx, 1, 4, ev, &ts));
    printf("io_getevents(min > nr): %s\n", aio_err(io_getevents(ctx, 5, 4, ev, NULL)));
    ts.tv_nsec = 2000000000L;
    printf("io_getevents(bad timeout): %s\n", aio_err(io_getevents(ctx, 1, 4, ev, &ts)));
    printf("io_destroy: %s\n", aio_err(io_destroy(ctx)));
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

int main(void)
{
    self_alarm(20);
    pingpong_start();
    join_long(spawn(aio_thread, NULL));
    pingpong_stop();
    return 0;
}
