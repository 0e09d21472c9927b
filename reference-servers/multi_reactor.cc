// Model: multi-reactor, one loop per thread (muduo's "one loop per thread").
// The main thread runs the main Reactor, whose only job is the listener: it
// accepts and hands each new fd to a sub-reactor, round robin over --threads
// N (default 4), by queueing a function on that sub-reactor
// (Reactor::queue(): mutex-guarded queue plus an eventfd wake-up). Each sub-
// reactor is a reactor_framework Reactor over epoll, level-triggered, run by
// its own thread; a connection lives in exactly one sub-reactor thread from
// its first byte to its close, so no connection state is ever shared.
// Level-triggered: ONE recv() per readable event; writability is watched only
// while output is owed.
//
// Man pages: epoll(7), eventfd(2) (via reactor_framework), accept(2)
// (accept4 SOCK_NONBLOCK; EMFILE), recv(2), send(2), signalfd(2),
// pthread_sigmask(3).
//
// Ownership: main() owns the main Reactor, the SignalStop, the Acceptor (and
// the listener) and the SubLoops. A SubLoop owns its Reactor, its thread and
// its connections (`conns`, touched by its thread only). An accepted fd is
// owned by the function queued on the chosen SubLoop until that function
// (run by the sub-reactor thread, even when it is stopping) wraps it in a
// Connection. A closing Connection leaves its Reactor and closes its fd at
// once; its object is freed by a function queued on its own Reactor.
// Threads: the main thread runs the main Reactor; sub-reactor thread i runs
// SubLoop i's Reactor and every handler of its connections. Signals are
// blocked in every thread (SignalStop before the threads start).
//
// Errors (classified by errclass):
//   accept: accepted -> handed to a sub-reactor; would_block -> done; retry ->
//           accept again; out_of_fds -> listener unwatched for 50 ms (a
//           Reactor timer; LT would report it again at once); fatal -> exit 1.
//   recv:   progress -> feed, flush; would_block / retry -> keep, reported
//           again; closed -> stop reading, close once the owed replies are
//           sent; peer_gone -> close now.
//   send:   flush_nonblocking: would_block -> watch kWritable; peer_gone ->
//           close.
//   wait:   in Reactor::run: retry (EINTR) -> wait again; fatal -> exit 1.
// Back-pressure: a connection owing >= 1 MiB stops asking for kReadable.
// Shutdown: SIGTERM/SIGINT (signalfd, main Reactor) stops the main loop, then
// every sub-reactor; their threads are joined and the SubLoops' destructors
// close every connection; exit 0.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

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

std::unique_ptr<rx::Reactor> make_epoll_reactor() {
  std::unique_ptr<rx::Reactor> r = rx::Reactor::create(rx::make_demultiplexer("epoll"));
  if (!r) {
    std::perror("multi_reactor: reactor");
    std::exit(1);
  }
  return r;
}

struct SubLoop;

class Connection final : public rx::EventHandler {
 public:
  Connection(SubLoop& loop, int fd, iogate::Protocol p) : loop_(loop), fd_(fd), session_(p) {}
  ~Connection() override {
    if (fd_ >= 0) close(fd_);
  }
  int handle() const override { return fd_; }
  bool start();  // greeting + registration; false: free it (closes fd)
  void handle_event(uint32_t events) override;

 private:
  bool on_readable();
  uint32_t wanted() const {
    return (!eof_ && out_.size() < kReadPauseAt ? rx::kReadable : 0u) |
           (!out_.empty() ? rx::kWritable : 0u);
  }
  void finish();

  SubLoop& loop_;
  int fd_;
  iogate::Session session_;
  iogate::OutBuf out_;
  bool eof_ = false;  // recv returned 0: no more input
};

struct SubLoop {
  std::unique_ptr<rx::Reactor> reactor = make_epoll_reactor();
  std::unordered_map<Connection*, std::unique_ptr<Connection>> conns;  // this loop's thread only
  std::thread thread;

