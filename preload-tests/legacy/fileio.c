/* Regular-file I/O as a server does it: open/openat/creat, read/write,
 * pread/pwrite, readv/writev, preadv/pwritev, fsync, fdatasync, with their
 * errors. Run natively, under the shim with COHOOK_FILE_IO=inline (the
 * default) and with COHOOK_FILE_IO=offload: stdout must be the same.
 *
 * The I/O runs in a thread with its buffers on that thread's stack (under
 * COHOOK_STACK_MODE=shared that is a copy stack).
 *
 * `fileio fifo` adds a FIFO whose open(O_RDONLY) waits 300 ms for a writer
 * (natively too) while the ping-pong threads play: only for runs where that
 * open does not hold the carrier the writer needs (natively, offload mode).
 *
 * Built twice: with _FILE_OFFSET_BITS=64 (open64, pread64... as most
 * programs call them) and without (open, pread...). */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "common.h"

static char dir[128];

/* "label: result errno-name", the errno read after the call. */
#define SHOW(label, call)                                                 \
    do {                                                                  \
        long r_ = (long)(call);                                           \
        int e_ = errno;                                                   \
        printf("%s: %ld%s%s\n", label, r_, r_ < 0 ? " " : "",            \
               r_ < 0 ? ename(e_) : "");                                  \
    } while (0)

static void *fileio_thread(void *arg)
{
    (void)arg;
    char path[256], buf[64], a[8], b[8];
    snprintf(path, sizeof path, "%s/data", dir);

    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    printf("open(O_CREAT|O_EXCL): %s\n", fd >= 0 ? "ok" : ename(errno));
    SHOW("open again", open(path, O_RDWR | O_CREAT | O_EXCL, 0600));

    ssize_t w = write(fd, "hello, file\n", 12);
    printf("write: %zd\n", w);
    struct iovec wv[2] = {{"vector ", 7}, {"write\n", 6}};
    printf("writev: %zd\n", writev(fd, wv, 2));
    printf("pwrite at 100: %zd\n", pwrite(fd, "positioned", 10, 100));
    struct iovec pv[2] = {{"pw", 2}, {"ritev", 5}};
    printf("pwritev at 200: %zd\n", pwritev(fd, pv, 2, 200));
    SHOW("fsync", fsync(fd));
    SHOW("fdatasync", fdatasync(fd));

    printf("lseek: %ld\n", (long)lseek(fd, 0, SEEK_SET));
    memset(buf, 0, sizeof buf);
    ssize_t r = read(fd, buf, 12);
    printf("read: %zd '%.11s'\n", r, buf);
    struct iovec rv[2] = {{a, 7}, {b, 6}};
    r = readv(fd, rv, 2);
    printf("readv: %zd '%.7s' '%.5s'\n", r, a, b);
    memset(buf, 0, sizeof buf);
    r = pread(fd, buf, 10, 100);
    printf("pread at 100: %zd '%.10s'\n", r, buf);
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    struct iovec prv[2] = {{a, 2}, {b, 5}};
    r = preadv(fd, prv, 2, 200);
    printf("preadv at 200: %zd '%.2s' '%.5s'\n", r, a, b);
    r = pread(fd, buf, sizeof buf, 4096);
    printf("pread past the end: %zd\n", r);
    printf("offset after the positioned calls: %ld\n", (long)lseek(fd, 0, SEEK_CUR));

    /* A read the page cache cannot answer: 64 KiB written, synced and
     * dropped from the cache (offloaded, the read then goes to the pool). */
    static char big[65536];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    if (pwrite(fd, big, sizeof big, 4096) != (ssize_t)sizeof big || fdatasync(fd) != 0)
        DIE("pwrite 64 KiB");
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    memset(big, 0, sizeof big);
    r = pread(fd, big, sizeof big, 4096);
    int same = r == (ssize_t)sizeof big;
    for (size_t i = 0; same && i < sizeof big; i++)
        same = big[i] == (char)('a' + i % 26);
    printf("pread of 64 KiB after POSIX_FADV_DONTNEED: %zd, content right: %s\n", r, yesno(same));
    close(fd);

    /* openat relative to a directory fd, creat, O_APPEND. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    int at = openat(dfd, "data", O_RDONLY);
    memset(buf, 0, sizeof buf);
    r = read(at, buf, 5);
    printf("openat+read: %zd '%.5s'\n", r, buf);
    close(at);
    SHOW("read of a directory", read(dfd, buf, 1));
    char cpath[256];
    snprintf(cpath, sizeof cpath, "%s/created", dir);
    int c = creat(cpath, 0600);
    printf("creat: %s\n", c >= 0 ? "ok" : ename(errno));
    SHOW("write to it", write(c, "abc", 3));
    close(c);
    int ap = open(cpath, O_WRONLY | O_APPEND);
    if (write(ap, "def", 3) != 3)
        DIE("append");
    close(ap);
    int rd = openat(dfd, "created", O_RDONLY);
    memset(buf, 0, sizeof buf);
    r = read(rd, buf, sizeof buf - 1);
    printf("after O_APPEND: %zd '%s'\n", r, buf);
    SHOW("write to an O_RDONLY file", write(rd, "x", 1));
    SHOW("fsync of an O_RDONLY file", fsync(rd));
    close(rd);
    close(dfd);

    /* The errors. */
    SHOW("open(missing)", open("/nonexistent/x", O_RDONLY));
    SHOW("openat(bad dirfd)", openat(12345, "x", O_RDONLY));
    SHOW("read(bad fd)", read(12345, buf, 1));
    SHOW("pread(bad fd)", pread(12345, buf, 1, 0));
    SHOW("fsync(bad fd)", fsync(12345));
    int p[2];
    if (pipe(p) != 0)
        DIE("pipe");
    SHOW("pread on a pipe", pread(p[0], buf, 1, 0));
    SHOW("pwrite on a pipe", pwrite(p[1], "x", 1, 0));
    SHOW("fsync on a pipe", fsync(p[1]));
    SHOW("fdatasync on a pipe", fdatasync(p[1]));
    close(p[0]);
    close(p[1]);
    unlink(path);
    unlink(cpath);
    return NULL;
}

static char fifo[256];

static void *fifo_writer(void *arg)
{
    (void)arg;
    msleep(300);
    int fd = open(fifo, O_WRONLY);
    if (fd < 0)
        DIE("open fifo for writing");
    write_all(fd, "through the fifo", 16);
    close(fd);
    return NULL;
}

static void fifo_open(void)
{
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    if (mkfifo(fifo, 0600) != 0)
        DIE("mkfifo");
    pthread_t w = spawn(fifo_writer, NULL);
    pingpong_reset();
    double t0 = now_ms();
    int fd = open(fifo, O_RDONLY);
    double waited = now_ms() - t0;
    char buf[32] = {0};
    ssize_t r = read(fd, buf, 16);
    char what[160];
    snprintf(what, sizeof what, "open(fifo, O_RDONLY) waited for the writer: %s, read %zd '%s'",
             yesno(fd >= 0 && waited >= 250), r, buf);
    pingpong_report(what);
    close(fd);
    join_long(w);
    unlink(fifo);
}

int main(int argc, char **argv)
{
    self_alarm(20);
    snprintf(dir, sizeof dir, "/tmp/cohook-fileio-%d", (int)getpid());
    if (mkdir(dir, 0700) != 0)
        DIE("mkdir %s", dir);
    pingpong_start();
    join_long(spawn(fileio_thread, NULL));
    if (argc > 1 && strcmp(argv[1], "fifo") == 0)
        fifo_open();
    pingpong_stop();
    rmdir(dir);
    return 0;
}
