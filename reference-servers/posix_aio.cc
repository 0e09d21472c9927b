// Model: POSIX AIO, completion-driven. aio_read/aio_write on blocking
// connection sockets; glibc runs each request in one of its worker threads
// (a blocking read()/write() there), the main thread learns of completions
// with aio_suspend() over every aiocb in flight, then per aiocb aio_error()
// until it is no longer EINPROGRESS and aio_return() exactly once.
// One request per connection at a time, alternating: write everything owed
// (a short write -> aio_write of the remainder at its offset), then read.
// This is glibc's own rule made explicit: it queues the requests of one fd
// behind each other in one worker, so a blocked aio_read would hold back an
// aio_write of the same fd (submitting both at once deadlocks as soon as the
// client waits for a reply). Full duplex would need a dup()ed second fd
// number for the writes; request/response needs no such trick.
// A blocked request occupies a worker thread for as long as it waits, so
// aio_init() allows kMaxConns + 8 of them and the acceptor admits at most
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
// Conn: fd, Session, the 4096-byte read buffer, the OutBuf and the aiocb. A
// glibc worker may write into rbuf or read `out` until the request completed,
// so nothing is appended to `out` while a write runs (replies only come from
// a completed read), and a Conn is freed only when no request is in flight:
// closing first shutdown(SHUT_RDWR)s the socket (a running blocking read
// returns 0, a write fails), aio_cancel()s a request still queued, and waits
// for the completion. Threads: main (all Conn state), acceptor (listener,
// slots), signal thread, glibc's workers (the requests).
//
// Errors (classified by errclass, with aio_error's code as errno):
//   accept (acceptor): accepted -> pipe; retry -> again; out_of_fds -> sleep
//           50 ms; fatal -> exit 1 (or, when stopping, leave the thread).
//   read:   progress -> feed, write the replies, read again; closed (0) ->
//           write what is owed, then close; retry/would_block -> read again;
//           peer_gone (ECONNRESET, ECANCELED...) -> close this connection.
//   write:  progress -> consume; a short write resubmits the rest;
//           retry/would_block -> write the same again; peer_gone -> close.
//   submission failing (EAGAIN: out of resources) -> close that connection.
//   aio_suspend: EINTR -> again; any other error -> perror, exit 1.
// Back-pressure: by construction; a connection does not read while it owes.
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
#include "outbuf.h"
#include "protocol.h"

namespace {

using iogate::IoClass;

constexpr int kMaxConns = 512;

struct Conn {
  Conn(int f, iogate::Protocol p) : fd(f), session(p) {}
  int fd;
  iogate::Session session;
  char rbuf[4096];
  iogate::OutBuf out;  // replies owed; untouched while a write runs
  aiocb cb{};
  bool busy = false, writing = false;  // a request in flight, and which
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
  if (!c.busy) return;
  shutdown(c.fd, SHUT_RDWR);  // ends a running blocking read()/write()
  aio_cancel(c.fd, &c.cb);    // a queued one completes with ECANCELED
}

// Submits what the connection needs next. Returns true once it can be freed.
bool advance(Conn& c) {
  if (!c.closing && !c.busy) {
    c.writing = !c.out.empty();
    if (c.writing) {
      c.busy = submit(c.cb, c.fd, c.out.data(), c.out.size(), true);
    } else if (!c.eof) {
      c.busy = submit(c.cb, c.fd, c.rbuf, sizeof c.rbuf, false);
    } else {
      c.closing = true;  // EOF and nothing owed
    }
    if (!c.busy && !c.closing) begin_close(c);  // the submission failed
  }
  return c.closing && !c.busy;
}

void on_done(Conn& c, ssize_t n, int err) {
  IoClass k = c.writing ? iogate::classify_send(n, err) : iogate::classify_recv(n, err);
  if (k == IoClass::progress && c.writing) {
    c.out.consume(static_cast<std::size_t>(n));  // short: advance() writes the rest
  } else if (k == IoClass::progress) {
    std::string replies;
    c.session.feed(c.rbuf, static_cast<std::size_t>(n), replies);
    c.out.append(replies);
  } else if (k == IoClass::closed) {
    c.eof = true;
  } else if (k == IoClass::peer_gone) {
    begin_close(c);
  }  // retry, would_block: advance() submits the same request again
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
  init.aio_threads = kMaxConns + 8;  // a blocked request holds a thread
  init.aio_num = kMaxConns + 8;
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
      if (c->busy) list.push_back(&c->cb);
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
          c->out.append(c->session.greeting());
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
      if (completed(c->cb, c->busy, n, err)) on_done(*c, n, err);
      if (advance(*c)) done.push_back(c);
    }
    for (Conn* c : done) {  // nothing of theirs is in flight any more
      close(c->fd);
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
