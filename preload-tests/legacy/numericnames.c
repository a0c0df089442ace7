/* Numeric-only name conversions start no thread.
 *
 *   numericnames
 *
 * getnameinfo(NI_NUMERICHOST|NI_NUMERICSERV) and getaddrinfo(AI_NUMERICHOST|
 * AI_NUMERICSERV) consult no name server, so nothing need run them off the
 * calling thread: natively and under the shim the process's OS thread count
 * (/proc/self/task) must not change across them -- in the process and in a
 * forked child, the way a fork-per-connection server (busybox httpd) formats
 * each peer's address in the child. Before each count the process sleeps a
 * millisecond, so anything the first interposed call sets up is already
 * there. */
#define _GNU_SOURCE 1
#include <netdb.h>
#include <sys/wait.h>

#include "common.h"

static int os_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        DIE("opendir /proc/self/task");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Both conversions of 127.0.0.1:8080; prints what they return. */
static void convert(const char *who)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(8080)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    int r = getnameinfo((struct sockaddr *)&sa, sizeof sa, host, sizeof host, serv, sizeof serv,
                        NI_NUMERICHOST | NI_NUMERICSERV);
    printf("%s: getnameinfo(numeric): %d %s %s\n", who, r, r ? "-" : host, r ? "-" : serv);
    r = getnameinfo((struct sockaddr *)&sa, sizeof sa, host, sizeof host, NULL, 0, NI_NUMERICHOST);
    printf("%s: getnameinfo(numeric host, no service): %d %s\n", who, r, r ? "-" : host);

    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    r = getaddrinfo("127.0.0.1", "8080", &hints, &res);
    if (r == 0) {
        struct sockaddr_in *in = (struct sockaddr_in *)res->ai_addr;
        printf("%s: getaddrinfo(numeric): 0 %s %d\n", who, inet_ntoa(in->sin_addr), ntohs(in->sin_port));
        freeaddrinfo(res);
    } else {
        printf("%s: getaddrinfo(numeric): %d\n", who, r);
    }
    r = getaddrinfo("not-an-address", "8080", &hints, &res);
    printf("%s: getaddrinfo(numeric, a name): %s\n", who, r == EAI_NONAME ? "EAI_NONAME" : "other");
}

static void counted(const char *who)
{
    msleep(1);
    int before = os_threads();
    convert(who);
    msleep(1);
    int after = os_threads();
    fprintf(stderr, "%s: %d OS threads before, %d after\n", who, before, after);
    printf("%s: new OS threads: %d\n", who, after - before);
}

int main(void)
{
    counted("process");
    fflush(stdout);
    pid_t child = fork();
    if (child < 0)
        DIE("fork");
    if (child == 0) {
        counted("forked child");
        _exit(0);
    }
    int st;
    if (waitpid(child, &st, 0) != child)
        DIE("waitpid");
    printf("child exit status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return 0;
}
