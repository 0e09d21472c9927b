// Model: libevent 2 (event2/*.h). An evconnlistener accepts; each connection
// has two persistent events, event_new(fd, EV_READ|EV_PERSIST) and
// event_new(fd, EV_WRITE|EV_PERSIST), on an event_base whose backend is epoll,
// level-triggered (no EV_ET). ONE recv() per read callback (libevent calls
// it again while data remains); the write event is added only while output is
// owed, the read event is deleted at EOF and for back-pressure. The IO itself
// is ours (recv/send classified by errclass), not a bufferevent's: a
// bufferevent reads with readv(2) and writes with writev(2), where the fault
// plans of the shim do not reach, and it folds EOF and errors into
// BEV_EVENT_EOF / BEV_EVENT_ERROR where this server decides per errno class.
//
// Man pages / docs: libevent event.h (event_new, event_add, event_del:
// "It is safe to call event_free() on an event that is pending or active"),
// listener.h (evconnlistener_new: accept4 with SOCK_NONBLOCK|SOCK_CLOEXEC;
// the error callback gets the accept errors libevent does not retry itself:
// all but EAGAIN, EINTR, ECONNABORTED), accept(2), recv(2), send(2), signal(7).
//
// Ownership: main() owns the event_base, the listener (LEV_OPT_CLOSE_ON_FREE
// closes the fd), the back-off timer and the signal events. Server::conns
// owns every Conn (its fd, both events, Session and OutBuf); close_conn()
// frees both events (libevent drops them from the active queue, so no later
// callback of the same round can reach the freed Conn), closes the fd and
// deletes the Conn. The 4096-byte read buffer is a local of on_readable().
// Single-threaded: every callback runs in event_base_dispatch().
//
// Errors (classified by errclass):
//   accept: libevent retries EAGAIN/EINTR/ECONNABORTED itself; the error
//           callback classifies the rest: out_of_fds -> evconnlistener_disable
//           and a 50 ms timer that re-enables it; retry -> nothing (LT reports
//           the listener again); fatal -> exit 1.
//   recv:   progress -> feed, flush; would_block / retry -> return, called
//           again; closed -> delete the read event, close once the owed
//           replies are sent; peer_gone -> close now.
//   send:   flush_nonblocking: would_block -> add the write event;
//           peer_gone -> close.
// Back-pressure: a connection owing >= 1 MiB has its read event deleted.
// Shutdown: SIGTERM/SIGINT events (evsignal) break the loop; every Conn,
// event, the listener and the base are freed; exit 0.
#include <event2/event.h>
#include <event2/listener.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_set>

#include "errclass.h"
#include "net.h"
#include "outbuf.h"
#include "protocol.h"

namespace {

using iogate::IoClass;

constexpr std::size_t kReadPauseAt = 1 << 20;  // owed bytes that stop reading
constexpr timeval kAcceptBackOff{0, 50 * 1000};

struct Server;

struct Conn {
  Conn(Server& s, evutil_socket_t f, iogate::Protocol p) : srv(s), fd(f), session(p) {}
  Server& srv;
  evutil_socket_t fd;
  iogate::Session session;
  iogate::OutBuf out;
  event* rd = nullptr;
  event* wr = nullptr;
  bool reading = false;  // rd is added
  bool writing = false;  // wr is added
  bool eof = false;      // recv returned 0: no more input
};

struct Server {
  event_base* base = nullptr;
  evconnlistener* listener = nullptr;
  event* resume = nullptr;  // re-enables the listener after EMFILE
  iogate::Protocol proto = iogate::Protocol::seq;
  std::unordered_set<Conn*> conns;
};

void close_conn(Conn* c) {
  if (c->rd) event_free(c->rd);
  if (c->wr) event_free(c->wr);
  close(c->fd);
  c->srv.conns.erase(c);
  delete c;
}

// Adds/deletes the two events to match what the connection needs now, or
// closes it when it is done. Returns false when the connection is gone.
bool update(Conn* c) {
  if (c->eof && c->out.empty()) {  // everything owed was sent
    close_conn(c);
    return false;
  }
  const bool want_read = !c->eof && c->out.size() < kReadPauseAt;
  const bool want_write = !c->out.empty();
  bool ok = true;
  if (want_read != c->reading) ok = (want_read ? event_add(c->rd, nullptr) : event_del(c->rd)) == 0;
  if (ok && want_write != c->writing) ok = (want_write ? event_add(c->wr, nullptr) : event_del(c->wr)) == 0;
  if (!ok) {
    std::fprintf(stderr, "libevent: event_add/event_del failed\n");  // this connection only
    close_conn(c);
    return false;
  }
  c->reading = want_read;
  c->writing = want_write;
  return true;
}

void on_readable(evutil_socket_t, short, void* arg) {
  Conn* c = static_cast<Conn*>(arg);
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
    case IoClass::retry:        // EINTR: libevent calls us again
      return;
    case IoClass::closed:
      c->eof = true;
      break;
    case IoClass::peer_gone:
      return close_conn(c);
  }
  update(c);
}

