/* Built with -O2 -D_FORTIFY_SOURCE=2: the length comes from argv, so gcc
 * cannot prove it fits the buffer and calls the checking entry points
 * (__read_chk, __recv_chk, __recvfrom_chk, __poll_chk, __ppoll_chk).
 *
 *   fortify read|recv|recvfrom|poll|ppoll LEN     (LEN: bytes, or nfds for poll)
 *
 * One blocking call per run (the peer writes 300 ms later). A sampler thread
 * looks at /proc/self/task/<main>/syscall at 100 ms to see which system call
 * the main thread is blocked in, and at the end we count epoll instances:
 * natively the call itself ("read") and 0; under the shim the carrier's wait
 * (not "read") and >= 1, which proves the _chk entry point was interposed.
 */
#include "common.h"

#include <poll.h>
#include <pthread.h>
#include <sys/syscall.h>

static int peer;
static pid_t main_tid;
static char blocked_in[128] = "?";

static const char *syscall_name(long nr)
{
    switch (nr) {
#ifdef SYS_read
    case SYS_read: return "read";
#endif
#ifdef SYS_recvfrom
    case SYS_recvfrom: return "recvfrom";
#endif
#ifdef SYS_poll
    case SYS_poll: return "poll";
#endif
#ifdef SYS_ppoll
    case SYS_ppoll: return "ppoll";
#endif
#ifdef SYS_epoll_wait
    case SYS_epoll_wait: return "epoll_wait";
#endif
#ifdef SYS_epoll_pwait
    case SYS_epoll_pwait: return "epoll_pwait";
#endif
#ifdef SYS_epoll_pwait2
    case SYS_epoll_pwait2: return "epoll_pwait2";
#endif
#ifdef SYS_futex
    case SYS_futex: return "futex";
#endif
    default: return NULL;
    }
}


static void *sampler(void *arg)
{
    (void)arg;
    msleep(100);
    char path[64], text[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)main_tid);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(text, sizeof text, f)) {
        snprintf(blocked_in, sizeof blocked_in, "unknown (%s unreadable)", path);
    } else {
        long nr = strtol(text, NULL, 10);
        const char *name = syscall_name(nr);
        if (strncmp(text, "running", 7) == 0)
            snprintf(blocked_in, sizeof blocked_in, "running");
        else if (name)
            snprintf(blocked_in, sizeof blocked_in, "%s", name);
        else
            snprintf(blocked_in, sizeof blocked_in, "syscall %ld", nr);
    }
    if (f)
        fclose(f);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fortify read|recv|recvfrom|poll|ppoll LEN\n");
        return 2;
    }
    const char *mode = argv[1];
    size_t len = strtoul(argv[2], NULL, 10);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        DIE("socketpair");
    peer = sv[1];
    main_tid = (pid_t)syscall(SYS_gettid);
    pthread_t w, s;
    struct late_write late = {peer, 300, "payload"};
    w = write_later(&late);
    pthread_create(&s, NULL, sampler, NULL);

    char buf[64];
    struct pollfd fds[1] = {{sv[0], POLLIN, 0}};
    long r;
    if (strcmp(mode, "read") == 0)
        r = read(sv[0], buf, len);
    else if (strcmp(mode, "recv") == 0)
        r = recv(sv[0], buf, len, 0);
    else if (strcmp(mode, "recvfrom") == 0)
        r = recvfrom(sv[0], buf, len, 0, NULL, NULL);
    else if (strcmp(mode, "poll") == 0)
        r = poll(fds, len, -1);
    else if (strcmp(mode, "ppoll") == 0)
        r = ppoll(fds, len, NULL, NULL);
    else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    int e = errno;
    pthread_join(w, NULL);
    pthread_join(s, NULL);
    if (r < 0)
        printf("%s: -1 %s\n", mode, ename(e));
    else if (mode[0] == 'p') /* poll, ppoll */
        printf("%s: %ld revents POLLIN: %s\n", mode, r, yesno(fds[0].revents & POLLIN));
    else
        printf("%s: %ld bytes '%.*s'\n", mode, r, (int)r, buf);
    printf("blocked in: %s\n", blocked_in);
    printf("eventpoll fds: %d\n", count_eventpoll_fds());
    return 0;
}
