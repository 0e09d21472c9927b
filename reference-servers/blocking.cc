// Model: blocking, iterative. One client at a time: accept(2) blocks until a
// client arrives, then recv(2)/send(2) block until that client is done; the
// next client waits in the listen backlog meanwhile.
//
// Man pages: accept(2) (accept4 with SOCK_CLOEXEC; EMFILE/ENFILE; ECONNABORTED
// and the network errors "treat them like EAGAIN by retrying"), recv(2)
// (0 = orderly shutdown; EINTR), send(2) (short counts; EPIPE; MSG_NOSIGNAL),
// signal(7) (EINTR on blocking calls), nanosleep(2).
//
// Ownership: main() owns the listening fd for the whole run. serve() owns the
// connection fd it is given (closes it on every path before returning), its
// Session, its 4096-byte read buffer and its reply string; nothing outlives one
// client. Single-threaded.
//
// Errors (classified by errclass, never by ad-hoc errno tests):
//   accept: accepted -> serve; retry -> accept again; out_of_fds -> sleep
//           50 ms (no spin), the pending client stays queued; fatal -> perror,
//           exit 1. would_block cannot happen on a blocking listener (a
//           spurious one is handled like retry).
//   recv:   progress -> feed the Session, send every reply byte; retry (EINTR)
//           -> recv again; closed / peer_gone -> close this client, accept the
//           next; would_block (only with SO_RCVTIMEO, not set here) -> recv again.
//   send:   send_all_blocking loops over short sends and EINTR; false (EPIPE,
//           ECONNRESET...) -> close this client only.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <string>

#include "errclass.h"
#include "net.h"
#include "protocol.h"

namespace {

using iogate::IoClass;

void back_off() {
  timespec delay{0, 50 * 1000 * 1000};  // 50 ms: let other processes free fds
  nanosleep(&delay, nullptr);
}

// Serves one client until it goes away; always closes `fd`.
void serve(int fd, iogate::Protocol proto) {
  iogate::Session session(proto);
  std::string_view greeting = session.greeting();
  if (!iogate::send_all_blocking(fd, greeting.data(), greeting.size())) {
    close(fd);
    return;
  }
  char buf[4096];
  std::string replies;
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    int err = errno;
    switch (iogate::classify_recv(n, err)) {
      case IoClass::progress:
        replies.clear();
        session.feed(buf, static_cast<std::size_t>(n), replies);
        if (!iogate::send_all_blocking(fd, replies.data(), replies.size())) {
          close(fd);  // EPIPE / ECONNRESET: only this client is gone
          return;
        }
        break;
      case IoClass::retry:        // EINTR before any data: the same recv again
      case IoClass::would_block:  // no receive timeout is set; be safe anyway
        break;
      case IoClass::closed:     // 0: the client finished sending
      case IoClass::peer_gone:  // ECONNRESET, ETIMEDOUT, ...
        close(fd);
        return;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  iogate::ServerOptions opts = iogate::parse_options(argc, argv, "blocking");
  iogate::ignore_sigpipe();
  int listener = iogate::listen_on(opts, /*nonblocking=*/false);

  for (;;) {
    int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    int err = errno;
    switch (iogate::classify_accept(fd, err)) {
      case iogate::AcceptClass::accepted:
        serve(fd, opts.protocol);
        break;
      case iogate::AcceptClass::would_block:
      case iogate::AcceptClass::retry:
        break;
      case iogate::AcceptClass::out_of_fds:
        back_off();
        break;
      case iogate::AcceptClass::fatal:
        errno = err;
        std::perror("accept");
        return 1;
    }
  }
}
