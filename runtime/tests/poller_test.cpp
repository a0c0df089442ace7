#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "scheduler.h"

using namespace cohook;

namespace {
// What the shim's read() will do: try without blocking, park on EAGAIN.
ssize_t coread(int fd, void* buf, size_t n, Deadline d, WaitResult* why = nullptr) {
  for (;;) {
    uint64_t epoch = fd_epoch(fd, IoDir::Read);
    ssize_t r = ::read(fd, buf, n);
    if (r >= 0 || errno != EAGAIN) return r;
    WaitResult w = wait_fd(Scheduler::current()->poller(), fd, IoDir::Read, epoch, d);
    if (why) *why = w;
    if (w != WaitResult::Ready) {
      errno = w == WaitResult::TimedOut ? EAGAIN : EBADF;
      return -1;
    }
  }
}
void close_fd(int fd) {
  forget_fd(fd);
  ::close(fd);
}
}  // namespace

TEST(Poller, WakesOnPipeReadiness) {
  Scheduler s;
  int p[2];
  ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
  struct Arg {
    int fd;
    char got[8] = {};
    ssize_t n = 0;
  } a{p[0]};
  Coroutine* reader = s.spawn(
      [](void* x) {
        auto* a = static_cast<Arg*>(x);
        a->n = coread(a->fd, a->got, sizeof a->got, kForever);
      },
      &a);
  Scheduler::sleep_for(20 * 1000000);
  EXPECT_EQ(reader->state(), CoState::Parked);
  ASSERT_EQ(write(p[1], "hello", 5), 5);
  Scheduler::join(reader);
  EXPECT_EQ(a.n, 5);
  EXPECT_STREQ(a.got, "hello");
  close_fd(p[0]);
  close_fd(p[1]);
}

TEST(Poller, WakesOnSocketpairFromAnotherThreadAndForEveryMessage) {
  Scheduler s;
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  struct Arg {
    int fd;
    long bytes = 0;
  } a{sv[0]};
  Coroutine* reader = s.spawn(
      [](void* x) {
        auto* a = static_cast<Arg*>(x);
        char buf[64];
        ssize_t n;
        while ((n = coread(a->fd, buf, sizeof buf, kForever)) > 0) a->bytes += n;
      },
      &a);
  std::thread writer([&] {
    for (int i = 0; i < 2000; ++i) {
      while (write(sv[1], "0123456789", 10) != 10) usleep(100);
      if (i % 100 == 0) usleep(1000);
    }
    shutdown(sv[1], SHUT_WR);
  });
  Scheduler::join(reader);
  writer.join();
  EXPECT_EQ(a.bytes, 20000);
  close_fd(sv[0]);
  close_fd(sv[1]);
}

TEST(Poller, DeadlineExpiresNeverEarly) {
  Scheduler s;
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  char c;
  WaitResult why = WaitResult::Ready;
  Nanos t0 = now_ns();
  Deadline d = t0 + 30 * 1000000;
  EXPECT_EQ(coread(sv[0], &c, 1, d, &why), -1);
  Nanos t1 = now_ns();
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(why, WaitResult::TimedOut);
  EXPECT_GE(t1, d);
  EXPECT_LT(t1 - d, 200 * 1000000);
  close_fd(sv[0]);
  close_fd(sv[1]);
}

TEST(Poller, ForgetWakesWaitersWithClosedAndIgnoresStaleEvents) {
  Scheduler s;
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  struct Arg {
    int fd;
    WaitResult why = WaitResult::Ready;
    ssize_t n = 0;
  } a{sv[0]};
  Coroutine* reader = s.spawn(
      [](void* x) {
        auto* a = static_cast<Arg*>(x);
        char c;
        a->n = coread(a->fd, &c, 1, kForever, &a->why);
      },
      &a);
  Scheduler::sleep_for(10 * 1000000);
  close_fd(sv[0]);
  Scheduler::join(reader);
  EXPECT_EQ(a.n, -1);
  EXPECT_EQ(a.why, WaitResult::Closed);
  // The number is reused by a new file: a wait on it registers afresh.
  int p[2];
  ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
  ASSERT_EQ(write(p[1], "x", 1), 1);
  char c;
  EXPECT_EQ(coread(p[0], &c, 1, deadline_after(1000000000)), 1);
  close_fd(p[0]);
  close_fd(p[1]);
  close_fd(sv[1]);
}

TEST(Poller, RegularFilesAreNotPollable) {
  Scheduler s;
  int fd = open("/proc/self/status", O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(wait_fd(s.poller(), fd, IoDir::Read, fd_epoch(fd, IoDir::Read), kForever),
            WaitResult::NotPollable);
  close_fd(fd);
}

TEST(Poller, SteadyStateWaitsCostNoEpollCtl) {
  // The same fd waited on 1000 times is registered once (libco: ADD + DEL
  // around every wait).
  Scheduler s;
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  std::thread peer([&] {
    for (int i = 0; i < 1000; ++i) {
      while (write(sv[1], "p", 1) != 1) usleep(10);
      char c;
      while (read(sv[1], &c, 1) != 1) usleep(10);
    }
  });
  char c;
  uint64_t ctl0 = Poller::epoll_ctl_calls();
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(coread(sv[0], &c, 1, kForever), 1);
    ASSERT_EQ(write(sv[0], "q", 1), 1);
  }
  peer.join();
  EXPECT_EQ(Poller::epoll_ctl_calls() - ctl0, 1u);
  close_fd(sv[0]);
  close_fd(sv[1]);
}
