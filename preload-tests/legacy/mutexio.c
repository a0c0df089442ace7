/* A global mutex held across a blocking read.
 *
 *   mutexio threads|process
 *
 * The server accepts 20 connections, one thread each. For each of 3
 * requests on its connection, a connection thread takes ONE global mutex,
 * reads the request from its socket while holding it (the client sends it
 * 20 ms late), replies and unlocks. So every other connection thread waits
 * for the mutex while the holder waits for its client: under a coroutine
 * runtime the holder must park in read without stopping the clients.
 * The 20 clients are threads of this program ("threads") or threads of a
 * forked child process ("process"). All 60 requests are served, in bounded
 * time (about 60 x 20 ms when serialised).
 */
#include "common.h"

#include <sys/wait.h>

#define CONNS 20
#define REQS 3

static pthread_mutex_t big_lock = PTHREAD_MUTEX_INITIALIZER;
static int served, bad_requests, port;
static int in_section; /* threads inside the locked section: must stay <= 1 */
static int overlap;

/* Read one '\n'-terminated line (byte by byte is fine: tiny requests). */
static ssize_t read_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -1 : (ssize_t)n;
        if (buf[n++] == '\n')
            break;
    }
    buf[n] = 0;
    return (ssize_t)n;
}

static void *conn_thread(void *arg)
{
    int fd = (int)(long)arg;
    for (int k = 0; k < REQS; k++) {
        pthread_mutex_lock(&big_lock);
        if (++in_section > 1)
            overlap++;
        char req[64], rep[80];
        ssize_t n = read_line(fd, req, sizeof req);
        int id = -1, seq = -1;
        if (n <= 0 || sscanf(req, "request %d %d", &id, &seq) != 2) {
            fprintf(stderr, "server: bad request (%zd bytes) '%s'\n", n, n > 0 ? req : "");
            bad_requests++;
            in_section--;
            pthread_mutex_unlock(&big_lock);
            break;
        }
        int len = snprintf(rep, sizeof rep, "reply %d %d\n", id, seq);
        if (write_all(fd, rep, (size_t)len) != 0)
            fprintf(stderr, "server: write: %s\n", ename(errno));
        served++;
        in_section--;
        pthread_mutex_unlock(&big_lock);
    }
    close(fd);
    return NULL;
}

static int client_ok[CONNS];

static void *client(void *arg)
{
    long i = (long)arg;
    int fd = tcp_connect(port);
    int ok = 1;
    for (int k = 0; k < REQS; k++) {
        msleep(20); /* late: the server thread holds the mutex meanwhile */
        char req[64], rep[80], want[80];
        int len = snprintf(req, sizeof req, "request %ld %d\n", i, k);
        if (write_all(fd, req, (size_t)len) != 0)
            DIE("client write");
        snprintf(want, sizeof want, "reply %ld %d\n", i, k);
        ssize_t n = read_line(fd, rep, sizeof rep);
        if (n <= 0 || strcmp(rep, want) != 0) {
            fprintf(stderr, "client %ld: request %d got '%s'\n", i, k, n > 0 ? rep : "");
            ok = 0;
            break;
        }
    }
    close(fd);
    client_ok[i] = ok;
    return NULL;
}

/* All clients; returns how many got every reply right. */
static int run_clients(void)
{
    pthread_t t[CONNS];
    for (long i = 0; i < CONNS; i++)
        t[i] = spawn(client, (void *)i);
    int ok = 0;
    for (int i = 0; i < CONNS; i++) {
        join_long(t[i]);
        ok += client_ok[i];
    }
    return ok;
}

static void *clients_thread(void *arg)
{
    (void)arg;
    return (void *)(long)run_clients();
}

int main(int argc, char **argv)
{
    self_alarm(120);
    int in_process = argc == 2 && strcmp(argv[1], "process") == 0;
    if (argc != 2 || (!in_process && strcmp(argv[1], "threads") != 0)) {
        fprintf(stderr, "usage: mutexio threads|process\n");
        return 2;
    }
    int lfd = tcp_listener(&port, 64);
    double t0 = now_ms();
    pid_t child = -1;
    pthread_t clients = 0;
    if (in_process) {
        child = fork();
        if (child < 0)
            DIE("fork");
        if (child == 0) {
            self_alarm(60); /* alarms are not inherited across fork */
            close(lfd);
            int ok = run_clients();
            printf("client process: %d of %d connections got every reply\n", ok, CONNS);
            exit(ok == CONNS ? 0 : 1);
        }
    } else {
        clients = spawn(clients_thread, NULL);
    }
    pthread_t t[CONNS];
    for (int i = 0; i < CONNS; i++) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            DIE("accept");
        t[i] = spawn(conn_thread, (void *)(long)fd);
    }
    for (int i = 0; i < CONNS; i++)
        join_long(t[i]);
    if (in_process) {
        int st;
        while (waitpid(child, &st, 0) != child)
            if (errno != EINTR)
                DIE("waitpid");
        printf("client process exit: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    } else {
        int ok = (int)join_long(clients);
        printf("client threads: %d of %d connections got every reply\n", ok, CONNS);
    }
    double el = now_ms() - t0;
    printf("served %d requests on %d connections, bad %d, two threads inside the lock at once: %s, "
           "slower than 30s: %s\n",
           served, CONNS, bad_requests, yesno(overlap != 0), yesno(el >= 30000));
    fprintf(stderr, "elapsed %.0f ms\n", el);
    return served == CONNS * REQS ? 0 : 1;
}
