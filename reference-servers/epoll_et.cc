// Model: epoll, edge-triggered (EPOLLET), one thread, non-blocking fds.
// An edge is reported once per change of readiness, so every handler works
// until the kernel says EAGAIN: the listener accepts until EAGAIN, a
// connection drains recv() until EAGAIN or a short read (epoll(7): a read
// that returns less than asked proves the input exhausted; not when the event
// also said EPOLLRDHUP/EPOLLHUP, then on to the 0), then flushes its output
// until it is empty or EAGAIN. A connection is registered once, for both.
//
// Man pages: epoll(7) (ET: "waiting for an event only after read(2) or
// write(2) return EAGAIN"; pitfall "If using an event cache": a later event
// of the same batch may name a connection already closed), epoll_ctl(2)
// (EPOLLET, EPOLLRDHUP; EPOLLERR/EPOLLHUP are always reported), epoll_wait(2),
// accept(2) (accept4 SOCK_NONBLOCK; EMFILE), recv(2), send(2), signal(7).
//
// Ownership: main() owns the listener and the epoll fd. `live` owns every
// Conn (heap-allocated; its fd, Session, OutBuf); epoll_event.data.ptr only
// borrows it (nullptr marks the listener). Closing moves the Conn to
// `graveyard`, freed once the whole batch of events has been handled.
// The 4096-byte read buffer is a local of drain(). Single-threaded.
//
// Errors (classified by errclass):
//   accept: accepted -> register; would_block -> done until the next edge;
//           retry -> accept again; out_of_fds -> stop, retry the loop 50 ms
//           later by epoll_wait's timeout (no new edge would come for the
//           clients already queued); fatal -> perror, exit 1.
//   recv:   progress -> feed, recv again; retry -> recv again; would_block ->
//           drained; closed -> no more input, close once the owed replies are
//           sent; peer_gone -> close. EPOLLERR/EPOLLHUP are drained too: recv
//           reports the truth (the data still queued, then 0 or the error).
//   send:   flush_nonblocking: would_block -> the next EPOLLOUT edge flushes;
//           peer_gone -> close.
//   epoll_wait: retry (EINTR) -> wait again; fatal -> perror, exit 1.
// Back-pressure: while a connection owes > 4 MiB the drain stops
// (read_paused); a later flush that brings it below resumes the drain in code,
// since ET will not report the input already queued again.
#include <sys/epoll.h>
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

constexpr std::size_t kReadPauseAt = 4u << 20;  // owed bytes that pause the drain
constexpr auto kAcceptBackOff = std::chrono::milliseconds(50);

struct Conn {
  Conn(int f, iogate::Protocol p) : fd(f), session(p) {}
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  int fd;
  iogate::Session session;
  iogate::OutBuf out;
  bool eof = false;          // recv returned 0: no more input
  bool closing = false;      // peer gone: close after this event
  bool closed = false;       // fd closed; the struct waits for the batch end
  bool read_paused = false;  // drain stopped at kReadPauseAt, input may be left
};

using Registry = std::unordered_map<Conn*, std::unique_ptr<Conn>>;

// recv until EAGAIN (the edge is spent only then), EOF, an error, or the
// back-pressure limit.
void drain(Conn& c, bool until_eagain) {
  char buf[4096];
  std::string replies;
  c.read_paused = false;
  for (;;) {
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
        if (!until_eagain && static_cast<std::size_t>(n) < sizeof buf) return;  // short: exhausted
        break;  // and recv again: more may be queued, no new edge will say so
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

void service(Conn& c, bool readable, bool hangup) {
  for (;;) {
    if (readable && !c.eof && !c.closing) drain(c, hangup);
    if (!c.closing && iogate::flush_nonblocking(c.fd, c.out) == IoClass::peer_gone) {
      c.closing = true;
    }
    // A paused drain left input in the kernel that ET will not report again:
    // once the flush made room, resume it here.
    if (c.closing || !c.read_paused || c.out.size() > kReadPauseAt) return;
    readable = hangup = true;  // what is left in the kernel is unknown: drain to EAGAIN
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
    // The greeting leaves on the first event: epoll_ctl(ADD) reports the fd's
    // current readiness, so EPOLLOUT (writable from the start) arrives at once.
    conn->out.append(conn->session.greeting());
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP;
    ev.data.ptr = conn.get();
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
      std::perror("epoll_ctl(ADD)");  // ENOMEM, ENOSPC: refuse this client only
      close(fd);
      continue;
    }
    Conn* key = conn.get();
    live.emplace(key, std::move(conn));
  }
}

}  // namespace

int main(int argc, char** argv) {
  iogate::ServerOptions opts = iogate::parse_options(argc, argv, "epoll_et");
  iogate::ignore_sigpipe();
  // Every long-lived fd exists before "listening on" is printed: the harness
  // takes its fd-count baseline at that line.
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) {
    std::perror("epoll_create1");
    return 1;
  }
  int listener = iogate::listen_on(opts, /*nonblocking=*/true);
  epoll_event lev{};
  lev.events = EPOLLIN | EPOLLET;
  lev.data.ptr = nullptr;  // the listener
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, listener, &lev) < 0) {
    std::perror("epoll_ctl(ADD listener)");
    return 1;
  }

  Registry live;
  std::vector<std::unique_ptr<Conn>> graveyard;
  std::vector<epoll_event> events(256);
  bool accept_resting = false;  // EMFILE: the accept loop waits for the timer
  Clock::time_point accept_resume_at{};
  for (;;) {
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
      auto* c = static_cast<Conn*>(events[i].data.ptr);
      if (c == nullptr) {
        listener_ready = true;
        continue;
      }
      if (c->closed) continue;  // closed earlier in this batch
      const uint32_t ev = events[i].events;
      service(*c, (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) != 0,
              (ev & (EPOLLRDHUP | EPOLLERR | EPOLLHUP)) != 0);
      if (c->closing || (c->eof && c->out.empty())) close_conn(epfd, *c, live, graveyard);
    }
    if (accept_resting && Clock::now() >= accept_resume_at) {
      accept_resting = false;
      listener_ready = true;
    }
    if (listener_ready && !accept_resting && !accept_all(epfd, listener, opts.protocol, live)) {
      accept_resting = true;
      accept_resume_at = Clock::now() + kAcceptBackOff;
    }
    graveyard.clear();  // no event of this batch can point at them any more
  }
}
