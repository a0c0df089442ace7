/* Servers built on fork.
 *
 *   forkserver fork|prefork|inetd|daemon|atfork
 *
 * fork:    the parent accepts 20 connections and forks a child for each,
 *          which echoes until EOF and exits; a SIGCHLD handler (no
 *          SA_RESTART: accept sees EINTR) reaps them. The clients are 20
 *          threads of another forked process.
 * prefork: 4 children, each with 3 threads blocking in accept on the shared
 *          listener, serve 40 connections made by 8 client threads of the
 *          parent; then the parent ends them with SIGTERM.
 * inetd:   for each of 10 connections the parent forks a child that puts the
 *          socket on fds 0 and 1 and execs /bin/cat.
 * daemon:  prints "port N", calls daemon(1, 1) (keeps cwd and fds), and the
 *          daemon serves one request: the test connects, sends a line and
 *          gets "pong: LINE" back. The daemon is bounded by alarm(30).
 * atfork:  three pthread_atfork handler sets: prepare handlers run in reverse
 *          order, parent and child handlers in order; also from a fork in a
 *          non-main thread while other threads wait; the child has one
 *          thread, sees a mutex another thread held as locked, and can
 *          start threads of its own.
 */
#include "common.h"

#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

static int wait_status(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) != pid)
        if (errno != EINTR)
            DIE("waitpid %d", (int)pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Echo until EOF; 0 if all went well. */
static int echo_fd(int fd)
{
    char buf[8192];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0)
            return 0;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "echo: read: %s\n", ename(errno));
            return 1;
        }
        if (write_all(fd, buf, (size_t)n) != 0) {
            fprintf(stderr, "echo: write: %s\n", ename(errno));
            return 1;
        }
    }
}

/* ---- echo clients: each connection sends a payload, half-closes and
 * checks the echo ---- */

static int client_port, client_per_thread;
static int clients_ok;
static pthread_mutex_t cm = PTHREAD_MUTEX_INITIALIZER;

static int one_echo(long id)
{
    size_t len = 100 + (size_t)(id * 977) % 20000;
    unsigned char *out = malloc(len), *back = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        out[i] = (unsigned char)(id * 31 + i * 7);
    int fd = tcp_connect(client_port);
    /* payload < socket buffers: write all, then read */
    if (write_all(fd, out, len) != 0 || shutdown(fd, SHUT_WR) != 0)
        DIE("client send");
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, back + got, len + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got > len)
            break;
    }
    close(fd);
    int ok = got == len && memcmp(out, back, len) == 0;
    if (!ok)
        fprintf(stderr, "client %ld: got %zu of %zu bytes\n", id, got, len);
    free(out);
    free(back);
    return ok;
}

static void *client_thread(void *arg)
{
    long t = (long)arg;
    for (int k = 0; k < client_per_thread; k++) {
        int ok = one_echo(t * client_per_thread + k);
        pthread_mutex_lock(&cm);
        clients_ok += ok;
        pthread_mutex_unlock(&cm);
    }
    return NULL;
}

static int run_clients(int port, int threads, int per_thread)
{
    client_port = port;
    client_per_thread = per_thread;
    clients_ok = 0;
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    for (long i = 0; i < threads; i++)
        t[i] = spawn(client_thread, (void *)i);
    for (int i = 0; i < threads; i++)
        join_long(t[i]);
    free(t);
    return clients_ok;
}

/* A client process (forked now, before the server runs): prints its result
 * and exits 0 iff every echo was exact. */
static pid_t client_process(int lfd, int port, int threads, int per_thread)
{
    pid_t pid = fork();
    if (pid < 0)
        DIE("fork");
    if (pid == 0) {
        self_alarm(60); /* alarms are not inherited across fork */
        close(lfd);
        int ok = run_clients(port, threads, per_thread);
        printf("client process: %d of %d echoes exact\n", ok, threads * per_thread);
        exit(ok == threads * per_thread ? 0 : 1);
    }
    return pid;
}

/* ---- fork ---- */

static volatile sig_atomic_t reaped, reaped_bad, client_done, client_status;
static volatile pid_t client_pid;

static void on_sigchld(int sig)
{
    (void)sig;
    int saved = errno, st;
    pid_t p;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (p == client_pid) {
            client_done = 1;
            client_status = code;
        } else {
            reaped++;
            if (code != 0)
                reaped_bad++;
        }
    }
    errno = saved;
}

