// Model: Proactor emulated on a reactor (the seeds' 同步I/O模拟Proactor).
// The service never waits for readiness and never calls recv()/send(): it
// starts asynchronous operations, async_read(socket, on_read) and
// async_write(socket, buffer, on_write), on the emulated Proactor of
// reactor_framework/emulated_proactor.h, and reacts in completion handlers.
// Underneath, the main thread runs an epoll (level-triggered) Reactor that
// detects readiness for each armed operation and hands it to a worker thread
// (--threads N, default 4); the worker performs the recv()/send() and
// invokes the completion handler. One operation per direction is in flight
// per connection; a write completes when its whole buffer is sent.
//
// Man pages: epoll(7), eventfd(2) (via reactor_framework), accept(2)
// (accept4 SOCK_NONBLOCK; EMFILE), recv(2), send(2), signalfd(2),
// pthread_sigmask(3).
//
// Ownership: main() owns the Reactor, the SignalStop, the Proactor (and its
// workers) and the Acceptor (and the listener). A Client (an AsyncSocket plus
// the service's state) is shared by the Proactor's registry and its pending
// operations; its fd closes when the last of them lets go (see
// emulated_proactor.h). The replies owed are in Client::owed until handed to
// a write operation, which then owns them.
// Threads: the main thread runs the Reactor and accepts; completion handlers
// run on workers, possibly a read and a write of one Client at once:
// Client::mu guards the service's state (taken before the socket's own lock).
//
// Errors (classified by errclass):
//   accept: accepted -> new Client: greeting write + first read;
//           would_block -> done; retry -> accept again; out_of_fds ->
//           listener unwatched for 50 ms (Reactor timer); fatal -> exit 1.
//   recv:   in the worker: retry -> recv again; would_block -> re-armed, no
//           completion; progress -> on_read feeds the Session and starts the
//           next read; closed -> on_read: close once the writes are done;
//           peer_gone -> on_read: close.
//   send:   in the worker (flush_nonblocking): would_block -> re-armed with
//           the rest; progress (all sent) -> on_write starts the next write;
//           peer_gone -> on_write: close.
// Back-pressure: no new read while a Client owes >= 1 MiB.
// Shutdown: SIGTERM/SIGINT (signalfd) stops the Reactor; ~Proactor joins the
// workers and lets go of every Client (their fds close); exit 0.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include "acceptor.h"
#include "emulated_proactor.h"
#include "errclass.h"
#include "net.h"
#include "protocol.h"
#include "reactor.h"
#include "signal_stop.h"

namespace {

namespace rx = iogate::reactor;
using iogate::IoClass;

constexpr std::size_t kReadPauseAt = 1 << 20;  // owed bytes that stop reading

struct Client final : rx::AsyncSocket {
  Client(rx::Proactor& px, int fd, iogate::Protocol p) : AsyncSocket(px, fd), session(p) {}
  std::mutex mu;  // guards the fields below
  iogate::Session session;
  std::string owed;         // replies not yet handed to a write
  std::size_t writing = 0;  // bytes of the write in flight (0: none)
  bool eof = false;         // the read completed with EOF
  bool paused = false;      // no read pending because of back-pressure
};

Client& client(const rx::SocketPtr& s) { return static_cast<Client&>(*s); }

void on_read(const rx::SocketPtr& s, IoClass cls, const char* data, std::size_t n);
void on_write(const rx::SocketPtr& s, IoClass cls, const char*, std::size_t);

// Client::mu held: hand the owed replies to a write (one in flight).
void write_owed(const rx::SocketPtr& s, Client& c) {
  if (c.writing != 0 || c.owed.empty()) return;
  c.writing = c.owed.size();
  s->proactor().async_write(s, std::move(c.owed), on_write);
  c.owed.clear();
}

void start(const rx::SocketPtr& s) {
  Client& c = client(s);
  std::lock_guard<std::mutex> lock(c.mu);
  c.owed.append(c.session.greeting());
  write_owed(s, c);
  s->proactor().async_read(s, on_read);
}

void on_read(const rx::SocketPtr& s, IoClass cls, const char* data, std::size_t n) {
  Client& c = client(s);
  std::lock_guard<std::mutex> lock(c.mu);
  if (cls == IoClass::progress) {
    c.session.feed(data, n, c.owed);
    write_owed(s, c);
    if (c.owed.size() + c.writing >= kReadPauseAt) {
      c.paused = true;  // on_write starts the next read
    } else {
      s->proactor().async_read(s, on_read);
    }
  } else if (cls == IoClass::closed) {
    c.eof = true;  // nothing owed is left unwritten: write_owed ran on every feed
    if (c.writing == 0) s->proactor().close(s);  // else on_write closes after it
  } else {
    s->proactor().close(s);
  }
}

void on_write(const rx::SocketPtr& s, IoClass cls, const char*, std::size_t) {
  Client& c = client(s);
  std::lock_guard<std::mutex> lock(c.mu);
  if (cls != IoClass::progress) {
    s->proactor().close(s);
    return;
  }
  c.writing = 0;
  write_owed(s, c);
  if (c.eof && c.writing == 0) {
    s->proactor().close(s);
  } else if (c.paused && c.owed.size() + c.writing < kReadPauseAt) {
    c.paused = false;
    s->proactor().async_read(s, on_read);
  }
}

class Acceptor final : public rx::Acceptor {
 public:
  Acceptor(rx::Reactor& r, rx::Proactor& px, int listener, iogate::Protocol p)
      : rx::Acceptor(r, listener, "proactor"), px_(px), proto_(p) {}

 private:
  void on_accepted(int fd) override {
    auto s = std::make_shared<Client>(px_, fd, proto_);
    px_.adopt(s);
    start(s);
  }

  rx::Proactor& px_;
  iogate::Protocol proto_;
};

}  // namespace

int main(int argc, char** argv) {
  iogate::ServerOptions opts = iogate::parse_options(argc, argv, "proactor");
  iogate::ignore_sigpipe();
  std::unique_ptr<rx::Reactor> reactor = rx::Reactor::create(rx::make_demultiplexer("epoll"));
  if (!reactor) {
    std::perror("proactor: reactor");
    return 1;
  }
  // Blocks SIGTERM/SIGINT before the workers exist, so they inherit the mask.
  auto stopper = rx::SignalStop::create([&reactor] { reactor->stop(); });
  if (!stopper || !reactor->register_handler(stopper.get(), rx::kReadable)) {
    std::perror("proactor: signalfd");
    return 1;
  }
  rx::Proactor px(*reactor, opts.threads);  // workers start before "listening on"
  int listener = iogate::listen_on(opts, /*nonblocking=*/true);
  Acceptor acceptor(*reactor, px, listener, opts.protocol);
  if (!reactor->register_handler(&acceptor, rx::kReadable)) {
    std::perror("proactor: register listener");
    return 1;
  }
  return reactor->run();
}
