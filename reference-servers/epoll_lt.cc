// Model: epoll, level-triggered (the default), one thread, non-blocking fds.
// Level-triggered epoll reports an fd in every epoll_wait while it is ready,
// so a handler may stop early: ONE recv per readiness event, the rest comes
// next round. The price is the interest set: EPOLLOUT is registered
// (EPOLL_CTL_MOD) only while a connection owes bytes and removed once its
// queue drains (a socket is nearly always writable: left armed, epoll_wait
// returns at once forever, a 100 % CPU spin), and EPOLLIN/EPOLLRDHUP are
// dropped after recv() = 0 (a half-closed peer stays "readable" for good).
//
// Man pages: epoll(7) (level-triggered is "simply a faster poll(2)"; "If
// using an event cache": a later event of the same batch may name a
// connection already closed), epoll_ctl(2) (EPOLL_CTL_MOD; EPOLLRDHUP "stream
// socket peer closed connection, or shut down writing half"; EPOLLERR and
// EPOLLHUP are always reported), epoll_wait(2) (EINTR), accept(2) (accept4
// SOCK_NONBLOCK; EMFILE), recv(2), send(2), signalfd(2), signal(7).
//
// Ownership: main() owns the listener, the signalfd and the epoll fd. `live`
// owns every Conn (heap-allocated: fd, Session, OutBuf, the registered event
// mask); epoll_event.data.ptr only borrows it (&kListenerTag / &kSignalTag
// mark the two fixed fds). Closing moves the Conn to `graveyard`, freed once
// the whole batch of events has been handled. The 4096-byte read buffer is a
// local of on_readable(). Single-threaded.
//
// Errors (classified by errclass):
//   accept: accepted -> register EPOLLIN|EPOLLRDHUP, flush the greeting;
//           would_block -> done; retry -> accept again; out_of_fds -> stop and
//           MOD the listener to no events for 50 ms (it stays readable: LT
//           would report it at once, forever), then re-arm it; fatal ->
//           perror, exit 1.
//   recv:   progress -> feed, flush; would_block / retry -> keep, LT reports
//           the fd again; closed -> drop EPOLLIN, close once the owed replies
//           are sent; peer_gone -> close. EPOLLRDHUP/EPOLLHUP/EPOLLERR count as
//           readable: recv reports the truth (queued data, then 0 or the error).
//   send:   flush_nonblocking: would_block -> arm EPOLLOUT; peer_gone -> close.
//   epoll_wait: retry (EINTR) -> wait again; fatal -> perror, exit 1.
// Back-pressure: a connection owing >= 1 MiB drops EPOLLIN until its peer reads.
// Shutdown: SIGTERM/SIGINT make the signalfd readable; the loop closes every
// connection and exits 0.
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
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

constexpr std::size_t kReadPauseAt = 1 << 20;  // owed bytes that stop reading
constexpr auto kAcceptBackOff = std::chrono::milliseconds(50);
char kListenerTag, kSignalTag;  // epoll_data.ptr of the two fixed fds

struct Conn {
  Conn(int f, iogate::Protocol p) : fd(f), session(p) {}
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  int fd;
  iogate::Session session;
  iogate::OutBuf out;
  uint32_t registered = 0;  // the events epoll currently watches for this fd
  bool eof = false;         // recv returned 0: no more input
  bool closing = false;     // peer gone: close after this event
  bool closed = false;      // fd closed; the struct waits for the batch end
};

using Registry = std::unordered_map<Conn*, std::unique_ptr<Conn>>;

// The interest set follows the state: input while we still read and owe
// less than the limit, output only while something is owed.
uint32_t wanted_events(const Conn& c) {
  uint32_t ev = 0;
  if (!c.eof && c.out.size() < kReadPauseAt) ev |= EPOLLIN | EPOLLRDHUP;
  if (!c.out.empty()) ev |= EPOLLOUT;
  return ev;
}

void update_interest(int epfd, Conn& c) {
  uint32_t want = wanted_events(c);
  if (want == c.registered) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.ptr = &c;
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, c.fd, &ev) < 0) {
    std::perror("epoll_ctl(MOD)");  // ENOMEM: give this client up
    c.closing = true;
    return;
  }
  c.registered = want;
}

// One recv (level-triggered: the fd is reported again while data remains).
void on_readable(Conn& c) {
  char buf[4096];
  ssize_t n = recv(c.fd, buf, sizeof buf, 0);
  int err = errno;
  switch (iogate::classify_recv(n, err)) {
    case IoClass::progress: {
      std::string replies;
      c.session.feed(buf, static_cast<std::size_t>(n), replies);
      c.out.append(replies);
      break;
    }
    case IoClass::would_block:  // spurious readiness: nothing after all
    case IoClass::retry:        // EINTR: LT reports the fd again
      break;
    case IoClass::closed:
      c.eof = true;
      break;
    case IoClass::peer_gone:
      c.closing = true;
      break;
  }
}

