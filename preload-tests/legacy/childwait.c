/* Waits with no fd to park on: a child's exit (waitpid on one child, wait
 * for any), and blocking file locks (flock, fcntl F_SETLKW) held by a child.
 * Meanwhile two other threads play ping-pong over a socketpair every 2 ms;
 * the longest gap between their rounds must stay under 150 ms, although
 * every wait here lasts 300 ms. (Under the shim with one carrier, a wait
 * that blocked the carrier would stop the ping-pong for those 300 ms.)
 *
 *   childwait */
#define _GNU_SOURCE 1
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "common.h"

int main(void)
{
    alarm(30);
    pingpong_start();
    char buf[160];

    pingpong_reset();
    pid_t p = fork();
    if (p == 0) {
        msleep(300);
        _exit(7);
    }
    int st = 0;
    pid_t r = waitpid(p, &st, 0);
    snprintf(buf, sizeof buf, "waitpid(child, 0): %s, exit status %d", r == p ? "that child" : "?", WEXITSTATUS(st));
    pingpong_report(buf);

    pingpong_reset();
    p = fork();
    if (p == 0) {
        msleep(300);
        _exit(9);
    }
    r = wait(&st);
    snprintf(buf, sizeof buf, "wait(): %s, exit status %d", r == p ? "that child" : "?", WEXITSTATUS(st));
    pingpong_report(buf);

    char path[] = "/tmp/childwait-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        DIE("mkstemp");
    int ready[2];
    if (pipe(ready) != 0)
        DIE("pipe");
    p = fork();
    if (p == 0) {
        int f = open(path, O_RDWR);
        flock(f, LOCK_EX);
        write(ready[1], "r", 1);
        msleep(300);
        _exit(0);
    }
    char c;
    read(ready[0], &c, 1);
    pingpong_reset();
    printf("flock(LOCK_EX|LOCK_NB) while the child holds it: %s\n",
           flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK ? "EWOULDBLOCK" : "?");
    r = flock(fd, LOCK_EX);
    snprintf(buf, sizeof buf, "flock(LOCK_EX) once the child is done: %d", r);
    pingpong_report(buf);
    flock(fd, LOCK_UN);
    waitpid(p, NULL, 0);

    p = fork();
    if (p == 0) {
        int f = open(path, O_RDWR);
        struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        fcntl(f, F_SETLK, &l);
        write(ready[1], "r", 1);
        msleep(300);
        _exit(0);
    }
    read(ready[0], &c, 1);
    pingpong_reset();
    struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    r = fcntl(fd, F_SETLKW, &l);
    snprintf(buf, sizeof buf, "fcntl(F_SETLKW) once the child is done: %d", r);
    pingpong_report(buf);
    waitpid(p, NULL, 0);
    printf("lockf(F_LOCK) uncontended: %d, F_ULOCK: %d\n", lockf(fd, F_LOCK, 0), lockf(fd, F_ULOCK, 0));
    unlink(path);

    pingpong_reset();
    p = fork();
    if (p == 0) {
        msleep(300);
        _exit(3);
    }
    struct rusage ru;
    r = wait4(p, &st, 0, &ru);
    snprintf(buf, sizeof buf, "wait4(child): %s, exit status %d", r == p ? "that child" : "?", WEXITSTATUS(st));
    pingpong_report(buf);

    pingpong_reset();
    p = fork();
    if (p == 0) {
        msleep(300);
        _exit(4);
    }
    siginfo_t si;
    memset(&si, 0, sizeof si);
    r = waitid(P_PID, (id_t)p, &si, WEXITED);
    snprintf(buf, sizeof buf, "waitid(P_PID): %d, si_pid right %s, si_status %d", r, si.si_pid == p ? "yes" : "no",
             si.si_status);
    pingpong_report(buf);

    pingpong_reset();
    r = system("sleep 0.3; exit 5");
    snprintf(buf, sizeof buf, "system(sleep 0.3; exit 5): exit status %d", WIFEXITED(r) ? WEXITSTATUS(r) : -1);
    pingpong_report(buf);

    pingpong_reset();
    /* read(2) on the pipe, not fgets: stdio reads inside libc, where no
     * hook sees them (a known stall, docs/architecture.md). */
    FILE *f = popen("echo from the child; sleep 0.3", "r");
    char line[64] = "";
    if (!f)
        DIE("popen");
    ssize_t got = read(fileno(f), line, sizeof line - 1);
    line[got > 0 ? got : 0] = 0;
    line[strcspn(line, "\n")] = 0;
    r = pclose(f);
    snprintf(buf, sizeof buf, "popen+pclose: '%s', exit status %d", line, WIFEXITED(r) ? WEXITSTATUS(r) : -1);
    pingpong_report(buf);

    r = waitpid(-1, NULL, 0);
    printf("waitpid(-1) with no children: %d %s\n", r, ename(errno));
    pingpong_stop();
    return 0;
}
