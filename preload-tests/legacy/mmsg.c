/* recvmmsg on a blocking datagram socket: without MSG_WAITFORONE it waits
 * for all vlen datagrams; with it, it returns after the first (plus what is
 * queued). A child sends 3 datagrams 100 ms apart each time.
 *
 *   mmsg */
#define _GNU_SOURCE 1
#include <sys/wait.h>

#include "common.h"

static int recv_batch(int s, int flags)
{
    char buf[3][16];
    struct iovec iov[3];
    struct mmsghdr m[3];
    memset(m, 0, sizeof m);
    for (int i = 0; i < 3; i++) {
        iov[i].iov_base = buf[i];
        iov[i].iov_len = sizeof buf[i];
        m[i].msg_hdr.msg_iov = &iov[i];
        m[i].msg_hdr.msg_iovlen = 1;
    }
    return recvmmsg(s, m, 3, flags, NULL);
}

static void send_three(int s)
{
    if (fork() == 0) {
        for (int i = 0; i < 3; i++) {
            usleep(100000);
            send(s, "dgram", 5, 0);
        }
        _exit(0);
    }
}

int main(void)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    send_three(sv[1]);
    double t = now_ms();
    int r = recv_batch(sv[0], 0);
    printf("recvmmsg vlen=3: %d waited>=250ms: %s\n", r, now_ms() - t >= 250 ? "yes" : "no");
    wait(NULL);
    send_three(sv[1]);
    r = recv_batch(sv[0], MSG_WAITFORONE);
    printf("recvmmsg vlen=3 MSG_WAITFORONE: %d\n", r);
    wait(NULL);
    return 0;
}
