#include "signal_stop.h"

#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>

namespace iogate::reactor {

std::unique_ptr<SignalStop> SignalStop::create(std::function<void()> stop) {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  int err = pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  if (err != 0) {
    errno = err;
    return nullptr;
  }
  int fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return nullptr;
  return std::unique_ptr<SignalStop>(new SignalStop(fd, std::move(stop)));
}

SignalStop::~SignalStop() { close(fd_); }

void SignalStop::handle_event(uint32_t) {
  signalfd_siginfo info;
  bool stop = false;
  for (;;) {
    ssize_t n = read(fd_, &info, sizeof info);
    if (n == static_cast<ssize_t>(sizeof info)) {
      stop = true;  // only SIGTERM and SIGINT are in the mask
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;  // EAGAIN: drained
    }
  }
  if (stop) stop_();
}

}  // namespace iogate::reactor
