// Model: process per connection. The parent blocks in accept(2) and fork(2)s
// a child for every connection; the child serves it with blocking recv(2)/
// send(2) and _exit(2)s, the parent closes its copy of the connection fd at
// once and goes back to accept. The kernel runs the children concurrently.
//
// Man pages: fork(2) (the child gets copies of every fd: each side closes
// what it does not use; pending signals are not inherited, the mask is),
// waitpid(2) (WNOHANG; a child not waited for stays a zombie), sigaction(2)
// (no SA_RESTART: a blocked accept fails with EINTR on SIGCHLD; SA_NOCLDSTOP),
// signal-safety(7) (waitpid, kill, shutdown, errno saved and restored),
// sigsuspend(2), accept(2) (EMFILE; ECONNABORTED "treat like EAGAIN"),
// recv(2), send(2) (MSG_NOSIGNAL), shutdown(2) (SHUT_RDWR on a listener wakes
// accept, which then fails with EINVAL), _exit(2) (the child must not run the
// parent's atexit handlers or flush its stdio buffers).
//
// Ownership: the parent owns the listener and g_children, the pids of its
// live children (a slot is filled by main with the signals blocked, emptied
// by the SIGCHLD handler when it reaps that child). A connection fd belongs to
// the child: the parent closes its copy right after fork, the child closes the
// listener and, on every path, the connection. The child owns its Session,
// 4096-byte read buffer and reply string. Single-threaded processes.
//
// Errors (classified by errclass):
//   accept: accepted -> fork (fork failure: close that client, back off 50 ms);
//           retry (EINTR from SIGCHLD, ECONNABORTED...) / would_block ->
//           accept again; out_of_fds -> sleep 50 ms (no spin); fatal -> the
//           stop path when SIGTERM shut the listener down, else perror, stop
//           the children, exit 1.
//   recv (child): progress -> feed, send every reply byte; retry (EINTR) /
//           would_block -> recv again; closed / peer_gone -> close, _exit(0).
//   send (child): send_all_blocking resumes short sends at the offset and
//           retries EINTR; false (EPIPE...) -> close, _exit(0).
// Children: the SIGCHLD handler reaps every exited child (waitpid(-1,
// WNOHANG) until 0), so no zombie outlives its SIGCHLD. At most kMaxChildren
// run at once; beyond that the parent waits (sigsuspend) and clients queue.
// Shutdown: the SIGTERM/SIGINT handler sets g_stop and shutdown()s the
// listener (so a blocked or a later accept returns at once, no lost wake-up);
// the parent sends SIGTERM to every live child, waits for each and exits 0.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <string>

#include "errclass.h"
#include "net.h"
#include "protocol.h"
#include "serve.h"

