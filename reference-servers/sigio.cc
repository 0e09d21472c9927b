// Model: signal-driven IO, one thread, non-blocking fds. The listener and
// every connection are O_NONBLOCK|O_ASYNC, owned by this process
// (F_SETOWN(getpid())) and set to raise the real-time signal SIGRTMIN+1
// (F_SETSIG) instead of SIGIO. That signal, SIGIO and SIGTERM are blocked and
// taken synchronously with sigwaitinfo(); si_fd names the fd, si_band says
// what happened (POLLIN, POLLOUT, POLLERR, POLLHUP). A signal is edge-style
// (one per change, never repeated while data stays queued), so every handler
// works until EAGAIN: the listener accepts until EAGAIN, a connection drains
// recv() until EAGAIN on an input band and flushes until empty or EAGAIN.
// Queue overflow: when the RT signal queue is full the kernel falls back to a
// plain SIGIO (fcntl(2) F_SETSIG) and the lost signals are unknowable. On
// SIGIO the pending RT signals are discarded (zero-timeout sigtimedwait) and
// every fd is polled once with poll(0) (a full scan), then the loop resumes.
// No periodic scan: idle, the process sleeps in sigwaitinfo.
//
// Man pages: fcntl(2) (F_SETOWN, F_SETSIG: "If the real-time signal queue
// overflows, the kernel falls back to SIGIO"; O_ASYNC), socket(7) (SIGIO,
// "the condition ... may have already disappeared"), sigaction(2) (si_fd,
// si_band), sigwaitinfo(2), sigtimedwait(2), accept(2) (O_ASYNC and
// O_NONBLOCK are not inherited: set on every new fd), recv(2), send(2),
// poll(2), signal(7).
//
// Ownership: main() owns the listener. `conns` (keyed by fd) owns every Conn:
// its fd, Session and OutBuf; erasing an entry is the only place a connection
// fd is closed. A queued signal may name an fd already closed (ignored) or
// reused by a newer connection (serviced: a spurious event costs one EAGAIN).
// The 4096-byte read buffer is a local of drain(). Single-threaded.
//
// Errors (classified by errclass):
//   accept: accepted -> arm O_ASYNC, then poll(0) the fd once: bytes that came
//           before O_ASYNC was set raise no signal; would_block -> done until
//           the next signal; retry -> again; out_of_fds -> stop, retry after
//           50 ms by sigtimedwait's timeout (no new signal would come for the
//           clients already queued); fatal -> perror, exit 1.
//   recv:   progress -> feed, recv again; retry -> again; would_block ->
//           drained; closed -> stop reading, close once the replies are out;
//           peer_gone -> close.
//   send:   flush_nonblocking: would_block -> the POLLOUT signal flushes
//           (the kernel raises it once space frees after a real EAGAIN);
//           peer_gone -> close.
//   sigwaitinfo: retry (EINTR) -> wait again; EAGAIN (sigtimedwait timeout)
//           -> the accept back-off ended; fatal -> perror, exit 1.
// Back-pressure: while a connection owes > 1 MiB the drain stops; a later
// flush that brings it below resumes the drain in code (no new signal would
// report the input already queued).
// Shutdown: SIGTERM (in the waited set) -> close everything, exit 0.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "errclass.h"
#include "net.h"
#include "outbuf.h"
#include "protocol.h"

namespace {

using iogate::IoClass;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadPauseAt = 1u << 20;  // owed bytes that pause the drain
constexpr auto kAcceptBackOff = std::chrono::milliseconds(50);
constexpr short kInputBands = POLLIN | POLLPRI | POLLERR | POLLHUP;

struct Conn {
  Conn(int f, iogate::Protocol p) : fd(f), session(p) {}
  int fd;
  iogate::Session session;
  iogate::OutBuf out;
  bool eof = false;          // recv returned 0: no more input
  bool closing = false;      // peer gone: close now
  bool read_paused = false;  // drain stopped at kReadPauseAt, input may be left
};

using ConnTable = std::unordered_map<int, std::unique_ptr<Conn>>;

// The owner, the signal, then O_ASYNC: the first signal is already the RT one.
bool arm_async(int fd, int sig) {
  int flags = fcntl(fd, F_GETFL, 0);
  return flags >= 0 && fcntl(fd, F_SETOWN, getpid()) == 0 && fcntl(fd, F_SETSIG, sig) == 0 &&
         fcntl(fd, F_SETFL, flags | O_NONBLOCK | O_ASYNC) == 0;
}

// recv until EAGAIN (the signal is spent only then), EOF, an error, or the
// back-pressure limit.
void drain(Conn& c) {
  char buf[4096];
  std::string replies;
  c.read_paused = false;
  while (!c.eof && !c.closing) {
    if (c.out.size() > kReadPauseAt) {
      c.read_paused = true;
      return;
    }
    ssize_t n = recv(c.fd, buf, sizeof buf, 0);
    int err = errno;
    switch (iogate::classify_recv(n, err)) {
      case IoClass::progress:
        replies.clear();
        c.session.feed(buf, static_cast<std::size_t>(n), replies);
        c.out.append(replies);
        break;
      case IoClass::retry:
        break;
      case IoClass::would_block:
        return;
      case IoClass::closed:
        c.eof = true;
        return;
      case IoClass::peer_gone:
        c.closing = true;
        return;
    }
  }
}

// One event for `fd`; closes and frees the connection when it is done.
void service(ConnTable& conns, int fd, bool readable) {
  auto it = conns.find(fd);
  if (it == conns.end()) return;  // a signal queued before that fd was closed
  Conn& c = *it->second;
  for (;;) {
    if (readable) drain(c);
    if (!c.closing && iogate::flush_nonblocking(c.fd, c.out) == IoClass::peer_gone) {
      c.closing = true;
    }
    if (c.closing || !c.read_paused || c.out.size() > kReadPauseAt) break;
    readable = true;  // the flush made room: resume the paused drain
  }
  if (c.closing || (c.eof && c.out.empty())) {
    close(fd);
    conns.erase(it);
  }
}

// Returns false after EMFILE/ENFILE: clients are still queued, retry later.
bool accept_all(int listener, int sig, ConnTable& conns, iogate::Protocol proto) {
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
    if (!arm_async(fd, sig)) {
      std::perror("fcntl(O_ASYNC)");  // refuse this client only
      close(fd);
      continue;
    }
    auto conn = std::make_unique<Conn>(fd, proto);
    conn->out.append(conn->session.greeting());
    conns.emplace(fd, std::move(conn));
    pollfd p{fd, POLLIN, 0};  // input that arrived before O_ASYNC raised no signal
    int ready;
    do ready = poll(&p, 1, 0);
    while (ready < 0 && errno == EINTR);
    service(conns, fd, ready > 0 && (p.revents & kInputBands));
  }
}

