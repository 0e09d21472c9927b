// Model: Reactor (the seeds' Reactor pattern) on reactor_framework/: an
// Acceptor handler and one Connection handler per client are registered with
// a Reactor whose handle_events loop dispatches the readiness reported by a
// pluggable, level-triggered demultiplexer: --demux select|poll|epoll
// (default epoll). One thread, non-blocking fds. Level-triggered, so a
// handler does ONE recv() per readable event (the fd is reported again while
// data remains) and asks for writability only while it owes output.
//
// Man pages: epoll(7) / poll(2) / select(2) (via the demultiplexers),
// accept(2) (accept4 SOCK_NONBLOCK; EMFILE), recv(2), send(2) (short counts,
// EAGAIN -> wait for writability), signalfd(2), signal(7).
//
// Ownership: main() owns the Reactor, the SignalStop and the Acceptor. The
// Acceptor owns the listening fd and every Connection (`conns_`, keyed by
// address); a Connection owns its fd, Session and OutBuf. The Reactor only
// borrows handlers. A closing Connection leaves the Reactor and closes its fd
// at once, and its object is freed by a function queued on the Reactor, i.e.
// after the current batch of events. The 4096-byte read buffer is a local of
// on_readable(). Single-threaded: everything runs in the loop thread.
//
// Errors (classified by errclass):
//   accept: accepted -> new Connection; would_block -> done; retry -> accept
//           again; out_of_fds -> the listener waits for nothing for 50 ms (a
//           Reactor timer; LT would report it again at once); fatal -> exit 1.
//   recv:   progress -> feed, flush; would_block / retry -> keep, the
//           demultiplexer reports the fd again; closed -> stop reading, close
//           once the owed replies are sent; peer_gone -> close now.
//   send:   flush_nonblocking: would_block -> ask for kWritable; peer_gone ->
//           close.
//   wait:   in Reactor::run: retry (EINTR) -> wait again; fatal -> exit 1.
// Back-pressure: a connection owing >= 1 MiB stops asking for kReadable.
// Shutdown: SIGTERM/SIGINT (blocked, read from a signalfd by SignalStop)
// stops the Reactor; the Acceptor's destructor closes every fd; exit 0.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <unordered_map>

#include "acceptor.h"
#include "errclass.h"
#include "net.h"
#include "outbuf.h"
#include "protocol.h"
#include "reactor.h"
#include "stream_io.h"
#include "signal_stop.h"

namespace {

namespace rx = iogate::reactor;
using iogate::IoClass;

constexpr std::size_t kReadPauseAt = 1 << 20;  // owed bytes that stop reading

class Acceptor;

class Connection final : public rx::EventHandler {
 public:
  Connection(rx::Reactor& r, Acceptor& owner, int fd, iogate::Protocol p)
      : reactor_(r), owner_(owner), fd_(fd), session_(p) {}
  ~Connection() override {
    if (fd_ >= 0) close(fd_);
  }
  int handle() const override { return fd_; }

  // Queues the greeting, tries to send it and registers with the Reactor.
  // false: the connection could not start (the caller frees it).
  bool start() {
    out_.append(session_.greeting());
    if (iogate::flush_nonblocking(fd_, out_) == IoClass::peer_gone) return false;
    if (!reactor_.register_handler(this, wanted())) {
      std::perror("reactor: register connection");  // refuse this client only
      return false;
    }
    return true;
  }

  void handle_event(uint32_t events) override {
    bool keep = true;
    if (events & rx::kReadable) keep = on_readable();
    if (keep && (events & rx::kWritable)) {
      keep = iogate::flush_nonblocking(fd_, out_) != IoClass::peer_gone;
    }
    if (keep && eof_ && out_.empty()) keep = false;  // everything owed was sent
    if (keep && !reactor_.modify(this, wanted())) keep = false;
    if (!keep) finish();
  }

 private:
  // One recv() per event (level-triggered; reactor_framework/stream_io).
  bool on_readable() { return rx::read_once(fd_, session_, out_, eof_); }

  uint32_t wanted() const {
    return (!eof_ && out_.size() < kReadPauseAt ? rx::kReadable : 0u) |
           (!out_.empty() ? rx::kWritable : 0u);
  }

  void finish();

  rx::Reactor& reactor_;
  Acceptor& owner_;
  int fd_;
  iogate::Session session_;
  iogate::OutBuf out_;
  bool eof_ = false;  // recv returned 0: no more input
};

class Acceptor final : public rx::Acceptor {
 public:
  Acceptor(rx::Reactor& r, int listener, iogate::Protocol p) : rx::Acceptor(r, listener, "reactor"), proto_(p) {}

  // The connection has left the Reactor and closed its fd; free it once the
  // current batch of events is dispatched.
  void release(Connection* c) {
    reactor().queue([this, c] { conns_.erase(c); });
  }

 private:
  void on_accepted(int fd) override {
    auto conn = std::make_unique<Connection>(reactor(), *this, fd, proto_);
    if (!conn->start()) return;  // its destructor closes fd
    Connection* key = conn.get();
    conns_.emplace(key, std::move(conn));
  }

  iogate::Protocol proto_;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> conns_;  // closed by their destructors
};

void Connection::finish() {
  reactor_.remove_handler(this);
  close(fd_);
  fd_ = -1;
  owner_.release(this);
}

}  // namespace

int main(int argc, char** argv) {
  iogate::ServerOptions opts = iogate::parse_options(argc, argv, "reactor");
  iogate::ignore_sigpipe();
  // Every long-lived fd (demultiplexer, eventfd, signalfd) exists before
  // "listening on" is printed: the harness takes its fd baseline there.
  std::unique_ptr<rx::Reactor> reactor =
      rx::Reactor::create(rx::make_demultiplexer(opts.demux.empty() ? "epoll" : opts.demux));
  if (!reactor) {
    std::perror("reactor: create");
    return 1;
  }
  auto stopper = rx::SignalStop::create([&reactor] { reactor->stop(); });
  if (!stopper || !reactor->register_handler(stopper.get(), rx::kReadable)) {
    std::perror("reactor: signalfd");
    return 1;
  }
  int listener = iogate::listen_on(opts, /*nonblocking=*/true);
  Acceptor acceptor(*reactor, listener, opts.protocol);
  if (!reactor->register_handler(&acceptor, rx::kReadable)) {
    std::perror("reactor: register listener");
    return 1;
  }
  return reactor->run();
}