static void fork_mode(void)
{
    const int N = 20;
    int port;
    int lfd = tcp_listener(&port, 64);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &old); /* client_pid set before the handler can run */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigchld; /* no SA_RESTART */
    sigaction(SIGCHLD, &sa, NULL);
    client_pid = client_process(lfd, port, N, 1);
    sigprocmask(SIG_SETMASK, &old, NULL);
    int accepted = 0, eintr = 0;
    while (accepted < N) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR) {
                eintr++;
                continue;
            }
            DIE("accept");
        }
        pid_t pid = fork();
        if (pid < 0)
            DIE("fork");
        if (pid == 0) {
            self_alarm(60);
            close(lfd);
            int rc = echo_fd(fd);
            close(fd);
            exit(rc);
        }
        close(fd);
        accepted++;
    }
    double t0 = now_ms();
    while ((reaped < N || !client_done) && now_ms() - t0 < 20000)
        msleep(10);
    fprintf(stderr, "accept saw EINTR %d times\n", eintr);
    printf("fork per connection: accepted %d, children reaped by the SIGCHLD handler %d, all exit 0: %s, "
           "client exit %d\n",
           accepted, (int)reaped, yesno(reaped_bad == 0), client_done ? (int)client_status : -1);
}

/* ---- prefork ---- */

static int *served_shared;
static int pre_lfd;

static void *pre_worker(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(pre_lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            DIE("prefork accept");
        }
        int rc = echo_fd(fd);
        close(fd);
        if (rc == 0)
            __atomic_add_fetch(served_shared, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static void prefork_mode(void)
{
    const int CHILDREN = 4, THREADS = 3;
    int port;
    pre_lfd = tcp_listener(&port, 128);
    served_shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (served_shared == MAP_FAILED)
        DIE("mmap");
    pid_t kids[4];
    for (int c = 0; c < CHILDREN; c++) {
        kids[c] = fork();
        if (kids[c] < 0)
            DIE("fork");
        if (kids[c] == 0) {
            self_alarm(60); /* ends us should the parent die before its SIGTERM */
            pthread_t t[3];
            for (int i = 0; i < THREADS; i++)
                t[i] = spawn(pre_worker, NULL);
            for (int i = 0; i < THREADS; i++)
                join_long(t[i]); /* never: SIGTERM ends us */
            _exit(1);
        }
    }
    int ok = run_clients(port, 8, 5);
    double t0 = now_ms();
    while (__atomic_load_n(served_shared, __ATOMIC_SEQ_CST) < 40 && now_ms() - t0 < 10000)
        msleep(10);
    int served = __atomic_load_n(served_shared, __ATOMIC_SEQ_CST);
    int by_term = 0;
    for (int c = 0; c < CHILDREN; c++) {
        kill(kids[c], SIGTERM);
        by_term += wait_status(kids[c]) == 128 + SIGTERM;
    }
    printf("prefork: %d children x %d threads in accept: %d of 40 echoes exact, served %d, children ended by "
           "SIGTERM: %d\n",
           CHILDREN, THREADS, ok, served, by_term);
}

/* ---- inetd ---- */

static void inetd_mode(void)
{
    const int N = 10;
    int port;
    int lfd = tcp_listener(&port, 64);
    pid_t client = client_process(lfd, port, N, 1);
    pid_t kids[10];
    for (int i = 0; i < N; i++) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            DIE("accept");
        kids[i] = fork();
        if (kids[i] < 0)
            DIE("fork");
        if (kids[i] == 0) {
            if (dup2(fd, 0) != 0 || dup2(fd, 1) != 1)
                DIE("dup2");
            close(fd);
            close(lfd);
            execl("/bin/cat", "cat", (char *)NULL);
            DIE("exec cat");
        }
        close(fd);
    }
    int good = 0;
    for (int i = 0; i < N; i++)
        good += wait_status(kids[i]) == 0;
    int cs = wait_status(client);
    printf("inetd-style: %d connections served by exec'd cat, cat exit 0: %d, client exit %d\n", N, good, cs);
}

/* ---- daemon ---- */

static void daemon_mode(void)
{
    int port;
    int lfd = tcp_listener(&port, 8);
    pid_t orig = getpid();
    printf("port %d\n", port);
    if (daemon(1, 1) != 0)
        DIE("daemon");
    self_alarm(30); /* outside the runner's process group: must end by itself */
    double t0 = now_ms();
    while (getppid() == orig && now_ms() - t0 < 5000) /* daemon()'s parent _exits */
        msleep(5);
    printf("daemon: a new process: %s, session leader: %s, parent gone: %s\n", yesno(getpid() != orig),
           yesno(getsid(0) == getpid()), yesno(getppid() != orig));
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        DIE("daemon accept");
    char buf[128];
    size_t n = 0;
    while (n < sizeof buf - 1) {
        ssize_t r = read(fd, buf + n, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || buf[n] == '\n')
            break;
        n++;
    }
    buf[n] = 0;
    char rep[160];
    int len = snprintf(rep, sizeof rep, "pong: %s\n", buf);
    write_all(fd, rep, (size_t)len);
    close(fd);
    printf("daemon served: '%s'\n", buf);
    exit(0);
}

/* ---- atfork ---- */

static char trace[256];
static void rec(const char *s)
{
    strncat(trace, s, sizeof trace - strlen(trace) - 1);
}
static void prep_a(void) { rec("prepare:A "); }
static void prep_b(void) { rec("prepare:B "); }
static void prep_c(void) { rec("prepare:C "); }
static void par_a(void) { rec("parent:A "); }
static void par_b(void) { rec("parent:B "); }
static void par_c(void) { rec("parent:C "); }
static void child_a(void) { rec("child:A "); }
static void child_b(void) { rec("child:B "); }
static void child_c(void) { rec("child:C "); }

static int count_tasks(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static pthread_mutex_t held_by_other = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t wm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wc = PTHREAD_COND_INITIALIZER;
static int wake_all, holders_ready;
static int apfd[2];

static void *ret7(void *arg)
{
    (void)arg;
    return (void *)7L;
}

static void *holder(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&held_by_other);
    pthread_mutex_lock(&wm);
    holders_ready++;
    pthread_cond_broadcast(&wc);
    while (!wake_all)
        pthread_cond_wait(&wc, &wm);
    pthread_mutex_unlock(&wm);
    pthread_mutex_unlock(&held_by_other);
    return NULL;
}

static void *reader_blocked(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&wm);
    holders_ready++;
    pthread_cond_broadcast(&wc);
    pthread_mutex_unlock(&wm);
    char c;
    read(apfd[0], &c, 1);
    return NULL;
}

