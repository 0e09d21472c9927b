// Model: thread pool. The main thread (the acceptor) blocks in accept(2) and
// pushes each connection fd into a bounded queue; --threads N workers
// (default 4) pop an fd and own that connection, with blocking recv(2)/send(2),
// until it closes. With more clients than workers the extra ones wait in the
// queue; when the queue is full the acceptor waits too and new clients stay in
// the listen backlog (back-pressure, nothing is dropped).
//
// Man pages: accept(2) (accept4 SOCK_CLOEXEC; EMFILE/ENFILE; ECONNABORTED and
// the network errors "treat them like EAGAIN by retrying"), recv(2) (0 =
// orderly shutdown; EINTR), send(2) (short counts; EPIPE; MSG_NOSIGNAL),
// pthread_sigmask(3) and sigwait(3) (block the stop signals in every thread,
// take them in one), shutdown(2) (SHUT_RDWR wakes a thread blocked in
// recv/send; on a listener it wakes accept, which then fails with EINVAL).
//
// Ownership: main() owns the listener. Pool::queue owns the fds accepted but
// not yet taken (main closes what is left at shutdown). A worker owns the fd
// it popped, its Session, 4096-byte read buffer and reply string, and closes
// the fd under Pool::mu; Pool::serving[i] borrows worker i's fd only so the
// stop path can shut it down. main() owns the worker and signal threads and
// joins them all.
// Thread rules: SIGTERM/SIGINT are blocked in every thread (mask set before
// the first thread); the signal thread takes them with sigwait. Everything in
// Pool is touched under Pool::mu; not_empty wakes workers, not_full the
// acceptor.
//
// Errors (classified by errclass):
//   accept: accepted -> queue it (waiting while the queue is full); retry /
//           would_block -> accept again; out_of_fds -> sleep 50 ms (no spin);
//           fatal -> the stop path when we shut the listener down, else
//           perror, exit 1.
//   recv:   progress -> feed, send every reply byte; retry (EINTR) /
//           would_block -> recv again; closed / peer_gone -> the worker closes
//           the fd and takes the next one.
//   send:   send_all_blocking resumes short sends at the offset, retries EINTR;
//           false (EPIPE, ECONNRESET...) -> end this connection only.
// Shutdown: the signal thread marks the pool stopping, shutdown()s the
// listener and every served fd and wakes all waiters; workers finish at once,
// main joins them, closes the queued fds and exits 0.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "errclass.h"
#include "net.h"
#include "protocol.h"
#include "serve.h"

namespace {

using iogate::IoClass;

constexpr std::size_t kQueueCapacity = 64;

struct Pool {
  explicit Pool(int workers) : serving(static_cast<std::size_t>(workers), -1) {}
  std::mutex mu;
  std::condition_variable not_empty;  // a worker may pop (or stop)
  std::condition_variable not_full;   // the acceptor may push (or stop)
  std::deque<int> queue;              // accepted, waiting for a worker (owned)
  std::vector<int> serving;           // fd worker i serves, -1 when idle (borrowed)
  bool stopping = false;
  int listener = -1;
};

void back_off() {
  timespec delay{0, 50 * 1000 * 1000};  // 50 ms: let other processes free fds
  nanosleep(&delay, nullptr);
}

void worker(Pool& pool, std::size_t me, iogate::Protocol proto) {
  for (;;) {
    int fd;
    {
      std::unique_lock<std::mutex> lock(pool.mu);
      pool.not_empty.wait(lock, [&] { return pool.stopping || !pool.queue.empty(); });
      if (pool.stopping) return;
      fd = pool.queue.front();
      pool.queue.pop_front();
      pool.serving[me] = fd;
    }
    pool.not_full.notify_one();
    iogate::serve_blocking(fd, proto);
    std::lock_guard<std::mutex> lock(pool.mu);
    pool.serving[me] = -1;
    close(fd);  // under mu: the stop path never shuts down a reused number
  }
}

// The signal thread: waits for SIGTERM/SIGINT, then wakes every blocked call.
void stop_on_signal(Pool& pool, sigset_t stop_signals) {
  int sig = 0;
  while (sigwait(&stop_signals, &sig) != 0) {
  }
  {
    std::lock_guard<std::mutex> lock(pool.mu);
    pool.stopping = true;
    if (pool.listener >= 0) shutdown(pool.listener, SHUT_RDWR);  // accept -> EINVAL
    for (int fd : pool.serving) {
      if (fd >= 0) shutdown(fd, SHUT_RDWR);  // recv -> 0, send -> EPIPE
    }
  }
  pool.not_empty.notify_all();
  pool.not_full.notify_all();
}

// Hands `fd` to the workers, waiting while the queue is full. Returns false
// once the pool is stopping (the fd is closed then).
bool hand_over(Pool& pool, int fd) {
  {
    std::unique_lock<std::mutex> lock(pool.mu);
    pool.not_full.wait(lock, [&] { return pool.stopping || pool.queue.size() < kQueueCapacity; });
    if (pool.stopping) {
      close(fd);
      return false;
    }
    pool.queue.push_back(fd);
  }
  pool.not_empty.notify_one();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  iogate::ServerOptions opts = iogate::parse_options(argc, argv, "thread_pool");
  iogate::ignore_sigpipe();
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);  // inherited by every thread

  // Every long-lived thread starts before "listening on" (the harness baseline).
  Pool pool(opts.threads);
  std::vector<std::thread> workers;
  for (std::size_t i = 0; i < pool.serving.size(); ++i) {
    workers.emplace_back(worker, std::ref(pool), i, opts.protocol);
  }
  std::thread signal_thread(stop_on_signal, std::ref(pool), stop_signals);
  int listener = iogate::listen_on(opts, /*nonblocking=*/false);
  {
    std::lock_guard<std::mutex> lock(pool.mu);
    pool.listener = listener;
    if (pool.stopping) shutdown(listener, SHUT_RDWR);
  }

  for (bool running = true; running;) {
    int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    int err = errno;
    switch (iogate::classify_accept(fd, err)) {
      case iogate::AcceptClass::accepted:
        running = hand_over(pool, fd);
        break;
      case iogate::AcceptClass::would_block:
      case iogate::AcceptClass::retry:
        break;
      case iogate::AcceptClass::out_of_fds:
        back_off();
        break;
      case iogate::AcceptClass::fatal: {
        std::lock_guard<std::mutex> lock(pool.mu);
        if (pool.stopping) {  // our own shutdown(listener): EINVAL
          running = false;
          break;
        }
        errno = err;
        std::perror("accept");
        std::_Exit(1);  // workers still run: no destructors, no joins
      }
    }
  }

  for (std::thread& t : workers) t.join();
  signal_thread.join();
  for (int fd : pool.queue) close(fd);  // accepted but never served
  close(listener);
  return 0;
}
