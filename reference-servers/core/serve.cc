#include "serve.h"

#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <string_view>

#include "errclass.h"
#include "net.h"

namespace iogate {

void serve_blocking(int fd, Protocol proto) {
  Session session(proto);
  std::string_view greeting = session.greeting();
  if (!send_all_blocking(fd, greeting.data(), greeting.size())) return;
  char buf[4096];
  std::string replies;
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    int err = errno;
    switch (classify_recv(n, err)) {
      case IoClass::progress:
        replies.clear();
        session.feed(buf, static_cast<std::size_t>(n), replies);
        if (!send_all_blocking(fd, replies.data(), replies.size())) return;  // EPIPE, ECONNRESET: gone
        break;
      case IoClass::retry:        // EINTR before any data: the same recv again
      case IoClass::would_block:  // no receive timeout is set; be safe anyway
        break;
      case IoClass::closed:     // 0: the client finished (or was shut down)
      case IoClass::peer_gone:  // ECONNRESET, ETIMEDOUT, ...
        return;
    }
  }
}

}  // namespace iogate
