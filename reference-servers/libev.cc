// Model: libev (<ev.h>, -lev). One ev_io watcher for the listener and two per
// connection (EV_READ, EV_WRITE) on a loop whose backend is forced to epoll
// (EVBACKEND_EPOLL; libev uses it level-triggered). ONE recv() per read
// callback (libev calls it again while data remains). The write watcher runs
// (ev_io_start) only while output is owed and is stopped (ev_io_stop) as
// soon as it is flushed; the read watcher is stopped at EOF and for
// back-pressure. SIGTERM/SIGINT arrive as ev_signal watchers.
//
// Man pages / docs: libev(3) ("ev_io ... level-triggered"; stop a watcher
// before closing its fd; ev_io_stop also clears a pending event, so a freed
// watcher is never invoked later in the same iteration; the epoll backend
// drops interest lazily, on the next event it no longer wants), accept(2)
// (accept4 SOCK_NONBLOCK; EMFILE), recv(2), send(2), signal(7).
//
// Ownership: main() owns the loop, the listener fd and its watcher, the
// back-off timer and the signal watchers (all in one Server). Server::conns
// owns every Conn (its fd, both watchers, Session and OutBuf); close_conn()
// stops both watchers, closes the fd and deletes the Conn. The 4096-byte read
// buffer is a local of on_readable(). Single-threaded: every callback runs in
// ev_run().
//
// Errors (classified by errclass):
//   accept: accepted -> new Conn; would_block -> done; retry -> accept
//           again; out_of_fds -> the listener watcher stops for 50 ms (an
//           ev_timer restarts it; LT would report it again at once); fatal ->
//           exit 1.
//   recv:   progress -> feed, flush; would_block / retry -> return, called
//           again; closed -> stop reading, close once the owed replies are
//           sent; peer_gone -> close now.
//   send:   flush_nonblocking: would_block -> start the write watcher;
//           peer_gone -> close.
// Back-pressure: a connection owing >= 1 MiB has its read watcher stopped.
// Shutdown: the ev_signal callback calls ev_break; every Conn is closed, the
// watchers stopped and the loop destroyed; exit 0.
#include <ev.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_set>

#include "errclass.h"
#include "net.h"
#include "outbuf.h"
#include "protocol.h"

