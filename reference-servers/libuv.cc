// Model: libuv (<uv.h>): uv_tcp_init/uv_listen/uv_accept on a listener,
// uv_read_start/uv_write on each connection, one uv_loop_t. On Linux libuv
// polls with epoll, level-triggered, and does the recv()/send() itself (read(2)
// in a loop of up to 32 per event; write(2), or writev(2) for several
// buffers, resuming a short write at its offset); it watches writability only
// while a uv_write() is queued. This server only reacts to callbacks.
//
// Docs: libuv uv_stream_t ("nread might be 0, which does not indicate an error
// or EOF. This is equivalent to EAGAIN or EWOULDBLOCK under read(2)";
// uv_write: the buffers must stay valid until the callback; uv_close cancels
// queued writes, their callbacks get UV_ECANCELED before the close callback),
// uv_tcp_t, uv_signal_t, uv_loop_close; accept(2), read(2), write(2).
//
// Ownership: main() owns the loop, the listener handle (uv_tcp_open adopts
// the listening fd; uv_close closes it) and the signal handles. A Conn is
// owned by its uv_tcp_t handle: allocated on accept, deleted in on_closed
// (the uv_close callback); libuv owns its fd. Each WriteReq owns its reply
// bytes and is deleted in its callback; the 4096-byte read buffer is the
// Conn's (libuv hands it back to on_read, which consumes it at once).
// Single-threaded: every callback runs in uv_run() (no threadpool work).
//
// Errors:
//   accept: libuv accepts (accept4 SOCK_NONBLOCK|SOCK_CLOEXEC) until EAGAIN,
//           skips ECONNABORTED, and on EMFILE/ENFILE does its reserve-fd trick
//           (closes a spare fd, accepts and closes the queued clients) so the
//           listener stops being readable; any other error reaches
//           on_connection, classified: fatal -> exit 1; else ignored.
//   read:   nread > 0 data -> feed, uv_write the replies; nread == 0 (EAGAIN)
//           -> nothing; UV_EOF -> stop reading, close once every write
//           completed; any other negative -> uv_close.
//   write:  status < 0 (EPIPE, ECONNRESET, ...) -> uv_close; UV_ECANCELED
//           (after uv_close) -> only free the request.
// Back-pressure: uv_read_stop while the queued writes hold >= 1 MiB, read
// again from the write callback that brings it below.
// Shutdown: uv_signal (SIGTERM/SIGINT) closes every handle (uv_walk); uv_run
// returns when they are all closed; uv_loop_close; exit 0.
#include <signal.h>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "errclass.h"
#include "net.h"
#include "protocol.h"

namespace {

constexpr std::size_t kReadPauseAt = 1 << 20;  // queued reply bytes that stop reading

struct Conn {
  explicit Conn(iogate::Protocol p) : session(p) {}
  uv_tcp_t tcp;  // data = this
  iogate::Session session;
  char rbuf[4096];
  std::size_t writes = 0;  // uv_write requests not yet called back
  bool reading = false;
  bool eof = false;  // UV_EOF: no more input
};

struct WriteReq {
  uv_write_t req;  // data = this
  Conn* conn;
  std::string bytes;  // valid until on_written
};

uv_stream_t* stream(Conn* c) { return reinterpret_cast<uv_stream_t*>(&c->tcp); }
uv_handle_t* handle(Conn* c) { return reinterpret_cast<uv_handle_t*>(&c->tcp); }

void on_closed(uv_handle_t* h) { delete static_cast<Conn*>(h->data); }  // nullptr for the others

void close_conn(Conn* c) {
  if (!uv_is_closing(handle(c))) uv_close(handle(c), on_closed);
}

void set_reading(Conn* c, bool on);

void on_written(uv_write_t* req, int status) {
  auto* w = static_cast<WriteReq*>(req->data);
  Conn* c = w->conn;
  delete w;
  --c->writes;
  if (uv_is_closing(handle(c))) return;  // UV_ECANCELED: the close callback follows
  if (status < 0 || (c->eof && c->writes == 0)) return close_conn(c);
  set_reading(c, !c->eof && uv_stream_get_write_queue_size(stream(c)) < kReadPauseAt);
}

// Queues `bytes` (libuv writes what it can now, the rest when writable).
// false: the connection is being closed.
bool send_bytes(Conn* c, std::string bytes) {
  auto* w = new WriteReq{uv_write_t{}, c, std::move(bytes)};
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
  if (uv_write(&w->req, stream(c), &buf, 1, on_written) < 0) {
    delete w;
    close_conn(c);
    return false;
  }
  ++c->writes;
  return true;
}

void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
  Conn* c = static_cast<Conn*>(h->data);
  *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  Conn* c = static_cast<Conn*>(s->data);
  if (nread > 0) {
    std::string replies;
    c->session.feed(buf->base, static_cast<std::size_t>(nread), replies);
    if (!replies.empty() && !send_bytes(c, std::move(replies))) return;
    if (uv_stream_get_write_queue_size(s) >= kReadPauseAt) set_reading(c, false);
  } else if (nread == UV_EOF) {
    c->eof = true;
    set_reading(c, false);
    if (c->writes == 0) close_conn(c);  // else the last on_written closes
  } else if (nread < 0) {  // UV_ECONNRESET, ...: this connection only
    close_conn(c);
  }  // nread == 0: EAGAIN, libuv waits again
}

