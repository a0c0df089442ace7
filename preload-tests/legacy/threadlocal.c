/* State that belongs to each thread: __thread variables, errno, signals
 * aimed at one thread, its signal mask, its kernel thread id.
 *
 *   threadlocal [tls|errno|kill|sigmask|gettid]...    (default: all)
 *
 * tls:     8 threads each count their own __thread counter (initialised
 *          from the TLS image) and keep their own __thread buffer across
 *          sched_yield, nanosleep, a contended mutex and a blocking read.
 * errno:   a thread's errno survives calls that make it wait (a contended
 *          pthread_mutex_lock, pthread_cond_wait, nanosleep, a read that
 *          waits) while another thread sets errno to something else.
 * kill:    pthread_kill(t, SIGUSR1) interrupts t's blocking read (EINTR) and
 *          the handler runs in t; pthread_kill(t, 0) is 0.
 * sigmask: a thread that blocks SIGUSR2 and gets it via pthread_kill sees it
 *          pending and takes it with sigwait; the other threads' masks are
 *          untouched.
 * gettid:  8 live threads have distinct gettid() values, none equal to
 *          getpid(); main's is getpid().
 */
#include "common.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>

#define T 8

/* ---- tls ---- */

static __thread int counter = 5;
static __thread char name[32];
static __thread int *counter_addr;
static pthread_mutex_t tm = PTHREAD_MUTEX_INITIALIZER;
static int tls_ok, tls_distinct_addr;
static int *addrs[T];
static int pfd[2];

static void *tls_worker(void *arg)
{
    long i = (long)arg;
    int start_ok = counter == 5;
    snprintf(name, sizeof name, "thread %ld", i);
    counter_addr = &counter;
    addrs[i] = &counter;
    for (int k = 0; k < 1000; k++) {
        counter++;
        if (k % 100 == 0)
            sched_yield();
        if (k % 250 == 0)
            msleep(1);
        if (k % 333 == 0) {
            pthread_mutex_lock(&tm);
            sched_yield();
            pthread_mutex_unlock(&tm);
        }
    }
    char c;
    if (read(pfd[0], &c, 1) != 1) /* main writes T bytes 50 ms later */
        DIE("read");
    char want[32];
    snprintf(want, sizeof want, "thread %ld", i);
    int ok = start_ok && counter == 1005 && strcmp(name, want) == 0 && counter_addr == &counter;
    if (!ok)
        fprintf(stderr, "thread %ld: started at 5: %d, counter %d, name '%s'\n", i, start_ok, counter, name);
    pthread_mutex_lock(&tm);
    tls_ok += ok;
    pthread_mutex_unlock(&tm);
    return NULL;
}

static void tls(void)
{
    counter = 100; /* main's copy: not what new threads start from */
    if (pipe(pfd) != 0)
        DIE("pipe");
    pthread_t t[T];
    for (long i = 0; i < T; i++)
        t[i] = spawn(tls_worker, (void *)i);
    msleep(50);
    char bytes[T];
    memset(bytes, 'x', sizeof bytes);
    write_all(pfd[1], bytes, sizeof bytes);
    for (int i = 0; i < T; i++)
        join_long(t[i]);
    tls_distinct_addr = 1;
    for (int i = 0; i < T; i++)
        for (int j = 0; j < i; j++)
            tls_distinct_addr &= addrs[i] != addrs[j];
    printf("__thread: %d of %d threads started at 5, counted to 1005 and kept their buffer; addresses "
           "distinct: %s; main's copy still %d\n",
           tls_ok, T, yesno(tls_distinct_addr), counter);
    close(pfd[0]);
    close(pfd[1]);
}

/* ---- errno ---- */

static pthread_mutex_t em = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ec = PTHREAD_COND_INITIALIZER;
static int stage;
static volatile int stop_clobber;

/* Keeps setting its own errno to ENOENT, waiting in between. */
static void *clobberer(void *arg)
{
    (void)arg;
    while (!stop_clobber) {
        if (open("/nonexistent/cohook", O_RDONLY) >= 0)
            DIE("open succeeded");
        sched_yield();
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        if (open("/nonexistent/cohook", O_RDONLY) >= 0)
            DIE("open succeeded");
    }
    return NULL;
}