void on_writable(evutil_socket_t, short, void* arg) {
  Conn* c = static_cast<Conn*>(arg);
  if (iogate::flush_nonblocking(c->fd, c->out) == IoClass::peer_gone) return close_conn(c);
  update(c);
}

void on_accept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg) {
  Server& s = *static_cast<Server*>(arg);
  Conn* c = new Conn(s, fd, s.proto);
  c->rd = event_new(s.base, fd, EV_READ | EV_PERSIST, on_readable, c);
  c->wr = event_new(s.base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
  s.conns.insert(c);
  if (c->rd == nullptr || c->wr == nullptr) {
    std::fprintf(stderr, "libevent: event_new failed\n");  // refuse this client only
    return close_conn(c);
  }
  c->out.append(c->session.greeting());
  if (iogate::flush_nonblocking(fd, c->out) == IoClass::peer_gone) return close_conn(c);
  update(c);
}

void on_accept_error(evconnlistener* l, void* arg) {
  Server& s = *static_cast<Server*>(arg);
  int err = EVUTIL_SOCKET_ERROR();
  switch (iogate::classify_accept(-1, err)) {
    case iogate::AcceptClass::out_of_fds:  // LT would report the queue again at once
      evconnlistener_disable(l);
      evtimer_add(s.resume, &kAcceptBackOff);
      return;
    case iogate::AcceptClass::fatal:
      std::fprintf(stderr, "accept: %s\n", std::strerror(err));
      std::exit(1);
    default:  // retry, would_block: the listener is reported again if needed
      return;
  }
}

void on_resume(evutil_socket_t, short, void* arg) {
  evconnlistener_enable(static_cast<Server*>(arg)->listener);
}

void on_signal(evutil_socket_t, short, void* arg) { event_base_loopbreak(static_cast<event_base*>(arg)); }

}  // namespace

int main(int argc, char** argv) {
  iogate::ServerOptions opts = iogate::parse_options(argc, argv, "libevent");
  iogate::ignore_sigpipe();
  Server s;
  s.proto = opts.protocol;
  // The base creates its epoll fd and its signal socketpair now, before
  // "listening on" is printed (the harness's fd baseline).
  event_config* cfg = event_config_new();
  event_config_require_features(cfg, EV_FEATURE_O1);  // epoll, not select/poll
  s.base = event_base_new_with_config(cfg);
  event_config_free(cfg);
  if (s.base == nullptr) {
    std::fprintf(stderr, "libevent: no O(1) event backend (epoll)\n");
    return 1;
  }
  event* sigterm = evsignal_new(s.base, SIGTERM, on_signal, s.base);
  event* sigint = evsignal_new(s.base, SIGINT, on_signal, s.base);
  s.resume = evtimer_new(s.base, on_resume, &s);
  if (!sigterm || !sigint || !s.resume || event_add(sigterm, nullptr) != 0 || event_add(sigint, nullptr) != 0) {
    std::fprintf(stderr, "libevent: cannot set up signal and timer events\n");
    return 1;
  }
  int fd = iogate::listen_on(opts, /*nonblocking=*/true);
  // backlog 0: the socket is already listening.
  s.listener = evconnlistener_new(s.base, on_accept, &s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
  if (s.listener == nullptr) {
    std::fprintf(stderr, "libevent: evconnlistener_new failed\n");
    return 1;
  }
  evconnlistener_set_error_cb(s.listener, on_accept_error);
  int rc = event_base_dispatch(s.base) < 0 ? 1 : 0;

  while (!s.conns.empty()) close_conn(*s.conns.begin());
  evconnlistener_free(s.listener);
  event_free(s.resume);
  event_free(sigint);
  event_free(sigterm);
  event_base_free(s.base);
  libevent_global_shutdown();
  return rc;
}
