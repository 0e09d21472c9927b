// Model: Proactor emulated on a reactor (the seeds' 同步I/O模拟Proactor).
// The application only starts asynchronous operations, async_read(conn,
// handler) and async_write(conn, buffer, handler), and reacts in completion
// handlers. The Proactor turns each armed operation into interest on an epoll
// (level-triggered) Reactor; when the loop thread sees the fd ready it hands
// the operation to a worker thread (--threads N, default 4), which performs
// the recv()/send() and then invokes the completion handler. At most one
// operation per direction is in flight on a connection; a write completes
// only when its whole buffer is sent (or with the error, saying how much).
//
// Man pages: epoll(7) (via reactor_framework), accept(2) (accept4
// SOCK_NONBLOCK; EMFILE), recv(2), send(2) (short counts; EAGAIN), signalfd(2),
// pthread_sigmask(3), eventfd(2) (the Reactor's cross-thread wake-up).
//
// Ownership: main() owns the Reactor, the SignalStop, the Proactor (and its
// workers) and the Acceptor (and the listener). A Conn is shared: the
// Proactor's registry `live_` (loop thread only), every queued or running
// operation and every queued Reactor function hold a shared_ptr; the fd is
// closed by ~Conn, when the last of them lets go, so no thread can ever use
// a closed or reused fd number. Proactor::close() marks the Conn closed,
// drops its armed (not running) operations and, in the loop thread, removes
// it from the Reactor and from `live_`. A write operation owns its buffer
// until its completion; a read operation's 4096-byte buffer is a local of
// the worker, valid during the completion call.
// Threads: the loop thread (main) runs the Reactor: accept, readiness, every
// change of epoll interest (workers ask for it through Reactor::queue). Workers
// run operations and completion handlers. Conn::op_mu guards the operation
// state, Conn::app_mu the application state (order: app_mu, then op_mu).
//
// Errors (classified by errclass):
//   accept: accepted -> new Conn, greeting write + first read; would_block ->
//           done; retry -> accept again; out_of_fds -> listener unwatched for
//           50 ms (Reactor timer); fatal -> exit 1.
//   recv:   progress -> completion with the data; retry -> recv again;
//           would_block -> the operation is armed again (no completion);
//           closed -> completion with EOF: close once the writes are done;
//           peer_gone -> completion with the error: close.
//   send:   flush_nonblocking: would_block -> armed again with the rest;
//           peer_gone -> completion with the error: close.
// Back-pressure: no new read while a connection owes >= 1 MiB.
// Shutdown: SIGTERM/SIGINT (signalfd) stops the Reactor; ~Proactor joins the
// workers and drops the connections (their fds close); exit 0.
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
#include <vector>

#include "errclass.h"
#include "net.h"
#include "outbuf.h"
#include "protocol.h"
#include "reactor.h"
#include "signal_stop.h"

namespace {

namespace rx = iogate::reactor;
using iogate::IoClass;

constexpr std::size_t kReadPauseAt = 1 << 20;  // owed bytes that stop reading
constexpr std::chrono::milliseconds kAcceptBackOff{50};

class Proactor;
struct Conn;
using ConnPtr = std::shared_ptr<Conn>;
// A completion handler. Read: progress (data, n), closed (EOF) or peer_gone.
// Write: progress (the whole buffer went) or peer_gone; n = bytes sent.
using Done = void (*)(const ConnPtr&, IoClass, const char* data, std::size_t n);
enum Dir { kRead = 0, kWrite = 1 };
enum class Op { idle, armed, running };

struct Operation {  // at most one per direction and connection
  Op state = Op::idle;
  Done done = nullptr;
  iogate::OutBuf buf;   // a write's buffer, owned by the operation
  std::size_t len = 0;  // its size when started
};

struct Conn final : rx::EventHandler, std::enable_shared_from_this<Conn> {
  Conn(Proactor& p, int f, iogate::Protocol proto) : px(p), fd(f), session(proto) {}
  ~Conn() override { close(fd); }
  int handle() const override { return fd; }
  void handle_event(uint32_t events) override;