// After a queue overflow: forget the RT signals still queued, poll every fd.
void full_scan(int listener, bool listener_on, const sigset_t& rt, ConnTable& conns,
               bool& listener_ready) {
  timespec zero{0, 0};
  while (sigtimedwait(&rt, nullptr, &zero) > 0) {
  }
  std::vector<pollfd> fds;
  if (listener_on) fds.push_back({listener, POLLIN, 0});
  for (const auto& [fd, c] : conns) {
    short want = 0;
    if (!c->eof && c->out.size() <= kReadPauseAt) want |= POLLIN;
    if (!c->out.empty()) want |= POLLOUT;
    fds.push_back({fd, want, 0});
  }
  int n;
  do n = poll(fds.data(), fds.size(), 0);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return;
  for (const pollfd& p : fds) {
    if (p.revents == 0) continue;
    if (p.fd == listener) {
      listener_ready = true;
    } else {
      service(conns, p.fd, (p.revents & kInputBands) != 0);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  iogate::ServerOptions opts = iogate::parse_options(argc, argv, "sigio");
  iogate::ignore_sigpipe();
  const int sig = SIGRTMIN + 1;
  sigset_t waited, rt;
  sigemptyset(&waited);
  sigaddset(&waited, sig);
  sigaddset(&waited, SIGIO);
  sigaddset(&waited, SIGTERM);
  sigemptyset(&rt);
  sigaddset(&rt, sig);
  // Blocked before anything can raise them; taken only by sigwaitinfo.
  pthread_sigmask(SIG_BLOCK, &waited, nullptr);
  int listener = iogate::listen_on(opts, /*nonblocking=*/true);
  if (!arm_async(listener, sig)) {
    std::perror("fcntl(O_ASYNC listener)");
    return 1;
  }

  ConnTable conns;
  bool accept_resting = false;  // EMFILE: accept again when the timer ends
  Clock::time_point accept_resume_at{};
  bool listener_ready = true;  // clients may have queued before O_ASYNC was set
  for (;;) {
    if (accept_resting && Clock::now() >= accept_resume_at) {
      accept_resting = false;
      listener_ready = true;
    }
    if (listener_ready && !accept_resting && !accept_all(listener, sig, conns, opts.protocol)) {
      accept_resting = true;
      accept_resume_at = Clock::now() + kAcceptBackOff;
    }
    listener_ready = false;

    siginfo_t si{};
    int got;
    if (accept_resting) {
      auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(accept_resume_at - Clock::now());
      timespec ts{0, left.count() > 0 ? static_cast<long>(left.count()) : 0};
      got = sigtimedwait(&waited, &si, &ts);
      if (got < 0 && errno == EAGAIN) continue;  // the back-off ended
    } else {
      got = sigwaitinfo(&waited, &si);
    }
    int err = errno;
    switch (iogate::classify_wait(got, err)) {
      case iogate::WaitClass::ready:
        break;
      case iogate::WaitClass::retry:
        continue;
      case iogate::WaitClass::fatal:
        errno = err;
        std::perror("sigwaitinfo");
        return 1;
    }
    if (got == SIGTERM) break;
    if (got == SIGIO) {  // the RT queue overflowed: events were lost
      full_scan(listener, !accept_resting, rt, conns, listener_ready);
    } else if (si.si_fd == listener) {
      listener_ready = true;
    } else {
      service(conns, si.si_fd, (si.si_band & kInputBands) != 0);
    }
  }

  for (auto& [fd, c] : conns) close(fd);
  conns.clear();
  close(listener);
  return 0;
}
