/* Prints whether fd 0 is blocking, as a child that inherited it sees it.
 *
 *   fdflags LABEL
 */
#include <fcntl.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    int fl = fcntl(0, F_GETFL);
    if (fl < 0) {
        printf("%s: fd 0 invalid\n", argc > 1 ? argv[1] : "");
        return 1;
    }
    printf("%s: fd 0 %s\n", argc > 1 ? argv[1] : "", (fl & O_NONBLOCK) ? "nonblocking" : "blocking");
    return 0;
}
