/* A forked child can still wait for its own children.
 *
 *   forkpool
 *
 * The parent reaps a child with a blocking waitpid(-1) (under the shim that
 * runs on the offload pool, which then has a thread; a wait for one pid
 * uses a pidfd instead), then forks a child that forks and reaps a
 * grandchild the same way. The pool thread did not come
 * along into the child: its waitpid must not queue for it forever (bash did
 * this to every command substitution). The child gives up after 5 s
 * (SIGALRM), so a hang shows as a death by signal 14. */
#define _GNU_SOURCE 1
#include <signal.h>
#include <sys/wait.h>

#include "common.h"

/* Forks a process that exits with `code` after 100 ms; reaps it with a
 * blocking waitpid(-1) (the only child then); prints what came back. */
static void reap(const char *who, int code)
{
    pid_t p = fork();
    if (p < 0)
        DIE("fork");
    if (p == 0) {
        msleep(100);
        _exit(code);
    }
    int st;
    pid_t r = waitpid(-1, &st, 0);
    printf("%s: waitpid: %s, exit status %d\n", who, r == p ? "that child" : "other",
           WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    fflush(stdout);
}

int main(void)
{
    reap("parent", 3);
    pid_t child = fork();
    if (child < 0)
        DIE("fork");
    if (child == 0) {
        alarm(5);
        reap("forked child", 5);
        reap("forked child, again", 6);
        _exit(0);
    }
    int st;
    if (waitpid(-1, &st, 0) != child)
        DIE("waitpid");
    if (WIFSIGNALED(st))
        printf("forked child killed by signal %d\n", WTERMSIG(st));
    else
        printf("forked child exit status %d\n", WEXITSTATUS(st));
    reap("parent, after", 7);
    return 0;
}
