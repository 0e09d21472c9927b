// Model: epoll with EPOLLONESHOT + a worker pool, non-blocking fds. The main
// thread waits in epoll_wait and hands every ready connection, with its event
// bits, to a pool of --threads workers (default 4) through a queue. A worker
// drains the connection (recv until EAGAIN), feeds its Session, flushes (send
// until EAGAIN) and then re-arms it with EPOLL_CTL_MOD, or ends it with
// EPOLL_CTL_DEL + close. ONESHOT is what makes this safe: once an event is
// reported the registration is disabled until the MOD, so at most one thread
// owns a connection at a time and no lock guards a Conn.
// The re-arm mask is EPOLLONESHOT | EPOLLIN|EPOLLRDHUP while the connection
// still reads | EPOLLOUT while output is owed. After recv() = 0, or while
// reading is paused by back-pressure, EPOLLIN/EPOLLRDHUP are left out: they
// stay ready for good and would wake a worker again at once (a spin).
//
// Man pages: epoll(7) (Q&A "Modify will reread available I/O": the MOD
// reports what is already queued, so a re-armed fd never strands input),
// epoll_ctl(2) (EPOLLONESHOT "the associated file descriptor is internally
// disabled"; EPOLLRDHUP), epoll_wait(2), signalfd(2), accept(2) (accept4
// SOCK_NONBLOCK; EMFILE), recv(2), send(2), pthread_sigmask(3), signal(7).
//
// Ownership: main() owns the listener, the epoll fd and the signalfd.
// `Server::live` owns every Conn (heap, its fd, Session, OutBuf), guarded by
// live_mu; epoll data.ptr only borrows it. Between an event and its re-arm the
// Conn belongs to the one worker handling it, which alone may close and free
// it (DEL first, so no event can name it afterwards); after the MOD the worker
// never touches it again. The 4096-byte read buffer is a local of handle().
// Threads: main (epoll_wait, accept, dispatch) and N workers; SIGTERM is
// blocked in all of them and read from the signalfd by main.
//
// Errors (classified by errclass):
//   accept: accepted -> register; would_block -> done; retry -> again;
//           out_of_fds -> take the listener out of epoll for 50 ms (it is
//           level-triggered: left in, it would spin); fatal -> perror, exit 1.
//   recv:   progress -> feed, recv again; retry -> recv again; would_block ->
//           re-arm (an injected EAGAIN is harmless: the MOD re-reads
//           readiness); closed -> stop reading, close once the replies are
//           out; peer_gone -> close. EPOLLHUP/EPOLLERR are handled by recv.
//   send:   flush_nonblocking: would_block -> re-arm with EPOLLOUT;
//           peer_gone -> close.
//   epoll_ctl(MOD) failing -> close that connection only.
//   epoll_wait: retry -> wait again; fatal -> perror, exit 1.
// Back-pressure: a connection owing > 1 MiB stops reading; it is re-armed for
// EPOLLOUT only, and for EPOLLIN again once the owed bytes fell below.
// Shutdown: SIGTERM -> main stops dispatching, workers finish the connection
// in hand and exit, main joins them, closes every connection, exits 0.
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "errclass.h"
#include "net.h"
#include "outbuf.h"
#include "protocol.h"

