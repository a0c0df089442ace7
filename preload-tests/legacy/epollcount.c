/* A blocking read on a socketpair (the peer writes 100 ms later), then the
 * number of this process's epoll instances.
 *
 * Natively: 0. Under the shim the blocked read parked on the carrier's epoll,
 * so >= 1; with COHOOK_DISABLE=1 the shim must be a pure pass-through: 0.
 * The last line ("eventpoll fds: N") is the one that differs between runs.
 */
#include "common.h"

#include <pthread.h>


int main(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        DIE("socketpair");
    struct late_write w = {sv[1], 100, "hello"};
    pthread_t t = write_later(&w);
    char buf[16];
    ssize_t n = read(sv[0], buf, sizeof buf);
    pthread_join(t, NULL);
    printf("read %zd bytes '%.*s'\n", n, (int)(n > 0 ? n : 0), buf);
    printf("eventpoll fds: %d\n", count_eventpoll_fds());
    return 0;
}
