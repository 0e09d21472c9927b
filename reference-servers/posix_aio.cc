// Model: POSIX AIO, completion-driven. aio_read/aio_write on blocking
// connection sockets; glibc runs each request in one of its worker threads
// (a blocking read() there), the main thread learns of completions with
// aio_suspend() over every aiocb in flight, then per aiocb aio_error() until it
// is no longer EINPROGRESS and aio_return() exactly once. A connection has at
// most one read and one write in flight.
// glibc queues the requests of one fd NUMBER behind each other: a blocked
// aio_read would hold back the aio_write of the reply on the same fd (a
// deadlock: the client waits for the reply before it sends more). Each
// connection therefore writes through wfd = dup(fd), a second number for the
// same socket, so its read and its write run in two worker threads at once.
// A blocked request occupies a worker thread for as long as it waits, so
// aio_init() allows 2 * kMaxConns + 8 of them and the acceptor admits at most
// kMaxConns connections (a semaphore of free slots); later clients wait in the
// listen backlog until one leaves.
// Accepting: a blocking acceptor thread passes each new fd (an int) through a
// pipe on which the main thread always keeps an aio_read in flight, so every
// event reaches the main thread as a completion. SIGTERM is blocked in every
// thread; a signal thread takes it with sigwait() and writes -1 into the pipe.
//
// Man pages: aio(7), aio_read(3), aio_write(3), aio_suspend(3), aio_error(3),
// aio_return(3) ("should be called only once for any given request"),
// aio_cancel(3) (AIO_NOTCANCELED: a running request cannot be cancelled),
// aio_init(3), accept(2), shutdown(2), pipe(7), sigwait(3), sem_wait(3).
//
// Ownership: main() owns the listener, the pipe and `live`, which owns every
// Conn: fd, wfd, Session, the 4096-byte read buffer, the reply strings and the
// two aiocbs. A Conn is freed only once neither aiocb is in flight (a worker
// thread may still write into rbuf or read `sending`): closing first
// shutdown(SHUT_RDWR)s the socket (a running blocking read returns 0, a write
// fails), aio_cancel()s what is still queued, and waits for both completions.
// `sending` (the bytes of the write in flight) is never touched while the
// write runs; new replies go to `owed`. Threads: main (all Conn state),
// acceptor (listener, slots), signal thread, glibc's workers (the requests).
//
// Errors (classified by errclass, with aio_error's code as errno):
//   accept (acceptor): accepted -> pipe; retry -> again; out_of_fds -> sleep
//           50 ms; fatal -> exit 1 (or, when stopping, leave the thread).
//   read:   progress -> feed, read again; closed (0) -> no more reads, close
//           once the replies are written; retry/would_block -> read again;
//           peer_gone (ECONNRESET, ECANCELED...) -> close this connection.
//   write:  progress -> short write: aio_write of the remainder at its offset;
//           retry/would_block -> write the same again; peer_gone -> close.
//   submission failing (EAGAIN: out of resources) -> close that connection.
//   aio_suspend: EINTR -> again; any other error -> perror, exit 1.
// Back-pressure: no read is submitted while a connection owes > 1 MiB.
// Shutdown: the -1 from the pipe -> stop the acceptor (shutdown(listener)
// wakes its accept), close every connection as above, exit 0.
#include <aio.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "errclass.h"
#include "net.h"
#include "protocol.h"

