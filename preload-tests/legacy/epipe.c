/* Writing to a socket whose peer is gone.
 *
 *   epipe ignore   SIGPIPE ignored: the exact native sequence of results
 *                  (TCP: the first write after the peer's close succeeds and
 *                  draws an RST, then EPIPE; socketpair: EPIPE at once).
 *   epipe default  SIGPIPE not handled: the process dies of SIGPIPE.
 */
#include "common.h"

#include <signal.h>
#include <sys/uio.h>

/* Evaluates the call before reading errno (function arguments would not). */
#define SHOW(label, call)                                                     \
    do {                                                                      \
        ssize_t n_ = (call);                                                  \
        show(label, n_, errno);                                               \
    } while (0)

static void show(const char *label, ssize_t n, int err)
{
    if (n < 0)
        printf("%s: -1 %s\n", label, ename(err));
    else
        printf("%s: %zd\n", label, n);
}

int main(int argc, char **argv)
{
    int ignore = argc > 1 && strcmp(argv[1], "ignore") == 0;
    if (ignore)
        signal(SIGPIPE, SIG_IGN);

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        DIE("socketpair");
    close(sv[1]);
    if (!ignore) {
        printf("writing with SIGPIPE at its default action\n");
        fflush(stdout);
        ssize_t n = write(sv[0], "x", 1);
        printf("survived the write: %zd %s\n", n, ename(errno));
        return 0;
    }
    SHOW("socketpair write", write(sv[0], "x", 1));
    SHOW("socketpair send", send(sv[0], "x", 1, 0));
    struct iovec iov = {"xy", 2};
    SHOW("socketpair writev", writev(sv[0], &iov, 1));
    close(sv[0]);

    int port;
    int lfd = tcp_listener(&port, 4);
    int c = tcp_connect(port);
    int s = accept(lfd, NULL, NULL);
    if (s < 0)
        DIE("accept");
    close(s); /* FIN to c */
    msleep(100);
    SHOW("tcp write #1 (peer closed, FIN seen)", write(c, "x", 1));
    msleep(100); /* the RST answering it arrives */
    SHOW("tcp write #2", write(c, "x", 1));
    SHOW("tcp send #3", send(c, "x", 1, 0));
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    SHOW("tcp sendmsg #4", sendmsg(c, &m, 0));
    char buf[4];
    SHOW("tcp read after", read(c, buf, sizeof buf));
    return 0;
}