  void adopt(int fd, iogate::Protocol p) {  // this loop's thread
    auto conn = std::make_unique<Connection>(*this, fd, p);
    if (!conn->start()) return;
    Connection* key = conn.get();
    conns.emplace(key, std::move(conn));
  }
  void release(Connection* c) {  // freed after the current batch
    reactor->queue([this, c] { conns.erase(c); });
  }
};

bool Connection::start() {
  out_.append(session_.greeting());
  if (iogate::flush_nonblocking(fd_, out_) == IoClass::peer_gone) return false;
  if (!loop_.reactor->register_handler(this, wanted())) {
    std::perror("multi_reactor: register connection");  // refuse this client only
    return false;
  }
  return true;
}

void Connection::handle_event(uint32_t events) {
  bool keep = true;
  if (events & rx::kReadable) keep = on_readable();
  if (keep && (events & rx::kWritable)) keep = iogate::flush_nonblocking(fd_, out_) != IoClass::peer_gone;
  if (keep && eof_ && out_.empty()) keep = false;  // everything owed was sent
  if (keep && !loop_.reactor->modify(this, wanted())) keep = false;
  if (!keep) finish();
}

// One recv() per event (level-triggered; reactor_framework/stream_io).
bool Connection::on_readable() { return rx::read_once(fd_, session_, out_, eof_); }

void Connection::finish() {
  loop_.reactor->remove_handler(this);
  close(fd_);
  fd_ = -1;
  loop_.release(this);
}

class Acceptor final : public rx::Acceptor {
 public:
  Acceptor(rx::Reactor& main, std::vector<std::unique_ptr<SubLoop>>& subs, int listener, iogate::Protocol p)
      : rx::Acceptor(main, listener, "multi_reactor"), subs_(subs), proto_(p) {}

 private:
  // The main reactor only accepts: each connection goes to the next
  // sub-reactor, whose thread owns it from then on.
  void on_accepted(int fd) override {
    SubLoop* sub = subs_[next_++ % subs_.size()].get();
    iogate::Protocol p = proto_;
    sub->reactor->queue([sub, fd, p] { sub->adopt(fd, p); });  // wakes that thread
  }

  std::vector<std::unique_ptr<SubLoop>>& subs_;
  iogate::Protocol proto_;
  std::size_t next_ = 0;  // round robin
};

}  // namespace

int main(int argc, char** argv) {
  iogate::ServerOptions opts = iogate::parse_options(argc, argv, "multi_reactor");
  iogate::ignore_sigpipe();
  // Every long-lived fd (epoll and eventfd of each Reactor, signalfd) and
  // every thread exists before "listening on": the harness's fd baseline.
  std::unique_ptr<rx::Reactor> main_reactor = make_epoll_reactor();
  auto stopper = rx::SignalStop::create([&main_reactor] { main_reactor->stop(); });
  if (!stopper || !main_reactor->register_handler(stopper.get(), rx::kReadable)) {
    std::perror("multi_reactor: signalfd");
    return 1;
  }
  std::vector<std::unique_ptr<SubLoop>> subs;
  for (int i = 0; i < opts.threads; ++i) {
    subs.push_back(std::make_unique<SubLoop>());
    rx::Reactor* r = subs.back()->reactor.get();
    subs.back()->thread = std::thread([r] {
      if (r->run() != 0) std::exit(1);  // the sub-reactor's demultiplexer broke
    });
  }
  int listener = iogate::listen_on(opts, /*nonblocking=*/true);
  int rc;
  {
    Acceptor acceptor(*main_reactor, subs, listener, opts.protocol);
    if (!main_reactor->register_handler(&acceptor, rx::kReadable)) {
      std::perror("multi_reactor: register listener");
      std::exit(1);  // not return: the sub-reactor threads are running
    }
    rc = main_reactor->run();
  }
  for (auto& s : subs) s->reactor->stop();
  for (auto& s : subs) s->thread.join();
  return rc;  // ~SubLoop closes every connection
}
