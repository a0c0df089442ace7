/* A socket closed behind the shim's back (a raw close system call, as libc's
 * internal closes are) and its number reused by a plain file: reading the
 * file must work as natively.
 *
 *   stalefd */
#include <fcntl.h>
#include <sys/syscall.h>

#include "common.h"

int main(void)
{
    int sv[2];
    char c[4];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    write(sv[1], "ab", 2);
    printf("socket read: %zd\n", read(sv[0], c, 1));
    syscall(SYS_close, sv[0]);
    int f = open("/proc/self/cmdline", O_RDONLY);
    if (f != sv[0])
        return 3; /* the number was not reused: the test cannot say anything */
    ssize_t r = read(f, c, 2);
    printf("file on the reused number: %zd %s\n", r, r < 0 ? ename(errno) : "");
    int p[2];
    syscall(SYS_close, f);
    pipe(p); /* pipe() is hooked, but write() on the old number's info: */
    printf("pipe write: %zd\n", write(p[1], "zz", 2));
    return 0;
}