/* fork and report both sides' traces; the child reports first. */
static void fork_traced(const char *where)
{
    trace[0] = 0;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        DIE("fork");
    if (pid == 0) {
        int tasks = count_tasks();
        int tl = pthread_mutex_trylock(&held_by_other);
        long v = join_long(spawn(ret7, NULL));
        printf("%s, child: %s| threads: %d, mutex another thread held: trylock %s, a new thread: %ld\n", where,
               trace, tasks, rcname(tl), v);
        exit(0);
    }
    int st = wait_status(pid);
    printf("%s, parent: %s| child exit %d\n", where, trace, st);
}

static void *fork_from_thread(void *arg)
{
    (void)arg;
    fork_traced("fork in a thread");
    return NULL;
}

static void atfork_mode(void)
{
    pthread_atfork(prep_a, par_a, child_a);
    pthread_atfork(prep_b, par_b, child_b);
    pthread_atfork(prep_c, par_c, child_c);
    if (pipe(apfd) != 0)
        DIE("pipe");
    pthread_t h = spawn(holder, NULL), r = spawn(reader_blocked, NULL);
    pthread_mutex_lock(&wm);
    while (holders_ready < 2)
        pthread_cond_wait(&wc, &wm);
    pthread_mutex_unlock(&wm);
    msleep(50);
    fork_traced("fork in main");
    join_long(spawn(fork_from_thread, NULL));
    pthread_mutex_lock(&wm);
    wake_all = 1;
    pthread_cond_broadcast(&wc);
    pthread_mutex_unlock(&wm);
    write_all(apfd[1], "x", 1);
    join_long(h);
    join_long(r);
}

int main(int argc, char **argv)
{
    self_alarm(60);
    if (argc != 2) {
        fprintf(stderr, "usage: forkserver fork|prefork|inetd|daemon|atfork\n");
        return 2;
    }
    const char *m = argv[1];
    if (strcmp(m, "fork") == 0)
        fork_mode();
    else if (strcmp(m, "prefork") == 0)
        prefork_mode();
    else if (strcmp(m, "inetd") == 0)
        inetd_mode();
    else if (strcmp(m, "daemon") == 0)
        daemon_mode();
    else if (strcmp(m, "atfork") == 0)
        atfork_mode();
    else {
        fprintf(stderr, "forkserver: unknown mode %s\n", m);
        return 2;
    }
    return 0;
}