namespace {

using iogate::IoClass;

constexpr std::size_t kReadPauseAt = 1 << 20;  // owed bytes that stop reading
constexpr ev_tstamp kAcceptBackOff = 0.050;    // seconds

struct Server;

struct Conn {
  Conn(Server& s, int f, iogate::Protocol p) : srv(s), fd(f), session(p) {}
  Server& srv;
  int fd;
  iogate::Session session;
  iogate::OutBuf out;
  ev_io rd;           // EV_READ, data = this
  ev_io wr;           // EV_WRITE, data = this
  bool eof = false;   // recv returned 0: no more input
};

struct Server {
  struct ev_loop* loop = nullptr;
  int listener = -1;
  ev_io accept_w;   // EV_READ on the listener
  ev_timer resume;  // restarts accept_w after EMFILE
  ev_signal sigterm, sigint;
  iogate::Protocol proto = iogate::Protocol::seq;
  std::unordered_set<Conn*> conns;
};

void close_conn(Conn* c) {
  ev_io_stop(c->srv.loop, &c->rd);  // also forgets an event pending for it
  ev_io_stop(c->srv.loop, &c->wr);
  close(c->fd);
  c->srv.conns.erase(c);
  delete c;
}

void set_active(struct ev_loop* loop, ev_io* w, bool on) {
  if (on && !ev_is_active(w)) ev_io_start(loop, w);
  if (!on && ev_is_active(w)) ev_io_stop(loop, w);
}

// Starts/stops the watchers to match what the connection needs now, or
// closes it when everything owed was sent after EOF.
void update(Conn* c) {
  if (c->eof && c->out.empty()) return close_conn(c);
  set_active(c->srv.loop, &c->rd, !c->eof && c->out.size() < kReadPauseAt);
  set_active(c->srv.loop, &c->wr, !c->out.empty());
}

void on_readable(struct ev_loop*, ev_io* w, int) {
  Conn* c = static_cast<Conn*>(w->data);
  char buf[4096];
  ssize_t n = recv(c->fd, buf, sizeof buf, 0);
  int err = errno;
  switch (iogate::classify_recv(n, err)) {
    case IoClass::progress: {
      std::string replies;
      c->session.feed(buf, static_cast<std::size_t>(n), replies);
      c->out.append(replies);
      if (iogate::flush_nonblocking(c->fd, c->out) == IoClass::peer_gone) return close_conn(c);
      break;
    }
    case IoClass::would_block:  // spurious readiness or an injected EAGAIN
    case IoClass::retry:        // EINTR: libev calls us again
      return;
    case IoClass::closed:
      c->eof = true;
      break;
    case IoClass::peer_gone:
      return close_conn(c);
  }
  update(c);
}

void on_writable(struct ev_loop*, ev_io* w, int) {
  Conn* c = static_cast<Conn*>(w->data);
  if (iogate::flush_nonblocking(c->fd, c->out) == IoClass::peer_gone) return close_conn(c);
  update(c);
}

void on_accept(struct ev_loop* loop, ev_io* w, int) {
  Server& s = *static_cast<Server*>(w->data);
  for (;;) {
    int fd = accept4(s.listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    int err = errno;
    switch (iogate::classify_accept(fd, err)) {
      case iogate::AcceptClass::accepted:
        break;
      case iogate::AcceptClass::would_block:
        return;
      case iogate::AcceptClass::retry:
        continue;
      case iogate::AcceptClass::out_of_fds:
        ev_io_stop(loop, &s.accept_w);
        ev_timer_set(&s.resume, kAcceptBackOff, 0.);
        ev_timer_start(loop, &s.resume);
        return;
      case iogate::AcceptClass::fatal:
        errno = err;
        std::perror("accept");
        std::exit(1);
    }
    Conn* c = new Conn(s, fd, s.proto);
    s.conns.insert(c);
    ev_io_init(&c->rd, on_readable, fd, EV_READ);
    ev_io_init(&c->wr, on_writable, fd, EV_WRITE);
    c->rd.data = c->wr.data = c;
    c->out.append(c->session.greeting());
    if (iogate::flush_nonblocking(fd, c->out) == IoClass::peer_gone) {
      close_conn(c);
      continue;
    }
    update(c);
  }
}

void on_resume(struct ev_loop* loop, ev_timer* w, int) {
  ev_io_start(loop, &static_cast<Server*>(w->data)->accept_w);
}

void on_signal(struct ev_loop* loop, ev_signal*, int) { ev_break(loop, EVBREAK_ALL); }

}  // namespace

int main(int argc, char** argv) {
  iogate::ServerOptions opts = iogate::parse_options(argc, argv, "libev");
  iogate::ignore_sigpipe();
  Server s;
  s.proto = opts.protocol;
  // The epoll fd (now) and libev's signal eventfd (at the first
  // ev_signal_start) exist before "listening on": the harness's fd baseline.
  s.loop = ev_default_loop(EVBACKEND_EPOLL | EVFLAG_NOENV);
  if (s.loop == nullptr) {
    std::fprintf(stderr, "libev: no epoll backend\n");
    return 1;
  }
  ev_signal_init(&s.sigterm, on_signal, SIGTERM);
  ev_signal_init(&s.sigint, on_signal, SIGINT);
  ev_signal_start(s.loop, &s.sigterm);
  ev_signal_start(s.loop, &s.sigint);
  ev_timer_init(&s.resume, on_resume, kAcceptBackOff, 0.);
  s.resume.data = &s;
  s.listener = iogate::listen_on(opts, /*nonblocking=*/true);
  ev_io_init(&s.accept_w, on_accept, s.listener, EV_READ);
  s.accept_w.data = &s;
  ev_io_start(s.loop, &s.accept_w);
  ev_run(s.loop, 0);

  while (!s.conns.empty()) close_conn(*s.conns.begin());
  ev_io_stop(s.loop, &s.accept_w);
  close(s.listener);
  ev_timer_stop(s.loop, &s.resume);
  ev_signal_stop(s.loop, &s.sigint);
  ev_signal_stop(s.loop, &s.sigterm);
  ev_loop_destroy(s.loop);
  return 0;
}
