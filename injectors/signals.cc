#include "signals.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>

#include "real.h"

namespace iogate {

bool socket_has_timeout(int fd, bool reading) {
  struct timeval tv{};
  socklen_t len = sizeof tv;
  if (getsockopt(fd, SOL_SOCKET, reading ? SO_RCVTIMEO : SO_SNDTIMEO, &tv, &len) != 0) return false;
  return tv.tv_sec != 0 || tv.tv_usec != 0;
}

}  // namespace iogate
