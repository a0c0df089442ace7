/* rawclone: a process made by the raw clone system call, as vsftpd makes its
 * FTP sessions (syscall(__NR_clone, CLONE_NEW... | SIGCHLD, NULL): namespace
 * flags that fork() cannot take). libc's fork handling does not run, yet
 * child and parent must each wait on their own fds. The parent waits first
 * (poll, 5 s bound) for the child's answer; the child then waits in read for
 * a ping that a grandchild (plain fork) sends after a nap, answers pong and
 * exits 3. Had the child kept the parent's epoll instance (the shim's), the
 * parent, the older waiter, would take the child's wake-up and the child
 * would never answer.
 *
 *   rawclone clone    syscall(SYS_clone, SIGCHLD, 0, ...)
 *   rawclone clone3   syscall(SYS_clone3, {.exit_signal = SIGCHLD}, size)
 */
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common.h"

static long raw_fork(const char *how)
{
    if (strcmp(how, "clone") == 0) return syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.exit_signal = SIGCHLD;
    return syscall(SYS_clone3, &args, sizeof args);
}

static void child(int mine, int theirs)
{
    pid_t pinger = fork();
    if (pinger < 0) _exit(10);
    if (pinger == 0) {
        msleep(300);
        _exit(write(theirs, "ping", 4) == 4 ? 0 : 11);
    }
    close(theirs);
    char buf[4];
    if (read(mine, buf, 4) != 4 || memcmp(buf, "ping", 4) != 0) _exit(12);
    if (write(mine, "pong", 4) != 4) _exit(13);
    int status = 0;
    if (waitpid(pinger, &status, 0) != pinger || status != 0) _exit(14);
    _exit(3);
}

int main(int argc, char **argv)
{
    const char *how = argc > 1 ? argv[1] : "clone";
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) DIE("socketpair: %s", ename(errno));
    /* A wait for an fd before the clone, as a server's accept loop makes. */
    struct pollfd early = {sv[0], POLLIN, 0};
    if (poll(&early, 1, 20) != 0) DIE("early poll: %s", ename(errno));
    long pid = raw_fork(how);
    if (pid < 0) DIE("%s: %s", how, ename(errno));
    if (pid == 0) child(sv[1], sv[0]);
    close(sv[1]);
    char buf[5] = {0};
    struct pollfd p = {sv[0], POLLIN, 0};
    int got = poll(&p, 1, 5000) == 1 && read(sv[0], buf, 4) == 4;
    if (!got) kill((pid_t)pid, SIGKILL);
    int status = 0;
    if (waitpid((pid_t)pid, &status, 0) != (pid_t)pid) DIE("waitpid: %s", ename(errno));
    printf("%s: child answered: %s, child exit %d\n", how, got ? buf : "(nothing)",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}
