// Model: epoll edge-triggered (as epoll_et) with TLS (OpenSSL) on every
// connection. OpenSSL sits between the server and the socket, so readiness
// means less than it does in epoll_et:
//  - the handshake runs non-blocking: SSL_accept is called again on every
//    edge until it returns 1; only then the greeting is queued, and the drain
//    runs at once (the client's first request may have come with its Finished
//    and no edge will say so again);
//  - SSL_read returns at most one record, here 4096 bytes of it: the rest of
//    the record is plaintext inside OpenSSL (SSL_pending), which no edge
//    announces. So the drain calls SSL_read until WANT_READ (the socket said
//    EAGAIN, or a record is not complete), never "until the socket is empty",
//    and a short SSL_read proves nothing (it ends a record, not the input);
//  - SSL_read may want to write (WANT_WRITE: a post-handshake message or an
//    alert to send) and SSL_write may want to read (WANT_READ): each waits for
//    the other direction's edge (the fd is registered once, for both);
//  - a write that returned WANT_WRITE/WANT_READ is retried with the same bytes
//    and the same length (SSL_write(3)); the bytes may have moved, since the
//    output queue grows meanwhile: SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER.
//    SSL_MODE_ENABLE_PARTIAL_WRITE makes SSL_write report each record like a
//    short send(), consumed from the queue;
//  - EINTR reaches the server as WANT_READ/WANT_WRITE with errno EINTR
//    (tls/tls.h): retried at once.
//
// Man pages: epoll(7), epoll_ctl(2), accept(2), signal(7) as for epoll_et;
// SSL_accept(3), SSL_read(3), SSL_write(3), SSL_get_error(3), SSL_pending(3),
// SSL_CTX_set_mode(3) (ACCEPT_MOVING_WRITE_BUFFER, ENABLE_PARTIAL_WRITE),
// SSL_shutdown(3).
//
// Ownership: main() owns the listener, the epoll fd and the SSL_CTX. `live`
// owns every Conn (heap-allocated; its fd, its SSL, Session, OutBuf);
// epoll_event.data.ptr only borrows it (nullptr marks the listener). Closing
// moves the Conn to `graveyard`, freed once the whole batch has been handled.
// The 4096-byte read buffer is a local of drain(). Single-threaded.
//
// Errors (accept and epoll_wait classified by errclass, SSL calls by
// classify_tls):
//   accept: as epoll_et (until EAGAIN; EMFILE rests 50 ms; fatal exits 1).
//   SSL_accept: progress -> greeting, drain; want_read/want_write -> the next
//           edge; retry -> again; closed/peer_gone -> close.
//   SSL_read: progress -> feed, SSL_read again; want_read -> drained;
//           want_write -> drained until the next edge of either direction;
//           retry -> again; closed -> no more input, close once the owed
//           replies are sent; peer_gone -> close.
//   SSL_write: progress -> consume what it reports; want_read/want_write ->
//           keep its length, retry on the next edge; closed/peer_gone -> close.
//   epoll_wait: retry (EINTR) -> wait again; fatal -> perror, exit 1.
// An orderly close sends close_notify (one SSL_shutdown, not waited for).
// Back-pressure as epoll_et: above 4 MiB owed the drain pauses and the flush
// resumes it.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
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
#include "tls.h"

namespace {

using iogate::TlsClass;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadPauseAt = 4u << 20;  // owed bytes that pause the drain
constexpr auto kAcceptBackOff = std::chrono::milliseconds(50);

struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};

struct Conn {
  Conn(int f, SSL* s, iogate::Protocol p) : fd(f), ssl(s), session(p) {}
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  int fd;
  std::unique_ptr<SSL, SslFree> ssl;
  iogate::Session session;
  iogate::OutBuf out;
  bool handshaken = false;        // SSL_accept returned 1
  std::size_t write_len = 0;      // length of the SSL_write owed a retry (0: none)
  bool read_wants_write = false;  // SSL_read said WANT_WRITE: drain again on the next edge
  bool eof = false;               // close_notify or FIN: no more input
  bool closing = false;           // peer gone: close after this event, no close_notify
  bool closed = false;            // fd closed; the struct waits for the batch end
  bool read_paused = false;       // drain stopped at kReadPauseAt, input may be left
};

using Registry = std::unordered_map<Conn*, std::unique_ptr<Conn>>;

// One SSL call's result: errno cleared before, read right after, and the
// thread's error queue emptied first (SSL_get_error(3) reads it).
template <typename Call>
TlsClass tls_call(Conn& c, int& ret, Call call) {
  ERR_clear_error();
  errno = 0;
  ret = call(c.ssl.get());
  int err = errno;
  return iogate::classify_tls(ret, SSL_get_error(c.ssl.get(), ret), err);
}

void handshake(Conn& c) {
  for (;;) {
    int ret = 0;
    switch (tls_call(c, ret, [](SSL* s) { return SSL_accept(s); })) {
      case TlsClass::progress:
        c.handshaken = true;
        c.out.append(c.session.greeting());
        return;
      case TlsClass::retry:
        break;
      case TlsClass::want_read:
      case TlsClass::want_write:
        return;  // the next edge, either direction (registered for both)
      case TlsClass::closed:
      case TlsClass::peer_gone:
        c.closing = true;
        return;
    }
  }
}

