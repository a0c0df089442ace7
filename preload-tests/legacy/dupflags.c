/* dup'd fds share one open file description, and so its O_NONBLOCK flag.
 *
 * Natively, setting O_NONBLOCK (fcntl F_SETFL or ioctl FIONBIO) through one fd
 * makes reads through every dup of it non-blocking, and clearing it through
 * any of them makes them all blocking again. The shim must see the same.
 */
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/ioctl.h>

static int peer;

/* read(fd) while the peer writes 100 ms later; prints what happened. */
static void blocking_read(const char *label, int fd)
{
    struct late_write w = {peer, 100, "late"};
    pthread_t t = write_later(&w);
    char buf[16];
    double t0 = now_ms();
    ssize_t n = read(fd, buf, sizeof buf);
    int e = errno;
    double el = now_ms() - t0;
    pthread_join(t, NULL);
    if (n < 0) {
        printf("%s: -1 %s\n", label, ename(e));
        /* the late data is still queued: drain it for the next step */
        msleep(50);
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        while (read(fd, buf, sizeof buf) > 0) {
        }
        fcntl(fd, F_SETFL, fl);
    } else {
        printf("%s: %zd bytes '%.*s' waited: %s\n", label, n, (int)n, buf, yesno(el >= 50));
    }
}

static void nonblocking_read(const char *label, int fd)
{
    char buf[16];
    double t0 = now_ms();
    ssize_t n = read(fd, buf, sizeof buf);
    int e = errno;
    double el = now_ms() - t0;
    ssize_t m = recv(fd, buf, sizeof buf, 0);
    int e2 = errno;
    printf("%s: read %zd %s, recv %zd %s, immediate: %s\n", label, n, n < 0 ? ename(e) : "", m,
           m < 0 ? ename(e2) : "", yesno(el < 1000));
}

static const char *mode(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? ename(errno) : (fl & O_NONBLOCK) ? "nonblocking" : "blocking";
}

int main(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        DIE("socketpair");
    int s = sv[0];
    peer = sv[1];

    blocking_read("1. original, blocking", s);

    int d = dup(s);
    if (fcntl(d, F_SETFL, fcntl(d, F_GETFL) | O_NONBLOCK) != 0)
        DIE("F_SETFL");
    printf("2. after F_SETFL O_NONBLOCK on the dup, original is %s\n", mode(s));
    nonblocking_read("2. original", s);

    if (fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK) != 0)
        DIE("F_SETFL");
    printf("3. after clearing it on the original, dup is %s\n", mode(d));
    blocking_read("3. dup, blocking again", d);

    int on = 1;
    if (ioctl(d, FIONBIO, &on) != 0)
        DIE("FIONBIO");
    printf("4. after ioctl FIONBIO 1 on the dup, original is %s\n", mode(s));
    nonblocking_read("4. original", s);
    int off = 0;
    if (ioctl(s, FIONBIO, &off) != 0)
        DIE("FIONBIO");
    blocking_read("4. dup after FIONBIO 0 on the original", d);

    int d3 = fcntl(s, F_DUPFD_CLOEXEC, 100);
    printf("5. F_DUPFD_CLOEXEC >= 100: %s, FD_CLOEXEC: %s\n", yesno(d3 >= 100),
           yesno(fcntl(d3, F_GETFD) & FD_CLOEXEC));
    fcntl(d3, F_SETFL, O_NONBLOCK);
    nonblocking_read("5. original after O_NONBLOCK on the F_DUPFD copy", s);
    fcntl(d3, F_SETFL, 0);

    int d2 = dup2(s, 50);
    int d4 = dup3(s, 51, O_CLOEXEC);
    close(s);
    close(d);
    close(d3);
    printf("6. dup2 -> %d, dup3 -> %d\n", d2, d4);
    blocking_read("6. dup2 copy after closing the original", 50);
    close(50);
    blocking_read("6. dup3 copy after closing the rest", 51);
    char c;
    ssize_t n = read(s, &c, 1);
    printf("7. read on the closed original: %zd %s\n", n, n < 0 ? ename(errno) : "");
    return 0;
}
