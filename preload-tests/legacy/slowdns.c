/* A lookup through a slow name server must not stop the other threads.
 *
 *   slowdns
 *
 * Runs in private mount and network namespaces (so it needs root, or prints
 * "SKIP: <why>" and exits 0): brings up lo, bind-mounts a resolv.conf that
 * names 127.0.0.1, and forks a tiny DNS server there that answers A queries
 * for slow.test (10.1.2.3) 300 ms after they arrive. Meanwhile two threads
 * play ping-pong over a socketpair every 2 ms; main resolves the name with
 * getaddrinfo, then gethostbyname, and each time the longest gap between
 * ping-pong rounds must stay under 150 ms. Also getnameinfo on a numeric
 * address. Then libc's resolver calls on the program's own resolver state:
 * res_query & co. on _res (with a search list the program set after
 * res_init), their res_n* forms on a state of its own, and the names
 * programs linked before glibc 2.34 call (__res_query@GLIBC_2.2.5...).
 * Namespaces before any thread: unshare(CLONE_NEWNS) refuses a
 * multi-threaded process. */
#define _GNU_SOURCE 1
#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <resolv.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "common.h"

/* Answers every query after 300 ms: A 10.1.2.3 for slow.test, NXDOMAIN
 * for anything else. */
static void dns_server(int s)
{
    unsigned char q[512], a[600];
    for (;;) {
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(s, q, sizeof q, 0, (struct sockaddr *)&from, &fl);
        if (n < 12)
            continue;
        msleep(300);
        /* the question: name labels from offset 12, then QTYPE, QCLASS */
        size_t p = 12;
        char name[256];
        size_t nl = 0;
        while (p < (size_t)n && q[p] && nl < 200) {
            unsigned len = q[p++];
            if (nl)
                name[nl++] = '.';
            memcpy(name + nl, q + p, len);
            nl += len;
            p += len;
        }
        name[nl] = 0;
        p++; /* the root label */
        unsigned qtype = (unsigned)(q[p] << 8 | q[p + 1]);
        size_t qend = p + 4;
        memcpy(a, q, qend);
        a[2] = 0x81; /* response, recursion desired */
        a[3] = 0x80; /* recursion available, NOERROR */
        a[6] = a[7] = a[8] = a[9] = a[10] = a[11] = 0;
        size_t len = qend;
        if (strcmp(name, "slow.test") == 0 && qtype == 1) {
            a[7] = 1; /* one answer */
            unsigned char rr[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3};
            memcpy(a + len, rr, sizeof rr);
            len += sizeof rr;
        } else if (strcmp(name, "slow.test") != 0) {
            a[3] = 0x83; /* NXDOMAIN */
        }
        sendto(s, a, len, 0, (struct sockaddr *)&from, fl);
    }
}

static int isolate(void)
{
    if (unshare(CLONE_NEWNS | CLONE_NEWNET) != 0) {
        printf("SKIP: unshare(CLONE_NEWNS|CLONE_NEWNET): %s\n", ename(errno));
        return -1;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        printf("SKIP: mount private: %s\n", ename(errno));
        return -1;
    }
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    ioctl(s, SIOCGIFFLAGS, &ifr);
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) {
        printf("SKIP: bringing lo up: %s\n", ename(errno));
        return -1;
    }
    close(s);
    char conf[] = "/tmp/slowdns-resolv-XXXXXX";
    int fd = mkstemp(conf);
    const char text[] = "nameserver 127.0.0.1\noptions timeout:5 attempts:1\n";
    if (fd < 0 || write(fd, text, sizeof text - 1) != (ssize_t)sizeof text - 1)
        DIE("resolv.conf");
    close(fd);
    if (mount(conf, "/etc/resolv.conf", NULL, MS_BIND, NULL) != 0) {
        printf("SKIP: bind-mounting resolv.conf: %s\n", ename(errno));
        unlink(conf);
        return -1;
    }
    unlink(conf); /* the mount keeps the file */
    return 0;
}

