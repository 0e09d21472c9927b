// Model: poll(2), level-triggered readiness, one thread, non-blocking fds.
// Each round builds a pollfd vector from the connection table (no FD_SETSIZE
// limit, unlike select), waits, accepts every queued client, then does ONE
// recv per readable connection (poll reports it again next round while data
// remains) and flushes pending output. POLLOUT is asked for only while a
// connection owes bytes: a socket is almost always writable, so asking while
// nothing is owed would make poll return at once, forever (a 100 % CPU spin).
//
// Man pages: poll(2) ("fd ... negative, then the corresponding events field is
// ignored and the revents field returns zero"; POLLHUP/POLLERR are reported
// whether asked for or not; EINTR), accept(2) (accept4 SOCK_NONBLOCK; EAGAIN;
// EMFILE), recv(2), send(2) (EAGAIN: wait for POLLOUT), signalfd(2) (SIGTERM
// blocked and read as an fd, so it is one more pollfd), signal(7).
//
// Ownership: main() owns the listener and the signalfd. `conns` (std::map
// keyed by fd) owns every connection: its fd, Session and OutBuf; erasing the
// entry is the only place a connection fd is closed. The pollfd vector is
// rebuilt each round and only names fds. The 4096-byte read buffer is a local
// of on_readable(). Single-threaded.
//
// Errors (classified by errclass):
//   accept: accepted -> register, flush the greeting; would_block -> stop;
//           retry -> accept again; out_of_fds -> stop and leave the listener
//           out of the pollfds (fd = -1) for 50 ms (it stays readable:
//           polling it at once would spin); fatal -> perror, exit 1.
//   recv:   progress -> feed, flush; would_block / retry -> keep the
//           connection, poll will say when; closed -> stop reading, close
//           once the owed replies are sent; peer_gone -> close now.
//           POLLHUP/POLLERR count as readable: recv reports the truth.
//   send:   flush_nonblocking: would_block -> POLLOUT next round; peer_gone ->
//           close.
//   poll:   retry (EINTR) -> wait again; fatal -> perror, exit 1.
// Back-pressure: a connection owing >= 1 MiB does not ask for POLLIN until its
// peer reads.
// Shutdown: SIGTERM/SIGINT make the signalfd readable; the loop closes every
// connection and exits 0.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

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
    Conn& c = conns.emplace(fd, Conn(proto)).first->second;
    c.out.append(c.session.greeting());
    if (iogate::flush_nonblocking(fd, c.out) == IoClass::peer_gone) {
      close(fd);
      conns.erase(fd);
    }
  }
}

// One recv (level-triggered: poll reports the fd again while data remains).
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
    case IoClass::retry:        // EINTR: poll will report the fd again
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
  iogate::ServerOptions opts = iogate::parse_options(argc, argv, "poll");
  iogate::ignore_sigpipe();
  // Every long-lived fd exists before "listening on" (the harness baseline).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigprocmask(SIG_BLOCK, &stop_signals, nullptr);
  int sigfd = signalfd(-1, &stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sigfd < 0) {
    std::perror("signalfd");
    return 1;
  }
  int listener = iogate::listen_on(opts, /*nonblocking=*/true);

  ConnTable conns;
  std::vector<pollfd> fds;
  Clock::time_point accept_resume_at{};  // listener rests until then after EMFILE
  for (;;) {
    int timeout = -1;
    bool listening = true;
    Clock::time_point now = Clock::now();
    if (now < accept_resume_at) {
      listening = false;
      timeout = static_cast<int>(
          std::chrono::ceil<std::chrono::milliseconds>(accept_resume_at - now).count());
    }
    fds.clear();
    fds.push_back({sigfd, POLLIN, 0});
    fds.push_back({listening ? listener : -1, POLLIN, 0});  // -1: ignored by poll
    for (const auto& [fd, c] : conns) {
      short events = 0;
      if (!c.eof && c.out.size() < kReadPauseAt) events |= POLLIN;
      if (!c.out.empty()) events |= POLLOUT;
      fds.push_back({fd, events, 0});
    }

    int ready = poll(fds.data(), fds.size(), timeout);
    int err = errno;
    switch (iogate::classify_wait(ready, err)) {
      case iogate::WaitClass::ready:
        break;
      case iogate::WaitClass::retry:
        continue;
      case iogate::WaitClass::fatal:
        errno = err;
        std::perror("poll");
        return 1;
    }
    if (fds[0].revents & POLLIN) break;  // SIGTERM/SIGINT: stop

    // Connections first, in the order of `fds` (the table's order): a new fd
    // accepted below has no entry in this round's vector.
    for (std::size_t i = 2; i < fds.size(); ++i) {
      const pollfd& p = fds[i];
      if (p.revents == 0) continue;
      auto it = conns.find(p.fd);
      Conn& c = it->second;
      bool keep = true;
      if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
        keep = (p.events & POLLIN) ? on_readable(p.fd, c) : on_writable(p.fd, c);
      }
      if (keep && (p.revents & POLLOUT)) keep = on_writable(p.fd, c);
      if (!keep) {
        close(p.fd);
        conns.erase(it);
      }
    }
    if ((fds[1].revents & POLLIN) && !accept_all(listener, conns, opts.protocol)) {
      accept_resume_at = Clock::now() + kAcceptBackOff;
    }
  }

  for (auto& [fd, c] : conns) close(fd);
  close(sigfd);
  close(listener);
  return 0;
}
