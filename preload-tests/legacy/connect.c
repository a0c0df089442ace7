/* connect(): refused, successful, and program-chosen non-blocking.
 *
 * A socket bound to 127.0.0.1 but not listening answers SYN with RST, so the
 * refused case needs no free-port guessing (and the port stays ours).
 */
#include "common.h"

#include <fcntl.h>
#include <poll.h>

static void print_connect(const char *label, int rc, int err)
{
    if (rc == 0)
        printf("%s: 0\n", label);
    else
        printf("%s: -1 %s\n", label, ename(err));
}

static int so_error(int fd)
{
    int v = -1;
    socklen_t len = sizeof v;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &v, &len) != 0)
        DIE("getsockopt SO_ERROR");
    return v;
}

int main(void)
{
    /* Refused. */
    int closed_port;
    int bound = tcp_listener(&closed_port, 0); /* bound, never listens */
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loopback_addr(closed_port);
    int rc = connect(c, (struct sockaddr *)&a, sizeof a);
    print_connect("connect to closed port", rc, errno);
    printf("SO_ERROR afterwards: %d\n", so_error(c));
    /* The same socket again: Linux lets it retry (and it is refused again). */
    rc = connect(c, (struct sockaddr *)&a, sizeof a);
    print_connect("connect again", rc, errno);
    close(c);

    /* Success. */
    int port;
    int lfd = tcp_listener(&port, 16);
    c = socket(AF_INET, SOCK_STREAM, 0);
    a = loopback_addr(port);
    rc = connect(c, (struct sockaddr *)&a, sizeof a);
    print_connect("connect to listening port", rc, errno);
    int s = accept(lfd, NULL, NULL);
    printf("accept: %s\n", s >= 0 ? "ok" : ename(errno));
    struct sockaddr_in peer, local;
    socklen_t len = sizeof peer;
    getpeername(s, (struct sockaddr *)&peer, &len);
    len = sizeof local;
    getsockname(c, (struct sockaddr *)&local, &len);
    printf("accepted peer is our client: %s\n", yesno(peer.sin_port == local.sin_port));
    write_all(c, "ping", 4);
    char buf[8];
    ssize_t n = read(s, buf, sizeof buf);
    printf("data over it: %.*s\n", (int)(n > 0 ? n : 0), buf);
    rc = connect(c, (struct sockaddr *)&a, sizeof a);
    print_connect("connect on a connected socket", rc, errno);
    close(c);
    close(s);

    /* The program's own non-blocking connect is passed through. */
    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    rc = connect(c, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    /* Loopback may complete at once or say EINPROGRESS: both are native. */
    printf("non-blocking connect: %s\n",
           rc == 0 || e == EINPROGRESS ? "0 or EINPROGRESS" : ename(e));
    struct pollfd p = {c, POLLOUT, 0};
    int pr = poll(&p, 1, 5000);
    printf("poll for writable: %d revents POLLOUT: %s SO_ERROR: %d\n", pr,
           yesno(p.revents & POLLOUT), so_error(c));
    printf("flags still O_NONBLOCK: %s\n", yesno(fcntl(c, F_GETFL) & O_NONBLOCK));
    close(c);
    close(lfd);
    close(bound);
    return 0;
}