// SSL_read until WANT_READ: plaintext left inside OpenSSL (SSL_pending) or
// records left in the socket get no new edge. Stops early at EOF, an error,
// or the back-pressure limit.
void drain(Conn& c) {
  char buf[4096];  // smaller than a record (16 KiB): SSL_pending matters
  std::string replies;
  c.read_paused = false;
  c.read_wants_write = false;
  for (;;) {
    if (c.out.size() > kReadPauseAt) {
      c.read_paused = true;
      return;
    }
    int n = 0;
    switch (tls_call(c, n, [&buf](SSL* s) { return SSL_read(s, buf, sizeof buf); })) {
      case TlsClass::progress:
        replies.clear();
        c.session.feed(buf, static_cast<std::size_t>(n), replies);
        c.out.append(replies);
        break;  // and SSL_read again, however short this one was
      case TlsClass::retry:
        break;
      case TlsClass::want_read:
        return;
      case TlsClass::want_write:
        c.read_wants_write = true;
        return;
      case TlsClass::closed:
        c.eof = true;
        return;
      case TlsClass::peer_gone:
        c.closing = true;
        return;
    }
  }
}

// SSL_write the queue until it is empty or OpenSSL wants to wait. A write
// owed a retry is repeated with the same length (write_len).
void flush(Conn& c) {
  while (!c.out.empty()) {
    const std::size_t len = c.write_len != 0 ? c.write_len : c.out.size();
    int n = 0;
    switch (tls_call(c, n, [&c, len](SSL* s) {
      return SSL_write(s, c.out.data(), static_cast<int>(std::min<std::size_t>(len, INT_MAX)));
    })) {
      case TlsClass::progress:
        c.write_len = 0;
        c.out.consume(static_cast<std::size_t>(n));
        break;
      case TlsClass::retry:
        c.write_len = len;
        break;
      case TlsClass::want_read:
      case TlsClass::want_write:
        c.write_len = len;  // the same bytes, the same length, on the next edge
        return;
      case TlsClass::closed:
      case TlsClass::peer_gone:
        c.closing = true;
        return;
    }
  }
}

void service(Conn& c, bool readable) {
  if (!c.handshaken) {
    handshake(c);
    if (!c.handshaken) return;
    readable = true;  // the client's first records may have come with its Finished
  }
  for (;;) {
    if ((readable || c.read_wants_write) && !c.eof && !c.closing) drain(c);
    if (!c.closing) flush(c);
    // A paused drain left input that ET will not report again: once the
    // flush made room, resume it here.
    if (c.closing || !c.read_paused || c.out.size() > kReadPauseAt) return;
    readable = true;
  }
}

void close_conn(int epfd, Conn& c, Registry& live, std::vector<std::unique_ptr<Conn>>& graveyard) {
  if (!c.closing && c.handshaken) {
    ERR_clear_error();
    SSL_shutdown(c.ssl.get());  // close_notify, best effort: its answer is not waited for
  }
  epoll_ctl(epfd, EPOLL_CTL_DEL, c.fd, nullptr);
  close(c.fd);
  c.closed = true;
  auto it = live.find(&c);
  graveyard.push_back(std::move(it->second));
  live.erase(it);
}

// Returns false after EMFILE/ENFILE: clients are still queued, retry later.
bool accept_all(int epfd, int listener, SSL_CTX* ctx, iogate::Protocol proto, Registry& live) {
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
    SSL* ssl = SSL_new(ctx);
    if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
      std::fprintf(stderr, "SSL_new: out of memory, client refused\n");
      SSL_free(ssl);
      close(fd);
      ERR_clear_error();
      continue;
    }
    SSL_set_accept_state(ssl);
    auto conn = std::make_unique<Conn>(fd, ssl, proto);
    // The handshake starts on the first event: epoll_ctl(ADD) reports the
    // fd's current readiness (EPOLLOUT at once).
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
  iogate::ServerOptions opts = iogate::parse_options(argc, argv, "tls_epoll");
  iogate::ignore_sigpipe();  // OpenSSL's socket BIO write()s without MSG_NOSIGNAL
  SSL_CTX* ctx = iogate::tls_server_context("tls_epoll", opts.cert, opts.key);
  // The queue's bytes move when it grows while a write waits for its retry.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
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
      service(*c, (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) != 0);
      if (c->closing || (c->eof && c->out.empty())) close_conn(epfd, *c, live, graveyard);
    }
    if (accept_resting && Clock::now() >= accept_resume_at) {
      accept_resting = false;
      listener_ready = true;
    }
    if (listener_ready && !accept_resting && !accept_all(epfd, listener, ctx, opts.protocol, live)) {
      accept_resting = true;
      accept_resume_at = Clock::now() + kAcceptBackOff;
    }
    graveyard.clear();  // no event of this batch can point at them any more
  }
}
