#include "acceptor.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "errclass.h"

namespace iogate::reactor {

Acceptor::~Acceptor() { close(listener_); }

void Acceptor::handle_event(uint32_t) {
  for (;;) {
    int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    int err = errno;
    switch (classify_accept(fd, err)) {
      case AcceptClass::accepted:
        on_accepted(fd);
        continue;
      case AcceptClass::would_block:
        return;
      case AcceptClass::retry:
        continue;
      case AcceptClass::out_of_fds:
        listen_for(0);
        reactor_.run_after(kAcceptBackOff, [this] { listen_for(kReadable); });
        return;
      case AcceptClass::fatal:
        errno = err;
        std::perror("accept");
        std::exit(1);
    }
  }
}

void Acceptor::listen_for(uint32_t interest) {
  if (!reactor_.modify(this, interest)) {
    std::fprintf(stderr, "%s: listener: ", who_);
    std::perror("modify");
    std::exit(1);
  }
}

}  // namespace iogate::reactor