void set_reading(Conn* c, bool on) {
  if (on == c->reading) return;
  int r = on ? uv_read_start(stream(c), on_alloc, on_read) : uv_read_stop(stream(c));
  if (r < 0) return close_conn(c);
  c->reading = on;
}

void on_connection(uv_stream_t* server, int status) {
  if (status < 0) {
    if (iogate::classify_accept(-1, -status) == iogate::AcceptClass::fatal) {
      std::fprintf(stderr, "accept: %s\n", uv_strerror(status));
      std::exit(1);
    }
    return;  // retry / out of fds: libuv already dealt with the queue
  }
  Conn* c = new Conn(*static_cast<iogate::Protocol*>(server->loop->data));  // loop.data: --protocol
  if (uv_tcp_init(server->loop, &c->tcp) < 0) {
    delete c;
    return;
  }
  c->tcp.data = c;
  if (uv_accept(server, stream(c)) < 0) return close_conn(c);
  std::string_view greeting = c->session.greeting();
  if (!greeting.empty() && !send_bytes(c, std::string(greeting))) return;
  set_reading(c, true);
}

void close_any(uv_handle_t* h, void*) {
  if (!uv_is_closing(h)) uv_close(h, on_closed);
}

void on_signal(uv_signal_t* sig, int) { uv_walk(sig->loop, close_any, nullptr); }

}  // namespace

int main(int argc, char** argv) {
  iogate::ServerOptions opts = iogate::parse_options(argc, argv, "libuv");
  iogate::ignore_sigpipe();
  // The loop's epoll fd and signal pipes, the signal handles and libuv's
  // reserve fd for EMFILE (opened by the first uv_tcp_init) all exist
  // before "listening on": the harness's fd baseline.
  uv_loop_t loop;
  uv_tcp_t listener;
  uv_signal_t sigterm, sigint;
  if (uv_loop_init(&loop) < 0 || uv_signal_init(&loop, &sigterm) < 0 || uv_signal_init(&loop, &sigint) < 0 ||
      uv_signal_start(&sigterm, on_signal, SIGTERM) < 0 || uv_signal_start(&sigint, on_signal, SIGINT) < 0 ||
      uv_tcp_init(&loop, &listener) < 0) {
    std::fprintf(stderr, "libuv: cannot set up the loop\n");
    return 1;
  }
  sigterm.data = sigint.data = listener.data = nullptr;  // not Conns (on_closed)
  loop.data = &opts.protocol;
  int fd = iogate::listen_on(opts, /*nonblocking=*/true);
  int r = uv_tcp_open(&listener, fd);
  if (r == 0) r = uv_listen(reinterpret_cast<uv_stream_t*>(&listener), SOMAXCONN, on_connection);
  if (r < 0) {
    std::fprintf(stderr, "libuv: listen: %s\n", uv_strerror(r));
    return 1;
  }
  uv_run(&loop, UV_RUN_DEFAULT);  // returns once on_signal has closed every handle
  return uv_loop_close(&loop) == 0 ? 0 : 1;
}
