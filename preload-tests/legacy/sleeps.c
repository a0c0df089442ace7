/* The sleep family: never returns early, 0 on success, EINVAL for bad
 * arguments (clock_nanosleep returns it, the others set errno), and EINTR with
 * the remaining time when a signal handler runs (SIGUSR1 from a thread).
 */
#include "common.h"

#include <pthread.h>
#include <signal.h>

static pthread_t main_thread;

static void on_usr1(int sig) { (void)sig; }

static void *interrupter(void *arg)
{
    (void)arg;
    msleep(100);
    pthread_kill(main_thread, SIGUSR1);
    return NULL;
}

static pthread_t interrupt_in_100ms(void)
{
    pthread_t t;
    pthread_create(&t, NULL, interrupter, NULL);
    return t;
}

static void lower_bound(const char *label, int ret, int err, double t0, int ms)
{
    double el = now_ms() - t0;
    printf("%s: %d%s%s elapsed>=%dms: %s elapsed<3s: %s\n", label, ret, ret ? " " : "",
           ret ? ename(err) : "", ms, yesno(el >= ms), yesno(el < 3000));
}

static struct timespec ms_ts(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    return ts;
}

static double ts_ms(struct timespec ts) { return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6; }

int main(void)
{
    main_thread = pthread_self();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* no SA_RESTART */
    sigaction(SIGUSR1, &sa, NULL);

    struct timespec ts = ms_ts(150), rem = {0, 0};
    double t0 = now_ms();
    int r = nanosleep(&ts, &rem);
    lower_bound("nanosleep 150ms", r, errno, t0, 150);

    t0 = now_ms();
    r = usleep(150000);
    lower_bound("usleep 150ms", r, errno, t0, 150);

    t0 = now_ms();
    unsigned left = sleep(1);
    lower_bound("sleep 1s", (int)left, 0, t0, 1000);

    ts = ms_ts(150);
    t0 = now_ms();
    r = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
    printf("clock_nanosleep MONOTONIC relative 150ms: %d elapsed>=150ms: %s\n", r,
           yesno(now_ms() - t0 >= 150));

    ts = ms_ts(150);
    t0 = now_ms();
    r = clock_nanosleep(CLOCK_REALTIME, 0, &ts, NULL);
    printf("clock_nanosleep REALTIME relative 150ms: %d elapsed>=150ms: %s\n", r,
           yesno(now_ms() - t0 >= 150));

    struct timespec now, deadline;
    clock_gettime(CLOCK_MONOTONIC, &now);
    deadline = now;
    deadline.tv_nsec += 150 * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL);
    struct timespec after;
    clock_gettime(CLOCK_MONOTONIC, &after);
    printf("clock_nanosleep MONOTONIC absolute +150ms: %d woke at or after the deadline: %s "
           "elapsed<3s: %s\n",
           r, yesno(ts_ms(after) >= ts_ms(deadline)), yesno(ts_ms(after) - ts_ms(now) < 3000));

    t0 = now_ms();
    r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &now, NULL);
    printf("clock_nanosleep absolute in the past: %d immediate: %s\n", r, yesno(now_ms() - t0 < 1000));
    ts = ms_ts(0);
    printf("nanosleep 0: %d\n", nanosleep(&ts, NULL));

    /* Invalid arguments. */
    ts = ms_ts(10);
    errno = 0;
    r = clock_nanosleep((clockid_t)1234, 0, &ts, NULL);
    printf("clock_nanosleep invalid clock: returns %s, errno untouched: %s\n", r ? ename(r) : "0",
           yesno(errno == 0));
    r = clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &ts, NULL);
    printf("clock_nanosleep CLOCK_THREAD_CPUTIME_ID: returns %s\n", r ? ename(r) : "0");
    ts.tv_nsec = 1000000000L;
    r = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
    printf("clock_nanosleep tv_nsec=1e9: returns %s\n", r ? ename(r) : "0");
    r = nanosleep(&ts, NULL);
    printf("nanosleep tv_nsec=1e9: %d %s\n", r, r ? ename(errno) : "");
    ts.tv_sec = -1;
    ts.tv_nsec = 0;
    r = nanosleep(&ts, NULL);
    printf("nanosleep tv_sec=-1: %d %s\n", r, r ? ename(errno) : "");

    /* Interrupted by a signal handler 100 ms into a 1 s sleep. */
    pthread_t t = interrupt_in_100ms();
    ts = ms_ts(1000);
    rem.tv_sec = rem.tv_nsec = 0;
    t0 = now_ms();
    r = nanosleep(&ts, &rem);
    int e = errno;
    double el = now_ms() - t0;
    pthread_join(t, NULL);
    printf("nanosleep 1s interrupted: %d %s, early: %s, remaining in (0.5s,1s): %s\n", r,
           r ? ename(e) : "", yesno(el < 900), yesno(ts_ms(rem) > 500 && ts_ms(rem) < 1000));

    t = interrupt_in_100ms();
    ts = ms_ts(1000);
    rem.tv_sec = rem.tv_nsec = 0;
    r = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &rem);
    pthread_join(t, NULL);
    printf("clock_nanosleep 1s interrupted: returns %s, remaining in (0.5s,1s): %s\n",
           r ? ename(r) : "0", yesno(ts_ms(rem) > 500 && ts_ms(rem) < 1000));

    t = interrupt_in_100ms();
    t0 = now_ms();
    r = usleep(1000000);
    e = errno;
    el = now_ms() - t0;
    pthread_join(t, NULL);
    printf("usleep 1s interrupted: %d %s, early: %s\n", r, r ? ename(e) : "", yesno(el < 900));

    t = interrupt_in_100ms();
    left = sleep(2);
    pthread_join(t, NULL);
    printf("sleep 2s interrupted: returns %u\n", left);
    return 0;
}
