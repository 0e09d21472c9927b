#include "net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace iogate {

namespace {
[[noreturn]] void usage(const char* model, const char* why) {
  std::fprintf(stderr,
               "%s: %s\nusage: %s [--port N] [--host ADDR] [--protocol seq|echo] [--threads N]\n"
               "       [--demux select|poll|epoll] [--cert FILE --key FILE]\n",
               model, why, model);
  std::exit(2);
}

int parse_int(const char* model, const char* flag, const char* text, int lo, int hi) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || v < lo || v > hi) {
    std::string why = std::string("bad value for ") + flag + ": '" + text + "'";
    usage(model, why.c_str());
  }
  return static_cast<int>(v);
}
}  // namespace

ServerOptions parse_options(int argc, char** argv, const char* model) {
  ServerOptions o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) usage(model, ("missing value after " + flag).c_str());
    const char* value = argv[++i];
    if (flag == "--port") {
      o.port = parse_int(model, "--port", value, 0, 65535);
    } else if (flag == "--host") {
      o.host = value;
    } else if (flag == "--protocol") {
      auto p = protocol_from_name(value);
      if (!p) usage(model, "--protocol must be seq or echo");
      o.protocol = *p;
    } else if (flag == "--threads") {
      o.threads = parse_int(model, "--threads", value, 1, 1024);
    } else if (flag == "--demux") {
      o.demux = value;
      if (o.demux != "select" && o.demux != "poll" && o.demux != "epoll") {
        usage(model, "--demux must be select, poll or epoll");
      }
    } else if (flag == "--cert") {
      o.cert = value;
    } else if (flag == "--key") {
      o.key = value;
    } else {
      usage(model, ("unknown flag " + flag).c_str());
    }
  }
  return o;
}

int listen_on(const ServerOptions& opts, bool nonblocking) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(opts.port));
  if (inet_pton(AF_INET, opts.host.c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "bad --host '%s' (an IPv4 address is expected)\n", opts.host.c_str());
    std::exit(2);
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) {
    std::perror("socket");
    std::exit(1);
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    std::perror("bind");
    std::exit(1);
  }
  if (listen(fd, SOMAXCONN) < 0) {
    std::perror("listen");
    std::exit(1);
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::printf("listening on %d\n", ntohs(addr.sin_port));
  std::fflush(stdout);
  return fd;
}

bool set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL, 0);
  return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

void ignore_sigpipe() { signal(SIGPIPE, SIG_IGN); }

IoClass flush_nonblocking(int fd, OutBuf& out) {
  while (!out.empty()) {
    ssize_t n = send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    int err = errno;
    switch (classify_send(n, err)) {
      case IoClass::progress:
        out.consume(static_cast<std::size_t>(n));
        break;
      case IoClass::retry:  // EINTR: nothing was sent, same call again
        break;
      case IoClass::would_block:
        return IoClass::would_block;
      case IoClass::closed:  // not produced by classify_send
      case IoClass::peer_gone:
        return IoClass::peer_gone;
    }
  }
  return IoClass::progress;
}

bool send_all_blocking(int fd, const char* data, std::size_t n) {
  std::size_t off = 0;  // first unsent byte
  while (off < n) {
    ssize_t r = send(fd, data + off, n - off, MSG_NOSIGNAL);
    int err = errno;
    switch (classify_send(r, err)) {
      case IoClass::progress:
        off += static_cast<std::size_t>(r);
        break;
      case IoClass::retry:
        break;
      case IoClass::would_block: {
        pollfd p{fd, POLLOUT, 0};
        if (poll(&p, 1, -1) < 0 && errno != EINTR) return false;
        break;
      }
      case IoClass::closed:
      case IoClass::peer_gone:
        return false;
    }
  }
  return true;
}

}  // namespace iogate
