/* stderrsock: an inetd-style server puts a client's connection on fds 0-2
 * (vsftpd's sessions do), so whatever reaches fd 2 enters the client's
 * protocol. Here fd 2 becomes one end of a socketpair; then one thread
 * computes for 300 ms while another sleeps beside it -- under the shim with
 * one carrier, a stall the watchdog reports. The peer end must receive
 * nothing: the program itself never writes to fd 2.
 */
#include <fcntl.h>
#include <sys/socket.h>

#include "common.h"

static void *spinner(void *arg)
{
    (void)arg;
    double t0 = now_ms();
    volatile unsigned long n = 0;
    while (now_ms() - t0 < 300) n++;
    return NULL;
}

static void *sleeper(void *arg)
{
    (void)arg;
    msleep(500);
    return NULL;
}

int main(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) DIE("socketpair: %s", ename(errno));
    int saved = dup(2);
    if (saved < 0 || dup2(sv[1], 2) != 2) DIE("dup2: %s", ename(errno));
    close(sv[1]);
    pthread_t a, b;
    if (pthread_create(&b, NULL, sleeper, NULL) != 0 || pthread_create(&a, NULL, spinner, NULL) != 0)
        DIE("pthread_create");
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    dup2(saved, 2);
    close(saved);
    /* Everything written to the old fd 2 has arrived by now: take it. */
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    char buf[4096];
    ssize_t got = 0, r;
    while ((r = read(sv[0], buf, sizeof buf)) > 0) {
        if (got == 0) fprintf(stderr, "on the socket: %.*s\n", (int)r, buf);
        got += r;
    }
    printf("bytes the client's socket on fd 2 received: %zd\n", got);
    return 0;
}
