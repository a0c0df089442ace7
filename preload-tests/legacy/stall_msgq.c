/* stall_msgq: msgrcv() on a System V message queue, which a child process
 * feeds after 500 ms, beside a thread that ticks every 5 ms. The shim does
 * not interpose msgrcv, and a signal would end it with EINTR even with
 * SA_RESTART (signal(7)): under the shim with one carrier the stall watchdog
 * reports it without sending its sampling signal, so msgrcv still returns
 * the message. stdout is the same both ways. */
#include "common.h"

#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>

static int qid;

struct msg {
    long type;
    char text[16];
};

static void *receiver_main(void *arg)
{
    (void)arg;
    struct msg m;
    ssize_t n = msgrcv(qid, &m, sizeof m.text, 1, 0);
    if (n < 0)
        printf("msgrcv: %s\n", ename(errno));
    else
        printf("msgrcv: %zd bytes '%s'\n", n, m.text);
    return NULL;
}

int main(void)
{
    qid = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (qid < 0)
        DIE("msgget");
    pid_t child = fork();
    if (child < 0)
        DIE("fork");
    if (child == 0) {
        msleep(500);
        struct msg m = {1, "late message"};
        if (msgsnd(qid, &m, sizeof m.text, 0) != 0)
            DIE("msgsnd");
        _exit(0);
    }
    ticker_start();
    pthread_t rx = spawn(receiver_main, NULL);
    pthread_join(rx, NULL);
    int ticks = ticker_stop();
    int st;
    if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        DIE("child");
    msgctl(qid, IPC_RMID, NULL);
    printf("the sender exited 0\n");
    fprintf(stderr, "ticks: %d\n", ticks);
    return 0;
}