  Proactor& px;
  const int fd;
  std::mutex op_mu;  // guards the Proactor's state: closed, ops
  bool closed = false;
  Operation ops[2];
  std::mutex app_mu;  // guards the application's state below
  iogate::Session session;
  std::string owed;         // replies not yet handed to a write
  std::size_t writing = 0;  // bytes of the write in flight (0: none)
  bool eof = false, paused = false;
};

class Proactor {
 public:
  Proactor(rx::Reactor& r, int threads) : reactor_(r) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }
  ~Proactor() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  // Loop thread: a new connection joins the Reactor, watching nothing yet.
  ConnPtr adopt(int fd, iogate::Protocol proto) {
    auto c = std::make_shared<Conn>(*this, fd, proto);
    reactor_.register_handler(c.get(), 0);  // interest 0: no syscall, cannot fail
    live_.emplace(c.get(), c);
    return c;
  }

  // Any thread. false: the connection is closed or that direction is busy.
  bool async_read(const ConnPtr& c, Done done) { return begin(c, kRead, done, {}); }
  bool async_write(const ConnPtr& c, std::string data, Done done) { return begin(c, kWrite, done, data); }

  // Any thread: cancels the armed operations; running ones still complete.
  void close(const ConnPtr& c) {
    {
      std::lock_guard<std::mutex> lock(c->op_mu);
      if (c->closed) return;
      c->closed = true;
      for (Operation& op : c->ops) {
        if (op.state == Op::armed) op.state = Op::idle;
      }
    }
    reactor_.queue([this, c] {
      reactor_.remove_handler(c.get());
      live_.erase(c.get());
    });
  }

  // Loop thread: the fd is ready; hand the armed operations to the workers.
  void on_ready(const ConnPtr& c, uint32_t events) {
    bool go[2];
    {
      std::lock_guard<std::mutex> lock(c->op_mu);
      for (Dir d : {kRead, kWrite}) {
        go[d] = (events & (d == kRead ? rx::kReadable : rx::kWritable)) && c->ops[d].state == Op::armed;
        if (go[d]) c->ops[d].state = Op::running;
      }
    }
    for (Dir d : {kRead, kWrite}) {
      if (go[d]) submit([this, c, d] { perform(c, d); });
    }
    sync_interest(c);  // a running operation is not watched (LT would repeat it)
  }

 private:
  bool begin(const ConnPtr& c, Dir d, Done done, std::string_view data) {
    {
      std::lock_guard<std::mutex> lock(c->op_mu);
      Operation& op = c->ops[d];
      if (c->closed || op.state != Op::idle) return false;
      op.state = Op::armed;
      op.done = done;
      op.len = data.size();
      op.buf.append(data);
    }
    rearm(c);
    return true;
  }

  void rearm(const ConnPtr& c) {
    reactor_.queue([this, c] { sync_interest(c); });
  }

  void sync_interest(const ConnPtr& c) {  // loop thread
    if (live_.count(c.get()) == 0) return;  // closed meanwhile
    uint32_t want;
    {
      std::lock_guard<std::mutex> lock(c->op_mu);
      want = (c->ops[kRead].state == Op::armed ? rx::kReadable : 0u) |
             (c->ops[kWrite].state == Op::armed ? rx::kWritable : 0u);
    }
    if (!reactor_.modify(c.get(), want)) close(c);  // ENOMEM: this connection only
  }

  // Worker: one recv(), or sends until the buffer is empty or EAGAIN.
  void perform(const ConnPtr& c, Dir d) {
    char buf[4096];
    ssize_t n = 0;
    IoClass cls;
    if (d == kRead) {
      do {
        n = recv(c->fd, buf, sizeof buf, 0);
        cls = iogate::classify_recv(n, errno);
      } while (cls == IoClass::retry);
    } else {
      cls = iogate::flush_nonblocking(c->fd, c->ops[kWrite].buf);  // only this worker touches it now
    }
    Done done = nullptr;
    std::size_t count = n > 0 ? static_cast<std::size_t>(n) : 0;
    bool again;
    {
      std::lock_guard<std::mutex> lock(c->op_mu);
      Operation& op = c->ops[d];
      again = cls == IoClass::would_block && !c->closed;
      op.state = again ? Op::armed : Op::idle;
      if (!again) {
        std::swap(done, op.done);
        if (d == kWrite) count = op.len - op.buf.size();
        op.buf.consume(op.buf.size());
      }
    }
    if (again) {
      rearm(c);  // spurious readiness, EAGAIN, or the rest of a short send
    } else if (done != nullptr && cls != IoClass::would_block) {
      done(c, cls, d == kRead ? buf : nullptr, count);
    }
  }

