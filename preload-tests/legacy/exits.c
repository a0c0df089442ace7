/* How a multi-threaded process ends.
 *
 *   exits exit-in-thread|main-pthread-exit|main-returns|abort-in-thread|segv-in-thread
 *
 * exit-in-thread:    while main is blocked in read and other threads wait in
 *                    pthread_cond_wait, pthread_mutex_lock, sem_wait, accept
 *                    and nanosleep, a thread calls exit(7): the atexit
 *                    handlers and destructors run exactly once, the status is 7.
 * main-pthread-exit: main calls pthread_exit; the process lives until its last
 *                    thread ends (that thread prints afterwards), then the
 *                    atexit handler runs and the status is 0.
 * main-returns:      main returns 3 while threads are blocked in read,
 *                    accept, cond_wait, sem_wait and a 100 s nanosleep: the
 *                    process ends at once with status 3.
 * abort-in-thread:   a thread calls abort(): death by SIGABRT.
 * segv-in-thread:    a thread dereferences NULL: death by SIGSEGV.
 */
#include "common.h"

#include <semaphore.h>
#include <signal.h>

static int atexit_calls;
static pthread_t exiting_thread;
static int exiting_thread_set;

static void on_exit_handler(void)
{
    atexit_calls++;
    if (exiting_thread_set)
        printf("atexit handler: call %d, in the thread that called exit: %s\n", atexit_calls,
               yesno(pthread_equal(pthread_self(), exiting_thread) != 0));
    else
        printf("atexit handler: call %d\n", atexit_calls);
}

static int destructor_calls;
__attribute__((destructor)) static void on_unload(void)
{
    destructor_calls++;
    printf("destructor: call %d\n", destructor_calls);
}

/* ---- blockers ---- */

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER, held = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static sem_t s;
static int pfd[2], lfd;
static int blocked;

static void arrived(void)
{
    pthread_mutex_lock(&m);
    blocked++;
    pthread_cond_broadcast(&c);
    pthread_mutex_unlock(&m);
}

static void *in_cond_wait(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&m);
    blocked++;
    pthread_cond_broadcast(&c);
    for (;;)
        pthread_cond_wait(&c, &m);
    return NULL;
}
static void *in_mutex_lock(void *arg)
{
    (void)arg;
    arrived();
    pthread_mutex_lock(&held); /* main holds it forever */
    return NULL;
}
static void *in_sem_wait(void *arg)
{
    (void)arg;
    arrived();
    sem_wait(&s);
    return NULL;
}
static void *in_read(void *arg)
{
    (void)arg;
    arrived();
    char ch;
    read(pfd[0], &ch, 1);
    return NULL;
}
static void *in_accept(void *arg)
{
    (void)arg;
    arrived();
    accept(lfd, NULL, NULL);
    return NULL;
}
static void *in_sleep(void *arg)
{
    (void)arg;
    arrived();
    struct timespec ts = {100, 0};
    nanosleep(&ts, NULL);
    return NULL;
}

/* Starts the blockers and waits until they are (about to be) blocked. */
static void start_blockers(int with_mutex)
{
    int port;
    lfd = tcp_listener(&port, 8);
    if (pipe(pfd) != 0)
        DIE("pipe");
    sem_init(&s, 0, 0);
    int n = 0;
    if (with_mutex) {
        pthread_mutex_lock(&held);
        spawn(in_mutex_lock, NULL);
        n++;
    }
    void *(*fns[])(void *) = {in_cond_wait, in_sem_wait, in_read, in_read, in_accept, in_sleep};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++, n++)
        spawn(fns[i], NULL);
    pthread_mutex_lock(&m);
    while (blocked < n)
        pthread_cond_wait(&c, &m);
    pthread_mutex_unlock(&m);
    msleep(100); /* into their calls */
    printf("threads blocked: %d\n", n);
}

/* ---- modes ---- */

static void *exit_later(void *arg)
{
    (void)arg;
    msleep(100);
    exiting_thread = pthread_self();
    exiting_thread_set = 1;
    printf("thread calls exit(7)\n");
    exit(7);
}

static void *print_later(void *arg)
{
    (void)arg;
    msleep(200);
    printf("thread prints after main's pthread_exit\n");
    return NULL;
}

static void *abort_later(void *arg)
{
    (void)arg;
    msleep(50);
    printf("thread calls abort()\n");
    abort();
}

static void *segv_later(void *arg)
{
    msleep(50);
    printf("thread dereferences NULL\n");
    return (void *)(long)*(volatile int *)arg;
}

int main(int argc, char **argv)
{
    self_alarm(60);
    if (argc != 2) {
        fprintf(stderr, "usage: exits MODE\n");
        return 2;
    }
    atexit(on_exit_handler);
    const char *mode = argv[1];
    if (strcmp(mode, "exit-in-thread") == 0) {
        start_blockers(1);
        spawn(exit_later, NULL);
        printf("main blocks in read\n");
        char ch;
        read(pfd[0], &ch, 1);
        printf("main's read returned: should not happen\n");
        return 1;
    }
    if (strcmp(mode, "main-pthread-exit") == 0) {
        spawn(print_later, NULL);
        printf("main calls pthread_exit\n");
        pthread_exit(NULL);
    }
    if (strcmp(mode, "main-returns") == 0) {
        start_blockers(0);
        printf("main returns 3\n");
        return 3;
    }
    if (strcmp(mode, "abort-in-thread") == 0) {
        signal(SIGABRT, SIG_DFL);
        start_blockers(0);
        spawn(abort_later, NULL);
        msleep(10000);
        printf("still alive: should not happen\n");
        return 1;
    }
    if (strcmp(mode, "segv-in-thread") == 0) {
        start_blockers(0);
        spawn(segv_later, NULL);
        msleep(10000);
        printf("still alive: should not happen\n");
        return 1;
    }
    fprintf(stderr, "exits: unknown mode %s\n", mode);
    return 2;
}
