/* An ordinary program (never linked to cohook): N write+read round trips of
 * one byte over a socketpair, and over a pipe, within one thread, so every
 * read finds its byte ready. Prints ns per read+write pair. Run it natively
 * and under LD_PRELOAD=libcohook.so to see what the hooks cost on the path
 * that never parks. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static double run(int wfd, int rfd, long n) {
  char c = 'x';
  double t0 = now();
  for (long i = 0; i < n; ++i) {
    if (write(wfd, &c, 1) != 1 || read(rfd, &c, 1) != 1) {
      perror("io");
      exit(1);
    }
  }
  return (now() - t0) / n;
}

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 200000;
  int sv[2], p[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || pipe(p)) return 1;
  run(sv[0], sv[1], n / 10); /* warm up */
  double best_sock = 1e18, best_pipe = 1e18;
  for (int r = 0; r < 5; ++r) {
    double s = run(sv[0], sv[1], n), q = run(p[1], p[0], n);
    if (s < best_sock) best_sock = s;
    if (q < best_pipe) best_pipe = q;
  }
  printf("socketpair write+read: %.0f ns\npipe write+read: %.0f ns\n", best_sock, best_pipe);
  return 0;
}
