#include "floor.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace mlos::bench {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "floor: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

double P50(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void SetBuffers(int fd) {
  const int size = 4 << 20;
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

void WriteAll(int fd, const char* p, size_t n) {
  while (n) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      Die("write");
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void ReadAll(int fd, char* p, size_t n) {
  while (n) {
    const ssize_t r = ::read(fd, p, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      Die("read");
    }
    if (r == 0) Die("read: early end of stream");
    p += r;
    n -= static_cast<size_t>(r);
  }
}

// One connected pair (a = sender, b = receiver): `reps + 1` transfers, the first a warm-up.
double Transfer(int a, int b, size_t bytes, int reps) {
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  std::thread receiver([&] {
    for (int i = 0; i <= reps; ++i) {
      ReadAll(b, dst.data(), bytes);
      WriteAll(b, "k", 1);
    }
  });
  std::vector<double> us;
  for (int i = 0; i <= reps; ++i) {
    const auto t0 = Clock::now();
    WriteAll(a, src.data(), bytes);
    char ack;
    ReadAll(a, &ack, 1);
    if (i) us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  receiver.join();
  return P50(std::move(us));
}

double Tcp(size_t bytes, int reps) {
  const int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l < 0) Die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(l, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) Die("bind");
  if (::listen(l, 1) < 0) Die("listen");
  if (::getsockname(l, reinterpret_cast<sockaddr*>(&addr), &len) < 0) Die("getsockname");
  const int a = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  SetBuffers(a);
  if (::connect(a, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) Die("connect");
  const int b = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
  if (b < 0) Die("accept");
  SetBuffers(b);
  const int one = 1;
  (void)::setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  (void)::setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const double us = Transfer(a, b, bytes, reps);
  ::close(a);
  ::close(b);
  ::close(l);
  return us;
}

double Unix(size_t bytes, int reps) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) Die("socketpair");
  SetBuffers(fds[0]);
  SetBuffers(fds[1]);
  const double us = Transfer(fds[0], fds[1], bytes, reps);
  ::close(fds[0]);
  ::close(fds[1]);
  return us;
}

double Memcpy(size_t bytes, int reps) {
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  std::vector<double> us;
  for (int i = 0; i <= reps; ++i) {
    const auto t0 = Clock::now();
    std::memcpy(dst.data(), src.data(), bytes);
    asm volatile("" : : "r"(dst.data()) : "memory");
    if (i) us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  return P50(std::move(us));
}

}  // namespace

Floor MeasureFloor(size_t bytes, int reps) {
  Floor f;
  f.memcpy_us = Memcpy(bytes, reps);
  f.tcp_us = Tcp(bytes, reps);
  f.unix_us = Unix(bytes, reps);
  return f;
}

}  // namespace mlos::bench
