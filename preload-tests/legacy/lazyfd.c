/* fds the shim never saw created: a listening socket and a pipe inherited
 * over exec (fds 3 and 4 of the exec'd child). The child blocks in accept()
 * on one and read() on the other while the parent connects and writes
 * 300 ms later each; its ping-pong threads must keep playing meanwhile
 * (under the shim the child learns the fds lazily, on first use).
 *   lazyfd            the parent
 *   lazyfd child      the exec'd child (fds 3 and 4 inherited) */
#include <fcntl.h>
#include <sys/wait.h>

#include "common.h"

static int child(void)
{
    pingpong_start();
    pingpong_reset();
    double t0 = now_ms();
    int c = accept(3, NULL, NULL);
    char what[160];
    snprintf(what, sizeof what, "child: accept on the inherited listener: %s, waited >= 250 ms: %s",
             c >= 0 ? "ok" : ename(errno), yesno(now_ms() - t0 >= 250));
    pingpong_report(what);
    char buf[16] = {0};
    pingpong_reset();
    t0 = now_ms();
    ssize_t n = read(4, buf, sizeof buf - 1);
    snprintf(what, sizeof what, "child: read on the inherited pipe: %zd '%s', waited >= 250 ms: %s", n, buf,
             yesno(now_ms() - t0 >= 250));
    pingpong_report(what);
    n = read(c, buf, sizeof buf - 1);
    printf("child: read on the accepted socket: %zd\n", n);
    pingpong_stop();
    return 0;
}

int main(int argc, char **argv)
{
    self_alarm(20);
    if (argc > 1 && strcmp(argv[1], "child") == 0)
        return child();
    int port;
    int l = tcp_listener(&port, 4);
    int p[2];
    if (pipe(p) != 0)
        DIE("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        if (dup2(l, 3) < 0 || dup2(p[0], 4) < 0)
            DIE("dup2");
        execl("/proc/self/exe", argv[0], "child", (char *)NULL);
        DIE("exec");
    }
    close(p[0]);
    msleep(600);  /* exec and the child's start take part of it */
    int s = tcp_connect(port);
    msleep(300);
    if (write_all(p[1], "inherited", 9) != 0)
        DIE("write");
    close(s);
    int st;
    if (waitpid(pid, &st, 0) != pid)
        DIE("waitpid");
    printf("parent: child exit status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return 0;
}