  void submit(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
  }

  void work() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
        if (stopping_) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  rx::Reactor& reactor_;
  std::unordered_map<Conn*, ConnPtr> live_;  // loop thread only
  std::mutex mu_;                            // guards tasks_ and stopping_
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

void Conn::handle_event(uint32_t events) { px.on_ready(shared_from_this(), events); }

// ---- the application: completion handlers of the seq/echo service ----------

void on_read(const ConnPtr& c, IoClass cls, const char* data, std::size_t n);
void on_write(const ConnPtr& c, IoClass cls, const char*, std::size_t);

// app_mu held: hand the owed replies to a write operation (one in flight).
void write_owed(const ConnPtr& c) {
  if (c->writing != 0 || c->owed.empty()) return;
  c->writing = c->owed.size();
  c->px.async_write(c, std::move(c->owed), on_write);
  c->owed.clear();
}

void start(const ConnPtr& c) {
  std::lock_guard<std::mutex> lock(c->app_mu);
  c->owed.append(c->session.greeting());
  write_owed(c);
  c->px.async_read(c, on_read);
}

void on_read(const ConnPtr& c, IoClass cls, const char* data, std::size_t n) {
  std::lock_guard<std::mutex> lock(c->app_mu);
  if (cls == IoClass::progress) {
    c->session.feed(data, n, c->owed);
    write_owed(c);
    if (c->owed.size() + c->writing >= kReadPauseAt) {
      c->paused = true;  // on_write starts the next read
    } else {
      c->px.async_read(c, on_read);
    }
  } else if (cls == IoClass::closed) {
    c->eof = true;
    if (c->writing == 0) c->px.close(c);  // else on_write closes after the last write
  } else {
    c->px.close(c);
  }
}

void on_write(const ConnPtr& c, IoClass cls, const char*, std::size_t) {
  std::lock_guard<std::mutex> lock(c->app_mu);
  if (cls != IoClass::progress) {
    c->px.close(c);
    return;
  }
  c->writing = 0;
  write_owed(c);
  if (c->eof && c->writing == 0) {
    c->px.close(c);
  } else if (c->paused && c->owed.size() + c->writing < kReadPauseAt) {
    c->paused = false;
    c->px.async_read(c, on_read);
  }
}

class Acceptor final : public rx::EventHandler {
 public:
  Acceptor(rx::Reactor& r, Proactor& px, int listener, iogate::Protocol p)
      : reactor_(r), px_(px), listener_(listener), proto_(p) {}
  ~Acceptor() override { close(listener_); }
  int handle() const override { return listener_; }

  void handle_event(uint32_t) override {
    for (;;) {
      int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      int err = errno;
      switch (iogate::classify_accept(fd, err)) {
        case iogate::AcceptClass::accepted:
          start(px_.adopt(fd, proto_));
          continue;
        case iogate::AcceptClass::would_block:
          return;
        case iogate::AcceptClass::retry:
          continue;
        case iogate::AcceptClass::out_of_fds:  // LT would report the queue again at once
          listen_for(0);
          reactor_.run_after(kAcceptBackOff, [this] { listen_for(rx::kReadable); });
          return;
        case iogate::AcceptClass::fatal:
          errno = err;
          std::perror("accept");
          std::exit(1);
      }
    }
  }

 private:
  void listen_for(uint32_t interest) {
    if (!reactor_.modify(this, interest)) {
      std::perror("proactor: listener");
      std::exit(1);
    }
  }

  rx::Reactor& reactor_;
  Proactor& px_;
  int listener_;
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
  Proactor px(*reactor, opts.threads);  // workers start before "listening on"
  int listener = iogate::listen_on(opts, /*nonblocking=*/true);
  Acceptor acceptor(*reactor, px, listener, opts.protocol);
  if (!reactor->register_handler(&acceptor, rx::kReadable)) {
    std::perror("proactor: register listener");
    return 1;
  }
  return reactor->run();
}