/* The pre-2.34 names (resolv.h then #defined res_query as __res_query). */
int old_res_query(const char *, int, int, unsigned char *, int);
int old_res_search(const char *, int, int, unsigned char *, int);
int old_res_querydomain(const char *, const char *, int, int, unsigned char *, int);
int old_res_send(const unsigned char *, int, unsigned char *, int);
/* The oldest symbol version of each ABI: x86_64 began at 2.2.5, aarch64 at 2.17. */
#if defined(__aarch64__)
#define OLD_GLIBC "GLIBC_2.17"
#else
#define OLD_GLIBC "GLIBC_2.2.5"
#endif
__asm__(".symver old_res_query, __res_query@" OLD_GLIBC);
__asm__(".symver old_res_search, __res_search@" OLD_GLIBC);
__asm__(".symver old_res_querydomain, __res_querydomain@" OLD_GLIBC);
__asm__(".symver old_res_send, __res_send@" OLD_GLIBC);

static const char *herrname(int e)
{
    switch (e) {
    case HOST_NOT_FOUND: return "HOST_NOT_FOUND";
    case TRY_AGAIN: return "TRY_AGAIN";
    case NO_RECOVERY: return "NO_RECOVERY";
    case NO_DATA: return "NO_DATA";
    case NETDB_INTERNAL: return "NETDB_INTERNAL";
    default: return "0";
    }
}

/* "ok, 1 answer(s)" for a reply of length n in ans, or the failure. */
static const char *reply(int n, const unsigned char *ans)
{
    static char s[64];
    if (n < 12)
        snprintf(s, sizeof s, "%d, h_errno %s", n, herrname(h_errno));
    else
        snprintf(s, sizeof s, "ok, %d answer(s), rcode %d", ans[6] << 8 | ans[7], ans[3] & 0xf);
    return s;
}

static void resolver_calls(void)
{
    unsigned char ans[512], q[512];
    char buf[200];
    if (res_init() != 0)
        DIE("res_init");
    /* The program's own search list: "slow" resolves as slow.test only if
     * res_search uses this thread's _res. */
    static char domain[] = "test";
    _res.dnsrch[0] = domain;
    _res.dnsrch[1] = NULL;
    _res.options |= RES_DNSRCH | RES_DEFNAMES;

    pingpong_reset();
    double t0 = now_ms();
    int n = res_query("slow.test", C_IN, T_A, ans, sizeof ans);
    snprintf(buf, sizeof buf, "res_query(slow.test): %s, took >= 300 ms: %s", reply(n, ans),
             yesno(now_ms() - t0 >= 299));
    pingpong_report(buf);
    n = res_query("other.test", C_IN, T_A, ans, sizeof ans);
    printf("res_query(other.test): %d, h_errno %s, rcode in the answer %d\n", n, herrname(h_errno), ans[3] & 0xf);
    pingpong_reset();
    n = res_search("slow", C_IN, T_A, ans, sizeof ans);
    snprintf(buf, sizeof buf, "res_search(slow) with the program's search list: %s", reply(n, ans));
    pingpong_report(buf);
    n = res_querydomain("slow", "test", C_IN, T_A, ans, sizeof ans);
    printf("res_querydomain(slow, test): %s\n", reply(n, ans));
    int ql = res_mkquery(QUERY, "slow.test", C_IN, T_A, NULL, 0, NULL, q, sizeof q);
    n = res_send(q, ql, ans, sizeof ans);
    printf("res_send(query for slow.test): %s\n", reply(n, ans));

    struct __res_state st;
    memset(&st, 0, sizeof st);
    if (res_ninit(&st) != 0)
        DIE("res_ninit");
    n = res_nquery(&st, "slow.test", C_IN, T_A, ans, sizeof ans);
    printf("res_nquery(slow.test): %s\n", reply(n, ans));
    n = res_nsearch(&st, "slow", C_IN, T_A, ans, sizeof ans);
    printf("res_nsearch(slow) without a search list: %s\n", reply(n, ans));
    n = res_nquerydomain(&st, "slow", "test", C_IN, T_A, ans, sizeof ans);
    printf("res_nquerydomain(slow, test): %s\n", reply(n, ans));
    n = res_nsend(&st, q, ql, ans, sizeof ans);
    printf("res_nsend(query for slow.test): %s\n", reply(n, ans));
    res_nclose(&st);

    n = old_res_query("slow.test", C_IN, T_A, ans, sizeof ans);
    printf("__res_query(slow.test): %s\n", reply(n, ans));
    n = old_res_search("slow", C_IN, T_A, ans, sizeof ans);
    printf("__res_search(slow): %s\n", reply(n, ans));
    n = old_res_querydomain("slow", "test", C_IN, T_A, ans, sizeof ans);
    printf("__res_querydomain(slow, test): %s\n", reply(n, ans));
    n = old_res_send(q, ql, ans, sizeof ans);
    printf("__res_send(query for slow.test): %s\n", reply(n, ans));
}