static void set_ebadf(void)
{
    if (read(-1, NULL, 0) != -1 || errno != EBADF)
        DIE("read(-1) did not fail with EBADF");
}

static void *errno_checker(void *arg)
{
    int *res = arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        DIE("socketpair");

    /* 1. contended mutex: main holds em for 100 ms */
    set_ebadf();
    pthread_mutex_lock(&em);
    res[0] = errno == EBADF;
    /* 2. cond wait: main signals after 50 ms */
    stage = 1;
    pthread_cond_signal(&ec);
    set_ebadf();
    while (stage != 2)
        pthread_cond_wait(&ec, &em);
    res[1] = errno == EBADF;
    pthread_mutex_unlock(&em);
    /* 3. nanosleep 50 ms */
    set_ebadf();
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    res[2] = errno == EBADF;
    /* 4. a read that waits 50 ms for its data */
    struct late_write w = {sv[1], 50, "x"};
    pthread_t lw = write_later(&w);
    set_ebadf();
    char c;
    if (read(sv[0], &c, 1) != 1)
        DIE("read");
    res[3] = errno == EBADF;
    join_long(lw);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void errno_test(void)
{
    int res[4] = {0};
    pthread_t cl[3];
    for (int i = 0; i < 3; i++)
        cl[i] = spawn(clobberer, NULL);
    pthread_mutex_lock(&em);
    pthread_t t = spawn(errno_checker, res);
    msleep(100);
    pthread_mutex_unlock(&em);
    pthread_mutex_lock(&em);
    while (stage != 1)
        pthread_cond_wait(&ec, &em);
    pthread_mutex_unlock(&em);
    msleep(50);
    pthread_mutex_lock(&em);
    stage = 2;
    pthread_cond_signal(&ec);
    pthread_mutex_unlock(&em);
    join_long(t);
    stop_clobber = 1;
    for (int i = 0; i < 3; i++)
        join_long(cl[i]);
    printf("errno EBADF kept across: contended mutex_lock %s, cond_wait %s, nanosleep %s, waiting read %s\n",
           yesno(res[0]), yesno(res[1]), yesno(res[2]), yesno(res[3]));
}

/* ---- kill ---- */

static volatile pthread_t target;
static volatile sig_atomic_t handler_in_target, handler_runs;
static volatile int target_reading;

static void on_usr1(int sig)
{
    (void)sig;
    handler_runs++;
    handler_in_target = pthread_equal(pthread_self(), (pthread_t)target) != 0;
}

struct reader_arg {
    int fd, is_target;
};
static void *blocked_reader(void *arg)
{
    struct reader_arg *a = arg;
    int fd = a->fd;
    if (a->is_target)
        target_reading = 1;
    char c;
    ssize_t n = read(fd, &c, 1);
    return (void *)(n < 0 ? -(long)errno : n);
}

static void kill_test(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* no SA_RESTART: the read fails with EINTR */
    sigaction(SIGUSR1, &sa, NULL);
    int p[2];
    if (pipe(p) != 0)
        DIE("pipe");
    pthread_t others[3];
    struct reader_arg bystander = {p[0], 0}, tgt = {p[0], 1};
    for (int i = 0; i < 3; i++) /* bystanders blocked the same way */
        others[i] = spawn(blocked_reader, &bystander);
    target = spawn(blocked_reader, &tgt);
    while (!target_reading)
        msleep(5);
    msleep(50); /* into its read */
    int k0 = pthread_kill((pthread_t)target, 0);
    int k = pthread_kill((pthread_t)target, SIGUSR1);
    /* Should it have been signalled before its read began, signal again. */
    void *v = NULL;
    for (int tries = 0; tries < 10; tries++) {
        struct timespec d = deadline_in(CLOCK_REALTIME, 500);
        if (pthread_timedjoin_np((pthread_t)target, &v, &d) == 0)
            break;
        pthread_kill((pthread_t)target, SIGUSR1);
    }
    long r = (long)v;
    printf("pthread_kill(t, 0): %s, pthread_kill(t, SIGUSR1): %s, t's read: %s, handler ran: %s, in t: %s\n",
           rcname(k0), rcname(k), r < 0 ? ename((int)-r) : "data?", yesno(handler_runs > 0),
           yesno(handler_in_target));
    write_all(p[1], "abc", 3);
    int got = 0;
    for (int i = 0; i < 3; i++)
        got += join_long(others[i]) == 1;
    printf("the other readers kept waiting and got their byte: %d of 3\n", got);
    close(p[0]);
    close(p[1]);
}

/* ---- sigmask ---- */

static volatile int masked_ready, sent;
static void *masked(void *arg)
{
    (void)arg;
    sigset_t s, pend;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    masked_ready = 1;
    while (!sent) /* main sends SIGUSR2 meanwhile */
        msleep(5);
    sigpending(&pend);
    int pending = sigismember(&pend, SIGUSR2);
    int sig = 0;
    int rc = sigwait(&s, &sig);
    return (void *)(long)((pending ? 0x100 : 0) | (rc == 0 && sig == SIGUSR2 ? 1 : 0));
}

static void sigmask_test(void)
{
    pthread_t t = spawn(masked, NULL);
    while (!masked_ready)
        msleep(5);
    sigset_t mine;
    pthread_sigmask(SIG_SETMASK, NULL, &mine);
    int k = pthread_kill(t, SIGUSR2); /* default action would kill the process */
    sent = 1;
    long r = join_long(t);
    printf("pthread_kill(t, SIGUSR2) with t blocking it: %s, pending in t: %s, sigwait got it: %s\n", rcname(k),
           yesno(r & 0x100), yesno(r & 1));
    sigset_t after;
    pthread_sigmask(SIG_SETMASK, NULL, &after);
    printf("main's mask unchanged, SIGUSR2 not blocked in main: %s\n",
           yesno(!sigismember(&after, SIGUSR2) && sigismember(&mine, SIGUSR2) == sigismember(&after, SIGUSR2)));
}

/* ---- gettid ---- */

static pid_t tids[T];
static volatile int tid_hold = 1;
static void *tid_worker(void *arg)
{
    long i = (long)arg;
    tids[i] = gettid();
    while (tid_hold)
        msleep(5);
    return NULL;
}

static void gettid_test(void)
{
    pthread_t t[T];
    for (long i = 0; i < T; i++)
        t[i] = spawn(tid_worker, (void *)i);
    double t0 = now_ms();
    for (int i = 0; i < T; i++)
        while (tids[i] == 0 && now_ms() - t0 < 10000)
            msleep(5);
    int distinct = 1, not_pid = 1;
    for (int i = 0; i < T; i++) {
        not_pid &= tids[i] != getpid();
        for (int j = 0; j < i; j++)
            distinct &= tids[i] != tids[j];
    }
    tid_hold = 0;
    for (int i = 0; i < T; i++)
        join_long(t[i]);
    printf("gettid: %d live threads distinct: %s, none equal to getpid: %s, main's equals getpid: %s, "
           "syscall agrees: %s\n",
           T, yesno(distinct), yesno(not_pid), yesno(gettid() == getpid()),
           yesno(syscall(SYS_gettid) == gettid()));
}

int main(int argc, char **argv)
{
    self_alarm(120);
    const char *all[] = {"tls", "errno", "kill", "sigmask", "gettid"};
    int n = argc > 1 ? argc - 1 : 5;
    for (int i = 0; i < n; i++) {
        const char *mode = argc > 1 ? argv[i + 1] : all[i];
        printf("== %s\n", mode);
        if (strcmp(mode, "tls") == 0)
            tls();
        else if (strcmp(mode, "errno") == 0)
            errno_test();
        else if (strcmp(mode, "kill") == 0)
            kill_test();
        else if (strcmp(mode, "sigmask") == 0)
            sigmask_test();
        else if (strcmp(mode, "gettid") == 0)
            gettid_test();
        else {
            fprintf(stderr, "usage: threadlocal [tls|errno|kill|sigmask|gettid]...\n");
            return 2;
        }
    }
    return 0;
}
