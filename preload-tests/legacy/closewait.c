/* close() of an fd while another thread is blocked on it.
 *
 *   closewait read|poll
 *
 * Thread A blocks in read(fd) (or poll(fd, POLLIN, -1)). 200 ms later the main
 * thread closes fd, makes a NEW socketpair (its first fd normally reuses fd's
 * number) and writes "NEWDATA" into it. 300 ms later it writes "OLDDATA" to
 * the peer of the OLD socket.
 *
 * Natively, A holds the old file: close() does not wake it, it receives
 * "OLDDATA" (poll: POLLIN) after the old peer writes. cohook documents another
 * outcome: A wakes at close with -1 EBADF (poll: POLLNVAL). A must never see
 * the new file: never "NEWDATA", never a POLLIN before OLDDATA was written;
 * and the new file's reader still finds "NEWDATA".
 */
#include "common.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>

static int use_poll;
static int old_fd;
static volatile double woke_at;
static char result[128];

static void *waiter(void *arg)
{
    (void)arg;
    if (use_poll) {
        struct pollfd p = {old_fd, POLLIN, 0};
        int r = poll(&p, 1, -1);
        int e = errno;
        woke_at = now_ms();
        if (r < 0)
            snprintf(result, sizeof result, "A: poll -1 %s", ename(e));
        else
            snprintf(result, sizeof result, "A: poll %d revents%s%s%s%s", r,
                     (p.revents & POLLIN) ? " POLLIN" : "", (p.revents & POLLHUP) ? " POLLHUP" : "",
                     (p.revents & POLLNVAL) ? " POLLNVAL" : "", (p.revents & POLLERR) ? " POLLERR" : "");
    } else {
        char buf[64];
        ssize_t n = read(old_fd, buf, sizeof buf);
        int e = errno;
        woke_at = now_ms();
        if (n < 0)
            snprintf(result, sizeof result, "A: read -1 %s", ename(e));
        else
            snprintf(result, sizeof result, "A: read %zd bytes '%.*s'", n, (int)n, buf);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    use_poll = argc > 1 && strcmp(argv[1], "poll") == 0;
    signal(SIGPIPE, SIG_IGN); /* the old peer may be gone if A woke with EBADF */
    int sv[2], nv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        DIE("socketpair");
    old_fd = sv[0];
    pthread_t a;
    pthread_create(&a, NULL, waiter, NULL);
    msleep(200);
    close(old_fd);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, nv) != 0)
        DIE("socketpair");
    fprintf(stderr, "old fd %d, new fds %d %d (number reused: %s)\n", old_fd, nv[0], nv[1],
            yesno(nv[0] == old_fd));
    if (write_all(nv[1], "NEWDATA", 7) != 0)
        DIE("write NEWDATA");
    msleep(300);
    double old_written_at = now_ms();
    ssize_t w = write(sv[1], "OLDDATA", 7);
    fprintf(stderr, "write to the old peer: %zd %s\n", w, w < 0 ? ename(errno) : "");
    pthread_join(a, NULL);
    printf("%s\n", result);
    printf("A woke before the old peer wrote: %s\n", yesno(woke_at < old_written_at));
    char buf[64];
    struct pollfd p = {nv[0], POLLIN, 0};
    ssize_t n = poll(&p, 1, 1000) == 1 ? read(nv[0], buf, sizeof buf) : 0;
    printf("new file's reader gets: '%.*s'\n", (int)(n > 0 ? n : 0), buf);
    return 0;
}
