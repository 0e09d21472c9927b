// Model: select(2), level-triggered readiness, one thread, non-blocking fds.
// Each round rebuilds the fd_sets from the connection table, waits, accepts
// every queued client, then does ONE recv per readable connection (select
// reports it again next round while data remains) and flushes pending output.
//
// Man pages: select(2) ("An fd_set is a fixed size buffer"; FD_SET
// with fd >= FD_SETSIZE is undefined behavior; BUGS: readiness may be
// spurious, hence O_NONBLOCK), accept(2) (accept4 SOCK_NONBLOCK: flags are not
// inherited; EAGAIN; EMFILE), recv(2), send(2) (EAGAIN: wait for writability),
// signal(7) (select always fails with EINTR after a handler).
//
// Ownership: main() owns the listener. `conns` (std::map keyed by fd) owns
// every connection: its fd, Session and OutBuf; erasing the entry is the only
// place a connection fd is closed. The 4096-byte read buffer is a local of
// on_readable(). Single-threaded.
//
// Errors (classified by errclass):
//   accept: accepted -> register (fd >= FD_SETSIZE: refused with a stderr line
//           and closed); would_block -> stop; retry -> accept again;
//           out_of_fds -> stop and leave the listener out of the fd_sets for
//           50 ms (it stays readable: polling it at once would spin);
//           fatal -> perror, exit 1.
//   recv:   progress -> feed, flush; would_block / retry -> keep the
//           connection, select will say when; closed -> stop reading, close
//           once the owed replies are sent; peer_gone -> close now.
//   send:   flush_nonblocking: would_block -> the fd joins writefds;
//           peer_gone -> close.
//   select: retry (EINTR) -> wait again; fatal -> perror, exit 1.
// Back-pressure: a connection owing >= 1 MiB is left out of readfds until its
// peer reads.
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "errclass.h"
#include "net.h"
#include "outbuf.h"
#include "protocol.h"

namespace {

using iogate::IoClass;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadPauseAt = 1 << 20;  // owed bytes that stop reading
constexpr auto kAcceptBackOff = std::chrono::milliseconds(50);

struct Conn {
  explicit Conn(iogate::Protocol p) : session(p) {}
  iogate::Session session;
  iogate::OutBuf out;
  bool eof = false;  // recv returned 0: no more reading, close when flushed
};

using ConnTable = std::map<int, Conn>;

// Returns false when the listener hit EMFILE/ENFILE and must rest.
bool accept_all(int listener, ConnTable& conns, iogate::Protocol proto) {
  for (;;) {
    int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    int err = errno;
    switch (iogate::classify_accept(fd, err)) {
      case iogate::AcceptClass::accepted:
        break;
      case iogate::AcceptClass::would_block:
        return true;
      case iogate::AcceptClass::retry:
        continue;
      case iogate::AcceptClass::out_of_fds:
        return false;
      case iogate::AcceptClass::fatal:
        errno = err;
        std::perror("accept");
        std::exit(1);
    }
    if (fd >= FD_SETSIZE) {
      std::fprintf(stderr, "select: fd %d >= FD_SETSIZE (%d), connection refused\n", fd,
                   FD_SETSIZE);
      close(fd);
      continue;
    }
    Conn& c = conns.emplace(fd, Conn(proto)).first->second;
    c.out.append(c.session.greeting());
    if (iogate::flush_nonblocking(fd, c.out) == IoClass::peer_gone) {
      close(fd);
      conns.erase(fd);
    }
  }
}

// One recv (level-triggered: select reports the fd again while data remains).
// Returns false when the connection must be closed.
bool on_readable(int fd, Conn& c) {
  char buf[4096];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  int err = errno;
  switch (iogate::classify_recv(n, err)) {
    case IoClass::progress: {
      std::string replies;
      c.session.feed(buf, static_cast<std::size_t>(n), replies);
      c.out.append(replies);
      return iogate::flush_nonblocking(fd, c.out) != IoClass::peer_gone;
    }
    case IoClass::would_block:  // spurious readiness: nothing to read after all
    case IoClass::retry:        // EINTR: select will report the fd again
      return true;
    case IoClass::closed:
      c.eof = true;
      return !c.out.empty();  // keep only to deliver the owed replies
    case IoClass::peer_gone:
      return false;
  }
  return false;
}

bool on_writable(int fd, Conn& c) {
  if (iogate::flush_nonblocking(fd, c.out) == IoClass::peer_gone) return false;
  return !(c.eof && c.out.empty());
}

}  // namespace

int main(int argc, char** argv) {
  iogate::ServerOptions opts = iogate::parse_options(argc, argv, "select");
  iogate::ignore_sigpipe();
  int listener = iogate::listen_on(opts, /*nonblocking=*/true);
  if (listener >= FD_SETSIZE) {
    std::fprintf(stderr, "select: listener fd %d >= FD_SETSIZE\n", listener);
    return 1;
  }

  ConnTable conns;
  Clock::time_point accept_resume_at{};  // listener rests until then after EMFILE
  for (;;) {
    fd_set rd, wr;
    FD_ZERO(&rd);
    FD_ZERO(&wr);
    int maxfd = -1;
    timeval rest{};
    timeval* timeout = nullptr;
    Clock::time_point now = Clock::now();
    if (now >= accept_resume_at) {
      FD_SET(listener, &rd);
      maxfd = listener;
    } else {
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(accept_resume_at - now);
      rest.tv_sec = static_cast<time_t>(us.count() / 1000000);
      rest.tv_usec = static_cast<suseconds_t>(us.count() % 1000000);
      timeout = &rest;
    }
    for (const auto& [fd, c] : conns) {
      if (!c.eof && c.out.size() < kReadPauseAt) FD_SET(fd, &rd);
      if (!c.out.empty()) FD_SET(fd, &wr);
      maxfd = std::max(maxfd, fd);
    }

    int ready = select(maxfd + 1, &rd, &wr, nullptr, timeout);
    int err = errno;
    switch (iogate::classify_wait(ready, err)) {
      case iogate::WaitClass::ready:
        break;
      case iogate::WaitClass::retry:
        continue;
      case iogate::WaitClass::fatal:
        errno = err;
        std::perror("select");
        return 1;
    }

    // The listener first: a new fd cannot carry a stale bit of this round,
    // because no connection has been closed yet.
    if (FD_ISSET(listener, &rd) && !accept_all(listener, conns, opts.protocol)) {
      accept_resume_at = Clock::now() + kAcceptBackOff;
    }
    for (auto it = conns.begin(); it != conns.end();) {
      int fd = it->first;
      bool keep = true;
      if (FD_ISSET(fd, &rd)) keep = on_readable(fd, it->second);
      if (keep && FD_ISSET(fd, &wr)) keep = on_writable(fd, it->second);
      if (keep) {
        ++it;
      } else {
        close(fd);
        it = conns.erase(it);
      }
    }
  }
}