namespace {

using iogate::IoClass;

constexpr int kMaxChildren = 1024;
static_assert(std::atomic<pid_t>::is_always_lock_free, "used from a signal handler");
std::atomic<pid_t> g_children[kMaxChildren];  // 0: free slot
std::atomic<int> g_listener{-1};
volatile sig_atomic_t g_stop = 0;

extern "C" void on_sigchld(int) {
  int saved = errno;
  pid_t pid;
  while ((pid = waitpid(-1, nullptr, WNOHANG)) > 0) {
    for (auto& slot : g_children) {
      if (slot.load() == pid) {
        slot.store(0);
        break;
      }
    }
  }
  errno = saved;
}

extern "C" void on_stop(int) {
  int saved = errno;
  g_stop = 1;
  shutdown(g_listener.load(), SHUT_RDWR);  // accept -> EINVAL from now on
  errno = saved;
}

void back_off() {
  timespec delay{0, 50 * 1000 * 1000};  // 50 ms: let fds or processes be freed
  nanosleep(&delay, nullptr);
}

// A free slot of g_children, waiting for a child to exit while all are
// taken; -1 once stopping. The check and the wait are race-free: the handled
// signals are blocked except inside sigsuspend.
int free_slot(const sigset_t& handled, const sigset_t& normal) {
  sigprocmask(SIG_BLOCK, &handled, nullptr);
  int found = -1;
  while (found < 0 && !g_stop) {
    for (int i = 0; i < kMaxChildren && found < 0; ++i) {
      if (g_children[i].load() == 0) found = i;
    }
    if (found < 0) sigsuspend(&normal);
  }
  sigprocmask(SIG_SETMASK, &normal, nullptr);
  return found;
}

// fork() with the handled signals blocked, so the pid is in its slot before
// SIGCHLD can reap it and a SIGTERM is never run by the child's copy of the
// handler. Always closes the parent's copy of `fd`.
void spawn(int listener, int fd, int slot, iogate::Protocol proto, const sigset_t& handled,
           const sigset_t& normal) {
  sigprocmask(SIG_BLOCK, &handled, nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGCHLD, SIG_DFL);
    signal(SIGTERM, SIG_DFL);  // a stop signal kills the child, even one sent
    signal(SIGINT, SIG_DFL);   // to it before this line (it is pending now)
    sigprocmask(SIG_SETMASK, &normal, nullptr);
    close(listener);
    iogate::serve_blocking(fd, proto);  // the child's exit closes fd
    _exit(0);
  }
  if (pid > 0) g_children[slot].store(pid);
  int err = errno;
  close(fd);
  sigprocmask(SIG_SETMASK, &normal, nullptr);
  if (pid < 0) {
    errno = err;
    std::perror("fork");  // EAGAIN, ENOMEM: this client is refused
    back_off();
  }
}

// SIGTERM to every live child, then wait for each (SIGCHLD stays blocked, so
// the handler cannot reap them behind our back).
void stop_children(const sigset_t& handled) {
  sigprocmask(SIG_BLOCK, &handled, nullptr);
  for (auto& slot : g_children) {
    if (pid_t pid = slot.load(); pid > 0) kill(pid, SIGTERM);
  }
  for (auto& slot : g_children) {
    pid_t pid = slot.load();
    if (pid <= 0) continue;
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    slot.store(0);
  }
}

}  // namespace

int main(int argc, char** argv) {
  iogate::ServerOptions opts = iogate::parse_options(argc, argv, "fork");
  iogate::ignore_sigpipe();
  sigset_t handled, normal;
  sigemptyset(&handled);
  sigaddset(&handled, SIGCHLD);
  sigaddset(&handled, SIGTERM);
  sigaddset(&handled, SIGINT);
  sigprocmask(SIG_BLOCK, &handled, &normal);  // until g_listener is set

  struct sigaction sa {};
  sa.sa_mask = handled;  // the handlers never interrupt each other
  sa.sa_flags = SA_NOCLDSTOP;  // and no SA_RESTART: accept returns EINTR
  sa.sa_handler = on_sigchld;
  sigaction(SIGCHLD, &sa, nullptr);
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  int listener = iogate::listen_on(opts, /*nonblocking=*/false);
  g_listener.store(listener);
  sigprocmask(SIG_SETMASK, &normal, nullptr);  // a pending SIGTERM runs now

  int status = 0;
  while (!g_stop) {
    int slot = free_slot(handled, normal);
    if (slot < 0) break;  // stopping
    int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    int err = errno;
    switch (iogate::classify_accept(fd, err)) {
      case iogate::AcceptClass::accepted:
        spawn(listener, fd, slot, opts.protocol, handled, normal);
        break;
      case iogate::AcceptClass::would_block:
      case iogate::AcceptClass::retry:
        break;
      case iogate::AcceptClass::out_of_fds:
        back_off();
        break;
      case iogate::AcceptClass::fatal:
        if (g_stop) break;  // our own shutdown(listener): EINVAL
        errno = err;
        std::perror("accept");
        status = 1;
        g_stop = 1;
        break;
    }
  }

  stop_children(handled);
  close(listener);
  return status;
}
