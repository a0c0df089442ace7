/* stall_stdio: fgets() on a socket wrapped with fdopen(), whose peer (a child
 * process) answers after 500 ms, beside a thread that ticks every 5 ms. libc
 * reads the stream with its own internal read, which the shim cannot see:
 * under the shim with one carrier the fgets holds the carrier, and the stall
 * watchdog reports it with the stdio hint. stdout is the same both ways. */
#include "common.h"

#include <sys/wait.h>


static void *reader_main(void *arg)
{
    FILE *f = fdopen(*(int *)arg, "r");
    if (!f)
        DIE("fdopen");
    char line[64];
    if (!fgets(line, sizeof line, f))
        DIE("fgets");
    printf("fgets read: %s", line);
    fclose(f);
    return NULL;
}

int main(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        DIE("socketpair");
    pid_t child = fork();
    if (child < 0)
        DIE("fork");
    if (child == 0) {
        close(sv[0]);
        msleep(500);
        if (write_all(sv[1], "late line\n", 10) != 0)
            DIE("write");
        _exit(0);
    }
    close(sv[1]);
    ticker_start();
    pthread_t reader = spawn(reader_main, &sv[0]);
    pthread_join(reader, NULL);
    int ticks = ticker_stop();
    int st;
    if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        DIE("child");
    printf("the peer process exited 0\n");
    fprintf(stderr, "ticks: %d\n", ticks);
    return 0;
}
