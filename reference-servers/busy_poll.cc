// Model: non-blocking busy poll. Every fd is O_NONBLOCK and one thread loops
// over all of them without any readiness API: each pass accepts every queued
// client, makes ONE recv per connection and flushes its pending output. A call
// that would block answers EAGAIN at once, so the loop never waits in the
// kernel; instead, after a pass that moved nothing it sleeps, 1 ms then
// doubling up to 10 ms, back to 0 on the first progress. That bounded back-off
// is what keeps an idle busy-poll server near 0 % CPU instead of 100 %.
//
// Man pages: accept(2) (accept4 SOCK_NONBLOCK: flags are not inherited from
// the listener; EAGAIN; EMFILE), recv(2) and send(2) (EAGAIN/EWOULDBLOCK on a
// non-blocking socket; short counts; MSG_NOSIGNAL), nanosleep(2) (EINTR when
// a handler runs), sigaction(2) (a SIGTERM handler that only sets a flag),
// signal-safety(7).
//
// Ownership: main() owns the listener. `conns` (std::map keyed by fd) owns
// every connection: its fd, Session and OutBuf; erasing the entry is the only
// place a connection fd is closed. The 4096-byte read buffer is a local of
// poll_conn(). Single-threaded.
//
// Errors (classified by errclass):
//   accept: accepted -> register, send the greeting; would_block -> done for
//           this pass; retry -> accept again; out_of_fds -> skip accepting for
//           50 ms (the queued clients wait; trying at once would spin);
//           fatal -> perror, exit 1.
//   recv:   progress -> feed, flush; would_block / retry -> try on the next
//           pass; closed -> stop reading, close once the owed replies are
//           sent; peer_gone -> close now.
//   send:   flush_nonblocking: would_block -> the rest stays in the OutBuf for
//           the next pass; peer_gone -> close.
// Back-pressure: a connection owing >= 1 MiB is not read until its peer reads.
// Shutdown: SIGTERM/SIGINT set g_stop (and cut a sleep short); the loop sees
// it before its next pass, closes every connection and exits 0.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
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
constexpr long kMaxIdleSleepNs = 10 * 1000 * 1000;  // 10 ms

volatile sig_atomic_t g_stop = 0;

extern "C" void on_stop(int) { g_stop = 1; }

struct Conn {
  explicit Conn(iogate::Protocol p) : session(p) {}
  iogate::Session session;
  iogate::OutBuf out;
  bool eof = false;  // recv returned 0: no more reading, close when flushed
};

using ConnTable = std::map<int, Conn>;

enum class AcceptResult { idle, accepted, out_of_fds };

AcceptResult accept_all(int listener, ConnTable& conns, iogate::Protocol proto) {
  AcceptResult result = AcceptResult::idle;
  for (;;) {
    int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    int err = errno;
    switch (iogate::classify_accept(fd, err)) {
      case iogate::AcceptClass::accepted:
        break;
      case iogate::AcceptClass::would_block:
        return result;
      case iogate::AcceptClass::retry:
        continue;
      case iogate::AcceptClass::out_of_fds:
        return AcceptResult::out_of_fds;
      case iogate::AcceptClass::fatal:
        errno = err;
        std::perror("accept");
        std::exit(1);
    }
    result = AcceptResult::accepted;
    Conn& c = conns.emplace(fd, Conn(proto)).first->second;
    c.out.append(c.session.greeting());  // sent by this pass's flush
  }
}

// One recv and one flush. Sets `progress` when a byte moved (or EOF came);
// returns false when the connection must be closed.
bool poll_conn(int fd, Conn& c, bool& progress) {
  if (!c.eof && c.out.size() < kReadPauseAt) {
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    int err = errno;
    switch (iogate::classify_recv(n, err)) {
      case IoClass::progress: {
        progress = true;
        std::string replies;
        c.session.feed(buf, static_cast<std::size_t>(n), replies);
        c.out.append(replies);
        break;
      }
      case IoClass::would_block:  // nothing yet: the next pass asks again
      case IoClass::retry:        // EINTR: likewise
        break;
      case IoClass::closed:
        progress = true;
        c.eof = true;
        break;
      case IoClass::peer_gone:
        return false;
    }
  }
  std::size_t owed = c.out.size();
  if (owed > 0 && iogate::flush_nonblocking(fd, c.out) == IoClass::peer_gone) return false;
  if (c.out.size() < owed) progress = true;
  return !(c.eof && c.out.empty());
}

}  // namespace

int main(int argc, char** argv) {
  iogate::ServerOptions opts = iogate::parse_options(argc, argv, "busy_poll");
  iogate::ignore_sigpipe();
  struct sigaction sa {};
  sa.sa_handler = on_stop;  // no SA_RESTART: the idle sleep ends with EINTR
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  int listener = iogate::listen_on(opts, /*nonblocking=*/true);

  ConnTable conns;
  Clock::time_point accept_resume_at{};  // listener rests until then after EMFILE
  long idle_sleep_ns = 0;                // grows while passes move nothing
  while (!g_stop) {
    bool progress = false;
    if (Clock::now() >= accept_resume_at) {
      switch (accept_all(listener, conns, opts.protocol)) {
        case AcceptResult::accepted:
          progress = true;
          break;
        case AcceptResult::out_of_fds:
          accept_resume_at = Clock::now() + kAcceptBackOff;
          break;
        case AcceptResult::idle:
          break;
      }
    }
    for (auto it = conns.begin(); it != conns.end();) {
      if (poll_conn(it->first, it->second, progress)) {
        ++it;
      } else {
        close(it->first);
        it = conns.erase(it);
      }
    }

    if (progress) {
      idle_sleep_ns = 0;  // busy: go round again at once
      continue;
    }
    idle_sleep_ns = std::clamp(idle_sleep_ns * 2, 1000L * 1000, kMaxIdleSleepNs);
    timespec pause{0, idle_sleep_ns};
    nanosleep(&pause, nullptr);  // EINTR (SIGTERM) just ends the pause early
  }

  for (auto& [fd, c] : conns) close(fd);
  close(listener);
  return 0;
}
