/* A socket inherited through fork (+exec) keeps working and keeps its flags.
 *
 *   forkexec FDFLAGS_PROGRAM
 *
 * 1. The parent first blocks on the socket (so a shim that sets O_NONBLOCK on
 *    the real fd would have done so), then forks a child that puts the socket
 *    on stdin+stdout and execs /bin/cat; the parent streams 1 MiB through it
 *    and checks the echo is byte-exact.
 * 2. Same first step, then a child execs FDFLAGS_PROGRAM with the socket as
 *    fd 0, once with the environment as is (LD_PRELOAD inherited) and once
 *    without LD_PRELOAD (the kernel's view): both must say "blocking".
 * 3. A forked child (no exec) blocks reading the inherited socket until the
 *    parent writes 100 ms later.
 */
#include "common.h"

#include <fcntl.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/wait.h>

extern char **environ;

#define MIB (1u << 20)

struct job {
    int fd, ms;
    const unsigned char *data;
    size_t len;
    int shut;
};

static void *writer(void *arg)
{
    struct job *j = arg;
    if (j->ms)
        msleep(j->ms);
    if (write_all(j->fd, j->data, j->len) != 0)
        DIE("writer");
    if (j->shut && shutdown(j->fd, SHUT_WR) != 0)
        DIE("shutdown");
    return NULL;
}

/* Block in read on fd until the other end writes 50 ms later. */
static void block_once(int fd, int other)
{
    pthread_t t;
    struct job j = {other, 50, (const unsigned char *)"w", 1, 0};
    pthread_create(&t, NULL, writer, &j);
    char c;
    if (read(fd, &c, 1) != 1)
        DIE("block_once read");
    pthread_join(t, NULL);
}

static int wait_child(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid)
        DIE("waitpid");
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void run_fdflags(const char *prog, int sock, const char *label, int strip_preload)
{
    pid_t pid = fork();
    if (pid < 0)
        DIE("fork");
    if (pid == 0) {
        if (dup2(sock, 0) != 0)
            DIE("dup2");
        if (strip_preload)
            unsetenv("LD_PRELOAD");
        execle(prog, prog, label, (char *)NULL, environ);
        DIE("exec %s", prog);
    }
    printf("fdflags child exit: %d\n", wait_child(pid));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: forkexec FDFLAGS_PROGRAM\n");
        return 2;
    }
    int sv[2];

    /* 1. cat */
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        DIE("socketpair");
    block_once(sv[1], sv[0]);
    pid_t pid = fork();
    if (pid < 0)
        DIE("fork");
    if (pid == 0) {
        if (dup2(sv[1], 0) != 0 || dup2(sv[1], 1) != 1)
            DIE("dup2");
        close(sv[0]);
        close(sv[1]);
        execl("/bin/cat", "cat", (char *)NULL);
        DIE("exec cat");
    }
    close(sv[1]);
    unsigned char *data = malloc(MIB), *back = malloc(MIB + 1);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < MIB; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = (unsigned char)x;
    }
    pthread_t t;
    struct job j = {sv[0], 0, data, MIB, 1};
    pthread_create(&t, NULL, writer, &j);
    size_t got = 0;
    for (;;) {
        ssize_t n = read(sv[0], back + got, MIB + 1 - got);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            DIE("read from cat");
        }
        got += (size_t)n;
        if (got > MIB)
            break;
    }
    pthread_join(t, NULL);
    printf("cat echoed %zu bytes, byte-exact: %s\n", got, yesno(got == MIB && memcmp(data, back, MIB) == 0));
    printf("cat exit: %d\n", wait_child(pid));
    close(sv[0]);

    /* 2. flags seen by an exec'd child */
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        DIE("socketpair");
    block_once(sv[1], sv[0]);
    printf("parent sees the socket %s\n", (fcntl(sv[1], F_GETFL) & O_NONBLOCK) ? "nonblocking" : "blocking");
    fflush(stdout);
    run_fdflags(argv[1], sv[1], "child with inherited environment", 0);
    run_fdflags(argv[1], sv[1], "child without LD_PRELOAD", 1);

    /* 3. forked child blocks on the inherited socket */
    pid = fork();
    if (pid < 0)
        DIE("fork");
    if (pid == 0) {
        char buf[32];
        double t0 = now_ms();
        ssize_t n = read(sv[1], buf, sizeof buf);
        printf("forked child read: %zd '%.*s' waited: %s\n", n, (int)(n > 0 ? n : 0), buf,
               yesno(now_ms() - t0 >= 50));
        _exit(0);
    }
    msleep(100);
    write_all(sv[0], "to the child", 12);
    printf("forked child exit: %d\n", wait_child(pid));
    return 0;
}
