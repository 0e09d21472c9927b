// The signal facts of the preload shim's own process (signals.h): its
// dispositions from sigaction(2), its SIGIO owners served with
// rt_sigqueueinfo(2). The syscall backend answers the same questions for a
// traced process from its own books (syscall/sigbook.cc).
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "real.h"
#include "signals.h"

namespace iogate {

namespace {
// Signal `sig` has a handler (not SIG_DFL/SIG_IGN) that would end a sleeping
// call with EINTR: one without SA_RESTART, or any when restart_ok.
bool interrupts(int sig, bool restart_ok) {
  struct sigaction sa;
  if (sigaction(sig, nullptr, &sa) != 0) return false;
  const bool caught = (sa.sa_flags & SA_SIGINFO) ? sa.sa_sigaction != nullptr
                                                 : (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN);
  return caught && (restart_ok || !(sa.sa_flags & SA_RESTART));
}
}  // namespace

// The calling thread is the one the call would sleep in: a signal it blocks
// is delivered to another thread (or waits), never interrupting this call.
bool caught_signal_could_interrupt(bool restart_ok) {
  sigset_t blocked;
  if (pthread_sigmask(SIG_BLOCK, nullptr, &blocked) != 0) sigemptyset(&blocked);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP || sigismember(&blocked, sig) == 1) continue;
    if (interrupts(sig, restart_ok)) return true;
  }
  return false;
}

bool owe_sigio(int fd, uint32_t bit, bool (*still_ready)(int, uint32_t)) {
  const int fl = IOGATE_REAL(fcntl)(fd, F_GETFL);
  if (fl < 0 || !(fl & O_ASYNC) || !still_ready(fd, bit)) return false;
  struct f_owner_ex owner{};
  if (IOGATE_REAL(fcntl)(fd, F_GETOWN_EX, &owner) != 0 || owner.pid <= 0) return false;
  const int configured = IOGATE_REAL(fcntl)(fd, F_GETSIG);
  const int sig = configured > 0 ? configured : SIGIO;
  siginfo_t si;
  std::memset(&si, 0, sizeof si);
  si.si_signo = sig;
  si.si_code = bit == EPOLLIN ? POLL_IN : POLL_OUT;
  si.si_fd = fd;
  si.si_band = bit == EPOLLIN ? (POLLIN | POLLRDNORM) : (POLLOUT | POLLWRNORM);
  // A process may queue itself a signal with any si_code (rt_sigqueueinfo(2)).
  const pid_t self = getpid();
  long r;
  if (owner.type == F_OWNER_TID)
    r = syscall(SYS_rt_tgsigqueueinfo, self, owner.pid, sig, &si);
  else if (owner.pid == self)
    r = syscall(SYS_rt_sigqueueinfo, self, sig, &si);
  else
    return false;  // owned by another process: the kernel would signal it; not ours to fake
  return r == 0;
}

}  // namespace iogate