namespace {

using iogate::IoClass;

constexpr std::size_t kReadPauseAt = 1u << 20;  // owed bytes that stop reading
constexpr int kMaxConns = 256;

struct Conn {
  Conn(int f, iogate::Protocol p) : fd(f), session(p) {}
  int fd, wfd = -1;
  iogate::Session session;
  char rbuf[4096];
  std::string owed;     // replies not yet handed to aio_write
  std::string sending;  // the bytes of the write in flight, stable while it runs
  std::size_t sent = 0;  // first unsent byte of `sending`
  aiocb rcb{}, wcb{};
  bool reading = false, writing = false;  // that aiocb is in flight
  bool eof = false, closing = false;
};

std::atomic<bool> stopping{false};
std::atomic<bool> term_seen{false};  // the signal thread took SIGTERM and left
sem_t slots;  // free connection slots: the acceptor waits for one
int listener = -1;
int pipe_fds[2];

void acceptor() {
  for (;;) {
    while (sem_wait(&slots) != 0) {
    }
    for (;;) {
      if (stopping) return;
      int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);  // blocking fd
      int err = errno;
      auto k = iogate::classify_accept(fd, err);
      if (k == iogate::AcceptClass::accepted) {
        if (write(pipe_fds[1], &fd, sizeof fd) != sizeof fd) close(fd);
        break;
      }
      if (stopping) return;  // shutdown(listener) woke accept with EINVAL
      if (k == iogate::AcceptClass::out_of_fds) {
        timespec delay{0, 50 * 1000 * 1000};
        nanosleep(&delay, nullptr);
      } else if (k == iogate::AcceptClass::fatal) {
        std::fprintf(stderr, "accept: %s\n", std::strerror(err));
        _exit(1);
      }
    }
  }
}

bool submit(aiocb& cb, int fd, const char* buf, std::size_t n, bool is_write) {
  std::memset(&cb, 0, sizeof cb);
  cb.aio_fildes = fd;
  cb.aio_buf = const_cast<char*>(buf);
  cb.aio_nbytes = n;
  cb.aio_offset = 0;  // sockets have no offset
  cb.aio_sigevent.sigev_notify = SIGEV_NONE;  // found by aio_suspend
  return (is_write ? aio_write(&cb) : aio_read(&cb)) == 0;
}

void begin_close(Conn& c) {
  c.closing = true;
  if (!c.reading && !c.writing) return;
  shutdown(c.fd, SHUT_RDWR);  // ends a running blocking read()/write()
  if (c.reading) aio_cancel(c.fd, &c.rcb);
  if (c.writing) aio_cancel(c.wfd, &c.wcb);
}

// Submits what the connection needs next. Returns true once it can be freed.
bool advance(Conn& c) {
  if (!c.closing && !c.writing) {
    if (c.sent == c.sending.size() && !c.owed.empty()) {
      c.sending.swap(c.owed);
      c.owed.clear();
      c.sent = 0;
    }
    if (c.sent < c.sending.size()) {
      c.writing = submit(c.wcb, c.wfd, c.sending.data() + c.sent, c.sending.size() - c.sent, true);
      if (!c.writing) begin_close(c);
    }
  }
  std::size_t owes = c.owed.size() + (c.sending.size() - c.sent);
  if (!c.closing && !c.reading && !c.eof && owes <= kReadPauseAt) {
    c.reading = submit(c.rcb, c.fd, c.rbuf, sizeof c.rbuf, false);
    if (!c.reading) begin_close(c);
  }
  if (c.eof && owes == 0 && !c.writing) c.closing = true;
  return c.closing && !c.reading && !c.writing;
}

void on_read(Conn& c, ssize_t n, int err) {
  IoClass k = iogate::classify_recv(n, err);
  if (k == IoClass::progress) {
    c.session.feed(c.rbuf, static_cast<std::size_t>(n), c.owed);
  } else if (k == IoClass::closed) {
    c.eof = true;
  } else if (k == IoClass::peer_gone) {
    begin_close(c);
  }  // retry, would_block: advance() submits the read again
}

void on_write(Conn& c, ssize_t n, int err) {
  IoClass k = iogate::classify_send(n, err);
  if (k == IoClass::progress) {
    c.sent += static_cast<std::size_t>(n);  // short: advance() writes the rest at its offset
  } else if (k == IoClass::peer_gone || k == IoClass::closed) {
    begin_close(c);
  }  // retry, would_block: advance() writes the same bytes again
}

