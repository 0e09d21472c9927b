// echo_load PORT CONNS MESSAGES: a loopback echo client for benchmarks.
// CONNS connections each keep one 1 KiB message in flight (send, read the
// whole echo back, repeat) until MESSAGES round trips completed in total.
// Prints "<messages> <seconds> <messages/s>".
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s PORT CONNS MESSAGES\n", argv[0]);
    return 2;
  }
  const int port = std::atoi(argv[1]), conns = std::atoi(argv[2]);
  const long total = std::atol(argv[3]);
  constexpr size_t kMsg = 1024;
  char out[kMsg], in[kMsg];
  std::memset(out, 'x', sizeof out);
  std::vector<pollfd> fds(static_cast<size_t>(conns));
  std::vector<size_t> got(static_cast<size_t>(conns), 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (auto& p : fds) {
    p.fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(p.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(p.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      std::perror("connect");
      return 1;
    }
    p.events = POLLIN;
  }
  timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  long started = 0, done = 0;
  for (auto& p : fds)
    if (started < total && send(p.fd, out, kMsg, 0) == static_cast<ssize_t>(kMsg)) ++started;
  while (done < started) {
    if (poll(fds.data(), fds.size(), 10000) <= 0) {
      std::fprintf(stderr, "echo_load: stalled after %ld round trips\n", done);
      return 1;
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      ssize_t n = recv(fds[i].fd, in, kMsg - got[i], 0);
      if (n <= 0) {
        std::fprintf(stderr, "echo_load: connection lost\n");
        return 1;
      }
      got[i] += static_cast<size_t>(n);
      if (got[i] < kMsg) continue;
      got[i] = 0;
      ++done;
      if (started < total && send(fds[i].fd, out, kMsg, 0) == static_cast<ssize_t>(kMsg)) ++started;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  const double secs = static_cast<double>(t1.tv_sec - t0.tv_sec) + static_cast<double>(t1.tv_nsec - t0.tv_nsec) / 1e9;
  std::printf("%ld %.4f %.1f\n", done, secs, static_cast<double>(done) / secs);
  for (auto& p : fds) close(p.fd);
  return 0;
}
