#include "stream_io.h"

#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "errclass.h"

namespace iogate::reactor {

bool read_once(int fd, Session& session, OutBuf& out, bool& eof) {
  char buf[4096];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  int err = errno;
  switch (classify_recv(n, err)) {
    case IoClass::progress: {
      std::string replies;
      session.feed(buf, static_cast<std::size_t>(n), replies);
      out.append(replies);
      return flush_nonblocking(fd, out) != IoClass::peer_gone;
    }
    case IoClass::would_block:  // spurious readiness or an injected EAGAIN
    case IoClass::retry:        // EINTR: the fd is reported again
      return true;
    case IoClass::closed:
      eof = true;
      return true;
    case IoClass::peer_gone:
      return false;
  }
  return false;
}

}  // namespace iogate::reactor