// aio_error until not EINPROGRESS, then aio_return exactly once.
bool completed(aiocb& cb, bool& in_flight, ssize_t& n, int& err) {
  if (!in_flight || (err = aio_error(&cb)) == EINPROGRESS) return false;
  n = aio_return(&cb);
  in_flight = false;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  iogate::ServerOptions opts = iogate::parse_options(argc, argv, "posix_aio");
  iogate::ignore_sigpipe();  // glibc's workers use write(2): EPIPE must not kill us
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, nullptr);  // every thread inherits it
  aioinit init{};
  init.aio_threads = 2 * kMaxConns + 8;  // a blocked request holds a thread
  init.aio_num = 2 * kMaxConns + 8;
  init.aio_idle_time = 1;
  aio_init(&init);
  // Every long-lived fd and thread before "listening on" (the fd baseline).
  sem_init(&slots, 0, 0);  // opened once the listener exists
  if (pipe2(pipe_fds, O_CLOEXEC) < 0) {
    std::perror("pipe2");
    return 1;
  }
  std::thread accept_thread(acceptor);
  std::thread signal_thread([&term] {
    int sig = 0;
    while (sigwait(&term, &sig) != 0) {
    }
    term_seen = true;
    int stop = -1;
    if (write(pipe_fds[1], &stop, sizeof stop) != sizeof stop) _exit(0);
  });
  char pbuf[64 * sizeof(int)];
  std::size_t pfill = 0;  // bytes of pbuf holding a partial int
  aiocb pcb{};
  bool piping = submit(pcb, pipe_fds[0], pbuf, sizeof pbuf, false);
  listener = iogate::listen_on(opts, /*nonblocking=*/false);
  for (int i = 0; i < kMaxConns; ++i) sem_post(&slots);

  std::unordered_map<Conn*, std::unique_ptr<Conn>> live;
  std::vector<const aiocb*> list;
  bool stop = !piping;
  for (;;) {
    list.clear();
    if (piping) list.push_back(&pcb);
    for (auto& [c, owned] : live) {
      if (c->reading) list.push_back(&c->rcb);
      if (c->writing) list.push_back(&c->wcb);
    }
    if (list.empty()) break;  // stopping and nothing left in flight
    timespec bound{1, 0};  // only while stopping: never wait unbounded there
    if (aio_suspend(list.data(), static_cast<int>(list.size()), stop ? &bound : nullptr) < 0 &&
        errno != EINTR && errno != EAGAIN) {
      std::perror("aio_suspend");
      return 1;
    }
    ssize_t n;
    int err;
    if (completed(pcb, piping, n, err)) {
      if (n <= 0) {
        stop = true;  // the pipe cannot fail or end: treat it as a stop
      } else {
        pfill += static_cast<std::size_t>(n);
        std::size_t whole = pfill / sizeof(int) * sizeof(int);
        for (std::size_t off = 0; off < whole; off += sizeof(int)) {
          int fd;
          std::memcpy(&fd, pbuf + off, sizeof fd);
          if (fd < 0) {
            stop = true;
            continue;
          }
          auto owned = std::make_unique<Conn>(fd, opts.protocol);
          Conn* c = owned.get();
          live.emplace(c, std::move(owned));
          c->wfd = dup(fd);  // dup(), not F_DUPFD: the shim maps dup to the same connection
          if (c->wfd < 0 || fcntl(c->wfd, F_SETFD, FD_CLOEXEC) < 0) begin_close(*c);  // EMFILE
          c->owed.append(c->session.greeting());
        }
        pfill -= whole;
        std::memmove(pbuf, pbuf + whole, pfill);
      }
      if (!stop) piping = submit(pcb, pipe_fds[0], pbuf + pfill, sizeof pbuf - pfill, false);
      if (!piping) stop = true;
    }
    if (stop && !stopping) {
      stopping = true;
      shutdown(listener, SHUT_RDWR);  // wakes the acceptor's blocking accept
      sem_post(&slots);
      for (auto& [c, owned] : live) begin_close(*c);
    }
    std::vector<Conn*> done;
    for (auto& [c, owned] : live) {
      if (completed(c->rcb, c->reading, n, err)) on_read(*c, n, err);
      if (completed(c->wcb, c->writing, n, err)) on_write(*c, n, err);
      if (advance(*c)) done.push_back(c);
    }
    for (Conn* c : done) {  // nothing of theirs is in flight any more
      close(c->fd);
      if (c->wfd >= 0) close(c->wfd);
      live.erase(c);
      if (!stopping) sem_post(&slots);
    }
  }
  accept_thread.join();
  // Stopped by a broken pipe rather than SIGTERM: the signal thread still waits.
  if (!term_seen) pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  close(listener);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  return 0;
}