namespace {

using iogate::IoClass;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadPauseAt = 1u << 20;  // owed bytes that stop reading
constexpr auto kAcceptBackOff = std::chrono::milliseconds(50);
char listener_tag, signal_tag;  // epoll data.ptr of the two non-connections

struct Conn {
  Conn(int f, iogate::Protocol p) : fd(f), session(p) {}
  int fd;
  iogate::Session session;
  iogate::OutBuf out;
  bool eof = false;  // recv returned 0: no more input
};

struct Server {
  int epfd = -1;
  std::mutex live_mu;
  std::unordered_map<Conn*, std::unique_ptr<Conn>> live;
  std::mutex q_mu;
  std::condition_variable q_cv;
  std::deque<std::pair<Conn*, uint32_t>> ready;  // connections a worker must handle
  bool stopping = false;                          // under q_mu
};

void finish(Server& s, Conn* c) {
  epoll_ctl(s.epfd, EPOLL_CTL_DEL, c->fd, nullptr);
  close(c->fd);
  std::lock_guard<std::mutex> lock(s.live_mu);
  s.live.erase(c);  // frees c
}

// The worker owns `c` for the duration of this call (ONESHOT disarmed it).
void handle(Server& s, Conn* c, uint32_t events) {
  bool gone = false;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    char buf[4096];
    std::string replies;
    while (!c->eof && !gone && c->out.size() <= kReadPauseAt) {
      ssize_t n = recv(c->fd, buf, sizeof buf, 0);
      int err = errno;
      IoClass k = iogate::classify_recv(n, err);
      if (k == IoClass::would_block) break;  // drained: the re-arm waits for more
      if (k == IoClass::progress) {
        replies.clear();
        c->session.feed(buf, static_cast<std::size_t>(n), replies);
        c->out.append(replies);
      } else if (k == IoClass::closed) {
        c->eof = true;
      } else if (k == IoClass::peer_gone) {
        gone = true;
      }  // retry (EINTR): recv again
    }
  }
  if (!gone && iogate::flush_nonblocking(c->fd, c->out) == IoClass::peer_gone) gone = true;
  if (gone || (c->eof && c->out.empty())) {
    finish(s, c);
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLONESHOT;
  if (!c->eof && c->out.size() <= kReadPauseAt) ev.events |= EPOLLIN | EPOLLRDHUP;
  if (!c->out.empty()) ev.events |= EPOLLOUT;
  ev.data.ptr = c;
  // The last touch: from here another worker may own `c`.
  if (epoll_ctl(s.epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
    std::perror("epoll_ctl(MOD)");  // ENOMEM: give up on this connection only
    finish(s, c);
  }
}

void worker(Server& s) {
  for (;;) {
    std::pair<Conn*, uint32_t> job;
    {
      std::unique_lock<std::mutex> lock(s.q_mu);
      s.q_cv.wait(lock, [&] { return s.stopping || !s.ready.empty(); });
      if (s.stopping) return;
      job = s.ready.front();
      s.ready.pop_front();
    }
    handle(s, job.first, job.second);
  }
}

// Returns false after EMFILE/ENFILE: clients are still queued, retry later.
bool accept_all(Server& s, int listener, iogate::Protocol proto) {
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
    auto owned = std::make_unique<Conn>(fd, proto);
    Conn* c = owned.get();
    c->out.append(c->session.greeting());
    {
      std::lock_guard<std::mutex> lock(s.live_mu);
      s.live.emplace(c, std::move(owned));
    }
    // Armed for EPOLLOUT too: the greeting is owed, and ADD reports the fd
    // writable at once, so a worker sends it. From here a worker may own c.
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLOUT | EPOLLONESHOT;
    ev.data.ptr = c;
    if (epoll_ctl(s.epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
      std::perror("epoll_ctl(ADD)");  // ENOMEM, ENOSPC: refuse this client only
      close(fd);
      std::lock_guard<std::mutex> lock(s.live_mu);
      s.live.erase(c);
    }
  }
}

bool watch_listener(int epfd, int listener, int op) {
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered, handled by main only
  ev.data.ptr = &listener_tag;
  return epoll_ctl(epfd, op, listener, op == EPOLL_CTL_DEL ? nullptr : &ev) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  iogate::ServerOptions opts = iogate::parse_options(argc, argv, "epoll_oneshot");
  iogate::ignore_sigpipe();
  // SIGTERM blocked before any thread exists (they inherit the mask) and read
  // from a signalfd. Every long-lived fd and the workers exist before
  // "listening on" is printed: the harness takes its fd baseline there.
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, nullptr);
  Server s;
  s.epfd = epoll_create1(EPOLL_CLOEXEC);
  int sigfd = signalfd(-1, &term, SFD_NONBLOCK | SFD_CLOEXEC);
  if (s.epfd < 0 || sigfd < 0) {
    std::perror("epoll_create1/signalfd");
    return 1;
  }
  epoll_event sev{};
  sev.events = EPOLLIN;
  sev.data.ptr = &signal_tag;
  epoll_ctl(s.epfd, EPOLL_CTL_ADD, sigfd, &sev);
  std::vector<std::thread> workers;
  for (int i = 0; i < opts.threads; ++i) workers.emplace_back(worker, std::ref(s));
  int listener = iogate::listen_on(opts, /*nonblocking=*/true);
  if (!watch_listener(s.epfd, listener, EPOLL_CTL_ADD)) {
    std::perror("epoll_ctl(ADD listener)");
    return 1;
  }

  std::vector<epoll_event> events(256);
  bool accept_resting = false;  // EMFILE: the listener is out of epoll until then
  Clock::time_point accept_resume_at{};
  bool stop = false;
  while (!stop) {
    int timeout = -1;
    if (accept_resting) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(accept_resume_at - Clock::now());
      timeout = left.count() > 0 ? static_cast<int>(left.count()) : 0;
    }
    int n = epoll_wait(s.epfd, events.data(), static_cast<int>(events.size()), timeout);
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
    {
      std::lock_guard<std::mutex> lock(s.q_mu);
      for (int i = 0; i < n; ++i) {
        void* p = events[i].data.ptr;
        if (p == &listener_tag) {
          listener_ready = true;
        } else if (p == &signal_tag) {
          stop = true;
        } else {
          s.ready.emplace_back(static_cast<Conn*>(p), uint32_t{events[i].events});
        }
      }
    }
    s.q_cv.notify_all();
    if (stop) break;
    if (accept_resting && Clock::now() >= accept_resume_at) {
      accept_resting = !watch_listener(s.epfd, listener, EPOLL_CTL_ADD);
      if (!accept_resting) listener_ready = true;
    }
    if (listener_ready && !accept_resting && !accept_all(s, listener, opts.protocol)) {
      watch_listener(s.epfd, listener, EPOLL_CTL_DEL);
      accept_resting = true;
      accept_resume_at = Clock::now() + kAcceptBackOff;
    }
  }

  {
    std::lock_guard<std::mutex> lock(s.q_mu);
    s.stopping = true;
  }
  s.q_cv.notify_all();
  for (auto& t : workers) t.join();
  for (auto& [c, owned] : s.live) close(c->fd);
  s.live.clear();
  close(listener);
  close(sigfd);
  close(s.epfd);
  return 0;
}
