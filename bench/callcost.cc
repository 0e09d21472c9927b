// callcost N: the cost of one intercepted call. N times recv(MSG_DONTWAIT) on
// an idle connected TCP socket (the kernel answers EAGAIN at once), timed.
// Run bare and under the shim with different plans; the difference per call
// is what the wrapper and its decision cost. Prints "<ns per call>".
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 1000000;
  int l = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) || listen(l, 1)) return 1;
  getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
  int c = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a)) return 1;
  int s = accept(l, nullptr, nullptr);
  char buf[64];
  timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < n; ++i) {
    if (recv(s, buf, sizeof buf, MSG_DONTWAIT) >= 0) return 1;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  const double ns = static_cast<double>(t1.tv_sec - t0.tv_sec) * 1e9 + static_cast<double>(t1.tv_nsec - t0.tv_nsec);
  std::printf("%.1f\n", ns / static_cast<double>(n));
  return 0;
}
