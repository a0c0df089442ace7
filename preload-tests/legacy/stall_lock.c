/* stall_lock: a process-shared mutex (the shim leaves it to glibc, which
 * waits for it in the kernel) held for 500 ms by a child process while a
 * thread locks it, beside a thread that ticks every 5 ms. Under the shim with
 * one carrier the wait holds the carrier: the stall watchdog reports it,
 * naming pthread_mutex_lock. stdout is the same both ways. */
#include "common.h"

#include <sys/mman.h>
#include <sys/wait.h>

static pthread_mutex_t *shared_mu;
static double locked_after;

static void *locker_main(void *arg)
{
    double start = *(double *)arg;
    if (pthread_mutex_lock(shared_mu) != 0)
        DIE("pthread_mutex_lock");
    locked_after = now_ms() - start;
    pthread_mutex_unlock(shared_mu);
    return NULL;
}

int main(void)
{
    shared_mu = mmap(NULL, sizeof *shared_mu, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared_mu == MAP_FAILED)
        DIE("mmap");
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (pthread_mutex_init(shared_mu, &a) != 0)
        DIE("pthread_mutex_init");
    int ready[2];
    if (pipe(ready) != 0)
        DIE("pipe");
    pid_t child = fork();
    if (child < 0)
        DIE("fork");
    if (child == 0) {
        pthread_mutex_lock(shared_mu);
        if (write(ready[1], "x", 1) != 1)
            DIE("write");
        msleep(500);
        pthread_mutex_unlock(shared_mu);
        _exit(0);
    }
    char c;
    if (read(ready[0], &c, 1) != 1)
        DIE("read");
    double start = now_ms();
    ticker_start();
    pthread_t locker = spawn(locker_main, &start);
    pthread_join(locker, NULL);
    int ticks = ticker_stop();
    int st;
    if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        DIE("child");
    printf("locked the process-shared mutex after the child let go: %s\n", yesno(locked_after >= 300));
    fprintf(stderr, "locked after %.0f ms, ticks %d\n", locked_after, ticks);
    return 0;
}
