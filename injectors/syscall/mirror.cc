#include "mirror.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

#include "../trace_channel.h"

namespace iogate::sys {

namespace {
int g_pidfd = -1;
std::vector<int> g_copies;  // numbers mirrored since the last drop
std::vector<int*> g_own;    // the supervisor's own descriptors (pidfds, stderr)

// A number of our own sits where fd must go: move it.
void vacate(int fd) {
  const int left = channel_vacate(fd);
  (void)left;  // replaced by the dup2 that follows
  for (int* own : g_own)
    if (*own == fd) {
      const int moved = fcntl(fd, F_DUPFD_CLOEXEC, fd + 1);
      if (moved >= 0) {
        close(fd);
        *own = moved;
      }
    }
}
}  // namespace

void mirror_process(int pidfd) { g_pidfd = pidfd; }

bool mirror(int fd) {
  if (fd < 0 || g_pidfd < 0) return false;
  vacate(fd);
  const int got = static_cast<int>(syscall(SYS_pidfd_getfd, g_pidfd, fd, 0));
  g_copies.push_back(fd);
  if (got < 0) {
    close(fd);
    return false;
  }
  if (got != fd) {
    dup2(got, fd);
    close(got);
  }
  return true;
}

void mirror_drop() {
  for (int fd : g_copies) close(fd);
  g_copies.clear();
}

void mirror_own(int* own) {
  const int high = fcntl(*own, F_DUPFD_CLOEXEC, 512);
  if (high >= 0) {
    close(*own);
    *own = high;
  }
  g_own.push_back(own);
}

}  // namespace iogate::sys