void close_conn(int epfd, Conn& c, Registry& live, std::vector<std::unique_ptr<Conn>>& graveyard) {
  epoll_ctl(epfd, EPOLL_CTL_DEL, c.fd, nullptr);
  close(c.fd);
  c.closed = true;
  auto it = live.find(&c);
  graveyard.push_back(std::move(it->second));
  live.erase(it);
}

// Returns false after EMFILE/ENFILE: clients are still queued, retry later.
bool accept_all(int epfd, int listener, iogate::Protocol proto, Registry& live) {
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
    auto conn = std::make_unique<Conn>(fd, proto);
    conn->out.append(conn->session.greeting());
    if (iogate::flush_nonblocking(fd, conn->out) == IoClass::peer_gone) {
      close(fd);
      continue;
    }
    epoll_event ev{};
    ev.events = wanted_events(*conn);  // EPOLLOUT only if the greeting is still owed
    ev.data.ptr = conn.get();
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
      std::perror("epoll_ctl(ADD)");  // ENOMEM, ENOSPC: refuse this client only
      close(fd);
      continue;
    }
    conn->registered = ev.events;
    Conn* key = conn.get();
    live.emplace(key, std::move(conn));
  }
}

// EPOLLIN, or 0 to leave the listener registered but silent while it rests.
void arm_listener(int epfd, int listener, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = &kListenerTag;
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, listener, &ev) < 0) {
    std::perror("epoll_ctl(MOD listener)");  // the loop itself is broken
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  iogate::ServerOptions opts = iogate::parse_options(argc, argv, "epoll_lt");
  iogate::ignore_sigpipe();
  // Every long-lived fd exists before "listening on" (the harness baseline).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigprocmask(SIG_BLOCK, &stop_signals, nullptr);
  int sigfd = signalfd(-1, &stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (sigfd < 0 || epfd < 0) {
    std::perror("signalfd/epoll_create1");
    return 1;
  }
  int listener = iogate::listen_on(opts, /*nonblocking=*/true);
  epoll_event sev{}, lev{};
  sev.events = EPOLLIN;
  sev.data.ptr = &kSignalTag;
  lev.events = EPOLLIN;  // level-triggered: no EPOLLET
  lev.data.ptr = &kListenerTag;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &sev) < 0 ||
      epoll_ctl(epfd, EPOLL_CTL_ADD, listener, &lev) < 0) {
    std::perror("epoll_ctl(ADD)");
    return 1;
  }

  Registry live;
  std::vector<std::unique_ptr<Conn>> graveyard;
  std::vector<epoll_event> events(256);
  bool accept_resting = false;  // EMFILE: the listener is unarmed until the timer
  Clock::time_point accept_resume_at{};
  for (bool running = true; running;) {
    int timeout = -1;
    if (accept_resting) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(accept_resume_at - Clock::now());
      timeout = left.count() > 0 ? static_cast<int>(left.count()) : 0;
    }
    int n = epoll_wait(epfd, events.data(), static_cast<int>(events.size()), timeout);
    int err = errno;
    switch (iogate::classify_wait(n, err)) {
      case iogate::WaitClass::ready:
        break;
      case iogate::WaitClass::retry:
        continue;
      case iogate::WaitClass::fatal:
        errno = err;
        std::perror("epoll_wait");
        return 1;
    }

    bool listener_ready = false;
    for (int i = 0; i < n; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == &kSignalTag) {
        running = false;  // SIGTERM/SIGINT: stop after this batch
        continue;
      }
      if (tag == &kListenerTag) {
        listener_ready = true;
        continue;
      }
      auto* c = static_cast<Conn*>(tag);
      if (c->closed) continue;  // closed earlier in this batch
      const uint32_t ev = events[i].events;
      if ((ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && !c->eof) on_readable(*c);
      if (!c->closing && !c->out.empty() &&
          iogate::flush_nonblocking(c->fd, c->out) == IoClass::peer_gone) {
        c->closing = true;
      }
      if (!c->closing && !(c->eof && c->out.empty())) update_interest(epfd, *c);
      if (c->closing || (c->eof && c->out.empty())) close_conn(epfd, *c, live, graveyard);
    }
    if (accept_resting && Clock::now() >= accept_resume_at) {
      accept_resting = false;
      arm_listener(epfd, listener, EPOLLIN);
      listener_ready = true;  // the clients queued meanwhile
    }
    if (listener_ready && !accept_resting && !accept_all(epfd, listener, opts.protocol, live)) {
      arm_listener(epfd, listener, 0);  // silent for 50 ms
      accept_resting = true;
      accept_resume_at = Clock::now() + kAcceptBackOff;
    }
    graveyard.clear();  // no event of this batch can point at them any more
  }

  for (auto& [key, c] : live) close(c->fd);
  close(listener);
  close(epfd);
  close(sigfd);
  return 0;
}
