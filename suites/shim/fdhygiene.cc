// A program with a daemon's descriptor hygiene, for the sealed trace channel
// (suites/shim/test_trace_channel.py): it closes every descriptor >= 3 one of
// five ways (a close() loop, closefrom, close_range, the raw close_range
// system call, or dup2 over every number first), then opens a log and a TCP
// connection to 127.0.0.1:PORT, sends a line, half-closes, logs what it
// reads back until EOF and exits 0.
//
//   iogate-fdhygiene none|loop|closefrom|close_range|raw|dup2 PORT LOG
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {
int fail(const char* what) {
  std::perror(what);
  return 3;
}

bool put(int fd, const std::string& s) { return write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size()); }

void close_all(const std::string& how) {
  if (how == "loop") {
    for (int fd = 3; fd < 1024; ++fd) close(fd);
  } else if (how == "closefrom") {
    closefrom(3);
  } else if (how == "close_range") {
    close_range(3, ~0U, 0);
  } else if (how == "raw") {  // the system call itself, which no wrapper sees
    syscall(SYS_close_range, 3U, ~0U, 0U);
  } else if (how == "dup2") {  // every number made the program's own, then closed
    const int null = open("/dev/null", O_RDONLY);
    for (int fd = 3; fd < 1024; ++fd)
      if (fd != null) dup2(null, fd);
    for (int fd = 3; fd < 1024; ++fd) close(fd);
  }
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s none|loop|closefrom|close_range|raw|dup2 PORT LOG\n", argv[0]);
    return 2;
  }
  close_all(argv[1]);
  const int log = open(argv[3], O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (log < 0) return fail("open log");
  if (!put(log, "log line 1\n")) return fail("write log");
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return fail("socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[2])));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return fail("connect");
  const char hello[] = "hello from the program\n";
  if (send(s, hello, sizeof hello - 1, 0) != static_cast<ssize_t>(sizeof hello - 1)) return fail("send");
  if (shutdown(s, SHUT_WR) != 0) return fail("shutdown");
  std::string got;
  char buf[4096];
  for (int i = 0; i < 100000; ++i) {  // bounded: the peer closes after its reply
    const ssize_t n = recv(s, buf, sizeof buf, 0);
    if (n < 0) return fail("recv");
    if (n == 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  if (!put(log, "got: " + got)) return fail("write log");
  if (!put(log, "log line 2\n")) return fail("write log");
  close(s);
  close(log);
  return 0;
}
