/* Blocking reads that wait longer than 1 s, with no timeout set: they must
 * return the data (libco gave up after a default 1 s; a real read waits).
 *
 *   fork:   socketpair, a forked child writes after 1.5 s; parent read()s.
 *   thread: socketpair, a thread writes after 1.5 s; main recv()s.
 *   pipe:   pipe (not a socket), a thread writes after 1.2 s; main read()s.
 */
#include "common.h"

#include <pthread.h>
#include <sys/wait.h>

struct delayed {
    int fd, ms;
    const char *msg;
};

static void *writer(void *arg)
{
    struct delayed *d = arg;
    msleep(d->ms);
    if (write_all(d->fd, d->msg, strlen(d->msg)) != 0)
        DIE("writer");
    return NULL;
}

static void report(const char *label, ssize_t n, int err, const char *buf, double el, int ms)
{
    if (n < 0)
        printf("%s: -1 %s\n", label, ename(err));
    else
        printf("%s: %zd bytes '%.*s' elapsed>=%dms: %s elapsed<10s: %s\n", label, n, (int)n, buf,
               ms, yesno(el >= ms), yesno(el < 10000));
}

int main(void)
{
    char buf[64];
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        DIE("socketpair");
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid < 0)
        DIE("fork");
    if (pid == 0) {
        msleep(1500);
        _exit(write_all(sv[1], "from child", 10) == 0 ? 0 : 1);
    }
    ssize_t n = read(sv[0], buf, sizeof buf);
    int e = errno;
    report("fork read", n, e, buf, now_ms() - t0, 1500);
    int status;
    if (waitpid(pid, &status, 0) != pid)
        DIE("waitpid");
    printf("child exit: %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    close(sv[0]);
    close(sv[1]);

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        DIE("socketpair");
    struct delayed d1 = {sv[1], 1500, "from thread"};
    pthread_t t;
    t0 = now_ms();
    pthread_create(&t, NULL, writer, &d1);
    n = recv(sv[0], buf, sizeof buf, 0);
    e = errno;
    report("thread recv", n, e, buf, now_ms() - t0, 1500);
    pthread_join(t, NULL);

    int p[2];
    if (pipe(p) != 0)
        DIE("pipe");
    struct delayed d2 = {p[1], 1200, "through pipe"};
    t0 = now_ms();
    pthread_create(&t, NULL, writer, &d2);
    n = read(p[0], buf, sizeof buf);
    e = errno;
    report("pipe read", n, e, buf, now_ms() - t0, 1200);
    pthread_join(t, NULL);
    return 0;
}
