/* A futex wait made through syscall(SYS_futex) -- as custom locks, InnoDB
 * and libstdc++'s atomic waits make it -- woken by another thread 200 ms
 * later. Under the shim with COHOOK_CARRIERS=1 the waker is a coroutine on
 * the waiter's own carrier: had the wait slept in the kernel, the waker
 * could never run (the alarm would kill the program). Also: the timeout,
 * a value mismatch, a shared (non-PRIVATE) futex and FUTEX_WAIT_BITSET. */
#include <linux/futex.h>
#include <sys/syscall.h>

#include "common.h"

static uint32_t word;

static long futex(uint32_t *addr, int op, uint32_t val, const struct timespec *ts, uint32_t bits)
{
    return syscall(SYS_futex, addr, op, val, ts, NULL, bits);
}

static void *waker(void *arg)
{
    int op = (int)(long)arg;
    msleep(200);
    __atomic_store_n(&word, 1, __ATOMIC_SEQ_CST);
    long n = futex(&word, op, 1, NULL, FUTEX_BITSET_MATCH_ANY);
    return (void *)n;
}

/* Wait with `wait_op` for `word` to leave 0; the waker wakes with `wake_op`. */
static void wait_woken(const char *what, int wait_op, int wake_op)
{
    __atomic_store_n(&word, 0, __ATOMIC_SEQ_CST);
    pthread_t t = spawn(waker, (void *)(long)wake_op);
    pingpong_reset();
    double t0 = now_ms();
    long r;
    do {
        r = futex(&word, wait_op, 0, NULL, FUTEX_BITSET_MATCH_ANY);
    } while (r != 0 && errno == EINTR);
    int again = r != 0 && errno == EAGAIN;  /* the waker came first: allowed */
    double waited = now_ms() - t0;
    long woke = join_long(t);
    char line[200];
    snprintf(line, sizeof line, "%s: woken %s, word 1 %s, waited >= 150 ms %s, waker woke <= 1: %s", what,
             yesno(r == 0 || again), yesno(__atomic_load_n(&word, __ATOMIC_SEQ_CST) == 1),
             yesno(waited >= 150 || again), yesno(woke >= 0 && woke <= 1));
    pingpong_report(line);
}

static void *futex_thread(void *arg)
{
    (void)arg;
    wait_woken("FUTEX_WAIT_PRIVATE", FUTEX_WAIT | FUTEX_PRIVATE_FLAG, FUTEX_WAKE | FUTEX_PRIVATE_FLAG);
    wait_woken("FUTEX_WAIT (shared)", FUTEX_WAIT, FUTEX_WAKE);
    wait_woken("FUTEX_WAIT_BITSET_PRIVATE", FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG,
               FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG);

    __atomic_store_n(&word, 0, __ATOMIC_SEQ_CST);
    struct timespec ts = {0, 150 * 1000000L};
    double t0 = now_ms();
    long r = futex(&word, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 0, &ts, 0);
    printf("timed wait: %ld %s, waited >= 140 ms: %s\n", r, ename(errno), yesno(now_ms() - t0 >= 140));
    r = futex(&word, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 7, NULL, 0);
    printf("value mismatch: %ld %s\n", r, ename(errno));
    r = futex(&word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, NULL, 0);
    printf("wake with no waiter: %ld\n", r);
    return NULL;
}

int main(void)
{
    self_alarm(20);
    pingpong_start();
    join_long(spawn(futex_thread, NULL));
    pingpong_stop();
    return 0;
}
