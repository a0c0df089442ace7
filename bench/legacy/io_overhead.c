/* An ordinary program (never linked to cohook) for the hook-overhead section
 * of scripts/bench, run natively and under LD_PRELOAD=libcohook.so:
 *  - N write+read round trips of one byte over a socketpair, and over a
 *    pipe, within one thread, so every read finds its byte ready (the hook
 *    path that never parks);
 *  - N uncontended pthread_mutex_lock+unlock pairs;
 *  - N condvar handoffs between two threads that take turns (one handoff:
 *    one thread signals and waits, the other wakes up).
 * Prints ns per operation, the best of 5 repetitions, one "NAME: X ns" line
 * each.
 */
#include <pthread.h>
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

static double run_io(int wfd, int rfd, long n) {
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

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static double run_mutex(long n) {
  double t0 = now();
  for (long i = 0; i < n; ++i) {
    pthread_mutex_lock(&m);
    pthread_mutex_unlock(&m);
  }
  return (now() - t0) / n;
}

/* Handoffs: `turn` says whose move it is; each side waits for its turn,
 * passes it on and signals. */
static long turn, handoffs_left;

static void take_turns(long me) {
  pthread_mutex_lock(&m);
  for (;;) {
    while (turn != me && handoffs_left > 0) pthread_cond_wait(&cv, &m);
    if (handoffs_left <= 0) break;
    --handoffs_left;
    turn = 1 - me;
    pthread_cond_signal(&cv);
  }
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&m);
}

static void* other_side(void* arg) {
  (void)arg;
  take_turns(1);
  return NULL;
}

static double run_condvar(long n) {
  turn = 0;
  handoffs_left = n;
  pthread_t t;
  double t0 = now();
  if (pthread_create(&t, NULL, other_side, NULL) != 0) exit(1);
  take_turns(0);
  pthread_join(t, NULL);
  return (now() - t0) / n;
}

static double min(double a, double b) { return a < b ? a : b; }

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 200000;
  int sv[2], p[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || pipe(p)) return 1;
  run_io(sv[0], sv[1], n / 10); /* warm up */
  double sock = 1e18, pip = 1e18, mutex = 1e18, cond = 1e18;
  for (int r = 0; r < 5; ++r) {
    sock = min(sock, run_io(sv[0], sv[1], n));
    pip = min(pip, run_io(p[1], p[0], n));
    mutex = min(mutex, run_mutex(n * 10));
    cond = min(cond, run_condvar(n / 4));
  }
  printf("socketpair write+read: %.1f ns\npipe write+read: %.1f ns\n", sock, pip);
  printf("mutex lock+unlock: %.1f ns\ncondvar handoff: %.1f ns\n", mutex, cond);
  return 0;
}
