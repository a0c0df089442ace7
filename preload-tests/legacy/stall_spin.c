/* stall_spin: a thread that computes without ever blocking, beside two
 * threads that play ping-pong over a socketpair. Under the shim with one
 * carrier the spin holds the carrier: the stall watchdog reports it once
 * (the second spin is the same call site), naming spin_for, its start
 * routine spin_worker and the COHOOK_NATIVE_THREADS hint. stdout is the same
 * both ways; the report goes to stderr.
 *
 *   stall_spin idle   a thread parked in read and main asleep for 4 s after
 *                     printing "idle": what an idle server looks like (the
 *                     runner counts context switches meanwhile).
 *   stall_spin main   the spinning thread is the only other thread: main
 *                     naps 20 ms at a time meanwhile, parked on the same
 *                     carrier, and is the one kept waiting. */
#include "common.h"

static volatile int stop_pinging;
static volatile unsigned long sink;
static int sv[2];
static int rounds, answered;

/* Not static inline: the watchdog must find it in .symtab by name. */
__attribute__((noinline)) void spin_for(int ms)
{
    double end = now_ms() + ms;
    unsigned long x = 1;
    while (now_ms() < end)
        x = mix(x);
    sink = x;
}

static void *spin_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2; i++) {
        spin_for(400);
        msleep(50);
    }
    return NULL;
}

static void *pinger(void *arg)
{
    (void)arg;
    char c = 'p';
    while (!stop_pinging) {
        rounds++;
        if (write(sv[0], &c, 1) != 1 || read(sv[0], &c, 1) != 1)
            DIE("ping");
        answered++;
        msleep(5);
    }
    shutdown(sv[0], SHUT_WR);
    return NULL;
}

static void *ponger(void *arg)
{
    (void)arg;
    char c;
    while (read(sv[1], &c, 1) == 1)
        if (write(sv[1], &c, 1) != 1)
            DIE("pong");
    return NULL;
}

int main(int argc, char **argv)
{
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        DIE("socketpair");
    if (argc > 1 && strcmp(argv[1], "main") == 0) {
        pthread_t spin = spawn(spin_worker, NULL);
        for (int i = 0; i < 10; i++)
            msleep(20);
        pthread_join(spin, NULL);
        printf("main napped 10 times beside a spinning thread\n");
        return 0;
    }
    pthread_t pong = spawn(ponger, NULL);
    if (argc > 1 && strcmp(argv[1], "idle") == 0) {
        msleep(50);
        printf("idle\n");
        msleep(4000);
        printf("woke up\n");
        return 0;
    }
    pthread_t ping = spawn(pinger, NULL);
    msleep(20);
    pthread_t spin = spawn(spin_worker, NULL);
    pthread_join(spin, NULL);
    stop_pinging = 1;
    pthread_join(ping, NULL);
    pthread_join(pong, NULL);
    printf("spun twice for 400 ms beside a ping-pong: every ping answered: %s\n", yesno(rounds == answered && rounds > 0));
    fprintf(stderr, "ping rounds: %d\n", rounds);
    return 0;
}
