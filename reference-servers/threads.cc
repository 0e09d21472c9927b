// Model: thread-per-connection. The main thread blocks in accept(2); every
// accepted connection gets its own std::thread that serves it with blocking
// recv(2)/send(2) until the peer goes away. Clients are concurrent because the
// kernel schedules the threads; no readiness API is used.
//
// Man pages: accept(2) (accept4 SOCK_CLOEXEC; EMFILE/ENFILE; ECONNABORTED and
// the network errors "treat them like EAGAIN by retrying"), recv(2) (0 =
// orderly shutdown; EINTR), send(2) (short counts; EPIPE; MSG_NOSIGNAL),
// pthread_create(3) (EAGAIN: no resources for another thread), pthread_sigmask(3)
// and sigwait(3) (signals are per thread: block them everywhere, take them in
// one thread), shutdown(2) (SHUT_RDWR wakes a thread blocked in recv/send on
// that socket; on a listening socket it also wakes accept, which then fails
// with EINVAL).
//
// Ownership: main() owns the listener. Each connection thread owns its fd,
// Session, 4096-byte read buffer and reply string; it closes the fd itself
// (under Registry::mu, so the stop path never shuts down a reused number).
// Registry owns the std::thread objects: `threads` holds every joinable
// thread, `finished` the ids of threads that returned; main joins those after
// each accept and all of them at shutdown. `live` borrows the connection fds
// only to shut them down at stop.
// Thread rules: SIGTERM/SIGINT are blocked in every thread (the mask is set
// before the first thread starts); only the signal thread takes them, with
// sigwait. Everything in Registry is touched under Registry::mu.
//
// Errors (classified by errclass, never by ad-hoc errno tests):
//   accept: accepted -> new thread (pthread_create failure: close that client,
//           back off 50 ms, not holding the registry lock); retry /
//           would_block -> accept again; out_of_fds -> sleep 50 ms (no spin),
//           the client stays queued; fatal -> the stop path when we shut the
//           listener down ourselves, else perror, exit 1.
//   recv:   progress -> feed the Session, send every reply byte; retry (EINTR)
//           -> recv again; closed / peer_gone -> the thread closes its fd and
//           ends; would_block (no SO_RCVTIMEO here) -> recv again.
//   send:   send_all_blocking resumes short sends at the offset and retries
//           EINTR; false (EPIPE, ECONNRESET...) -> end this connection only.
// Shutdown: the signal thread marks the registry stopping and shutdown()s the
// listener and every live connection; each blocked call returns at once, every
// thread ends, main joins them all and exits 0.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "errclass.h"
#include "net.h"
#include "protocol.h"
#include "serve.h"

namespace {

using iogate::IoClass;

struct Registry {
  std::mutex mu;
  bool stopping = false;
  int listener = -1;
  std::set<int> live;                               // fds being served (borrowed)
  std::map<std::thread::id, std::thread> threads;   // every joinable connection thread
  std::vector<std::thread::id> finished;            // returned, not joined yet
};

void back_off() {
  timespec delay{0, 50 * 1000 * 1000};  // 50 ms: let fds or threads be freed
  nanosleep(&delay, nullptr);
}

void connection_thread(Registry& reg, int fd, iogate::Protocol proto) {
  iogate::serve_blocking(fd, proto);
  std::lock_guard<std::mutex> lock(reg.mu);
  reg.live.erase(fd);
  close(fd);
  reg.finished.push_back(std::this_thread::get_id());
}

// Joins the threads that already returned (they are gone from the kernel;
// only their stacks wait for the join).
void join_finished(Registry& reg) {
  std::vector<std::thread> done;
  {
    std::lock_guard<std::mutex> lock(reg.mu);
    for (std::thread::id id : reg.finished) {
      auto it = reg.threads.find(id);
      done.push_back(std::move(it->second));
      reg.threads.erase(it);
    }
    reg.finished.clear();
  }
  for (std::thread& t : done) t.join();
}

// The signal thread: waits for SIGTERM/SIGINT, then wakes every blocked call.
void stop_on_signal(Registry& reg, sigset_t stop_signals) {
  int sig = 0;
  while (sigwait(&stop_signals, &sig) != 0) {
  }
  std::lock_guard<std::mutex> lock(reg.mu);
  reg.stopping = true;
  if (reg.listener >= 0) shutdown(reg.listener, SHUT_RDWR);  // accept -> EINVAL
  for (int fd : reg.live) shutdown(fd, SHUT_RDWR);           // recv -> 0, send -> EPIPE
}

enum class Started { yes, no_thread, stopping };

// Gives `fd` its thread; on failure or once stopping, closes it.
Started start_connection(Registry& reg, int fd, iogate::Protocol proto) {
  std::lock_guard<std::mutex> lock(reg.mu);
  if (reg.stopping) {
    close(fd);
    return Started::stopping;
  }
  try {
    std::thread t(connection_thread, std::ref(reg), fd, proto);
    reg.live.insert(fd);  // the new thread cannot erase it before we unlock
    std::thread::id id = t.get_id();
    reg.threads.emplace(id, std::move(t));
    return Started::yes;
  } catch (const std::system_error& e) {  // EAGAIN: no thread for this client
    std::fprintf(stderr, "threads: cannot start a thread: %s\n", e.what());
    close(fd);
    return Started::no_thread;
  }
}

}  // namespace

int main(int argc, char** argv) {
  iogate::ServerOptions opts = iogate::parse_options(argc, argv, "threads");
  iogate::ignore_sigpipe();
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);  // inherited by every thread

  Registry reg;
  // Long-lived threads start before "listening on" (the harness baseline).
  std::thread signal_thread(stop_on_signal, std::ref(reg), stop_signals);
  int listener = iogate::listen_on(opts, /*nonblocking=*/false);
  {
    std::lock_guard<std::mutex> lock(reg.mu);
    reg.listener = listener;
    if (reg.stopping) shutdown(listener, SHUT_RDWR);
  }

  for (bool running = true; running;) {
    int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    int err = errno;
    join_finished(reg);
    switch (iogate::classify_accept(fd, err)) {
      case iogate::AcceptClass::accepted:
        switch (start_connection(reg, fd, opts.protocol)) {
          case Started::yes:
            break;
          case Started::no_thread:
            back_off();  // outside the lock: finishing threads need it
            break;
          case Started::stopping:
            running = false;
            break;
        }
        break;
      case iogate::AcceptClass::would_block:
      case iogate::AcceptClass::retry:
        break;
      case iogate::AcceptClass::out_of_fds:
        back_off();
        break;
      case iogate::AcceptClass::fatal: {
        std::lock_guard<std::mutex> lock(reg.mu);
        if (reg.stopping) {  // our own shutdown(listener): EINVAL
          running = false;
          break;
        }
        errno = err;
        std::perror("accept");
        std::_Exit(1);  // threads still run: no destructors, no joins
      }
    }
  }

  // Stopping: every live connection was shut down; wait for every thread.
  std::map<std::thread::id, std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(reg.mu);
    threads.swap(reg.threads);
    reg.finished.clear();
  }
  for (auto& [id, t] : threads) t.join();
  signal_thread.join();
  close(listener);
  return 0;
}