int main(void)
{
    alarm(60);
    if (isolate() != 0)
        return 0;
    int ds = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(53)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ds, (struct sockaddr *)&a, sizeof a) != 0)
        DIE("bind 127.0.0.1:53");
    pid_t server = fork();
    if (server == 0) {
        alarm(60);
        dns_server(ds);
        _exit(0);
    }
    close(ds);

    pingpong_start();

    pingpong_reset();
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    double t0 = now_ms();
    int r = getaddrinfo("slow.test", "80", &hints, &res);
    char addr[64] = "?";
    if (r == 0)
        inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, addr, sizeof addr);
    char buf[200];
    snprintf(buf, sizeof buf, "getaddrinfo(slow.test): %d %s, took >= 300 ms: %s", r, addr,
             now_ms() - t0 >= 299 ? "yes" : "no");
    pingpong_report(buf);
    if (res)
        freeaddrinfo(res);

    pingpong_reset();
    r = getaddrinfo("other.test", NULL, &hints, &res);
    snprintf(buf, sizeof buf, "getaddrinfo(other.test): %s", r == EAI_NONAME ? "EAI_NONAME" : gai_strerror(r));
    pingpong_report(buf);

    pingpong_reset();
    struct hostent *he = gethostbyname("slow.test");
    snprintf(buf, sizeof buf, "gethostbyname(slow.test): %s",
             he && he->h_addr_list[0] ? inet_ntoa(*(struct in_addr *)he->h_addr_list[0]) : "NULL");
    pingpong_report(buf);

    he = gethostbyname2("slow.test", AF_INET);
    printf("gethostbyname2(slow.test, AF_INET): %s\n",
           he && he->h_addr_list[0] ? inet_ntoa(*(struct in_addr *)he->h_addr_list[0]) : "NULL");
    struct hostent hb, *hr = NULL;
    char hbuf[1024];
    int herr = 0;
    r = gethostbyname_r("slow.test", &hb, hbuf, sizeof hbuf, &hr, &herr);
    printf("gethostbyname_r(slow.test): %d %s\n", r,
           hr && hr->h_addr_list[0] ? inet_ntoa(*(struct in_addr *)hr->h_addr_list[0]) : "NULL");
    r = gethostbyname2_r("slow.test", AF_INET, &hb, hbuf, sizeof hbuf, &hr, &herr);
    printf("gethostbyname2_r(slow.test, AF_INET): %d %s\n", r,
           hr && hr->h_addr_list[0] ? inet_ntoa(*(struct in_addr *)hr->h_addr_list[0]) : "NULL");
    struct in_addr ten = {htonl(0x0a010203)};
    he = gethostbyaddr(&ten, sizeof ten, AF_INET);
    printf("gethostbyaddr(10.1.2.3): %s, h_errno %s\n", he ? "found" : "NULL",
           h_errno == HOST_NOT_FOUND ? "HOST_NOT_FOUND" : "other");
    r = gethostbyaddr_r(&ten, sizeof ten, AF_INET, &hb, hbuf, sizeof hbuf, &hr, &herr);
    printf("gethostbyaddr_r(10.1.2.3): result %s, h_errno %s\n", hr ? "found" : "NULL",
           herr == HOST_NOT_FOUND ? "HOST_NOT_FOUND" : "other");

    char host[NI_MAXHOST], serv[NI_MAXSERV];
    r = getnameinfo((struct sockaddr *)&a, sizeof a, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV);
    printf("getnameinfo(127.0.0.1:53, numeric): %d %s %s\n", r, host, serv);

    resolver_calls();

    pingpong_stop();
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
    return 0;
}
