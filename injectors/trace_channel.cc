#include "trace_channel.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "real.h"

namespace iogate {

namespace {
std::atomic<int> g_fd{-1};
std::atomic<dev_t> g_dev{0};
std::atomic<ino_t> g_ino{0};
char g_path[4096];  // a copy: the program may change its environment

int close_real(int fd) { return IOGATE_REAL(close)(fd); }

// The highest number the channel may take: below the descriptor limit and
// below FD_SETSIZE, so that it never widens a select() set or the fd table.
int top_number() {
  rlimit rl{};
  long top = 1024;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && static_cast<long>(rl.rlim_cur) < top)
    top = static_cast<long>(rl.rlim_cur);
  return static_cast<int>(top) - 1;
}

// A duplicate of fd at the highest free number at most top_number(), other
// than `avoid` (F_DUPFD never replaces an open descriptor; bounded search
// downwards); fd itself if no high number is free.
int high_copy(int fd, int avoid) {
  const int top = top_number();
  for (int want = top; want > 2 && want > top - 64; --want) {
    if (want == avoid) continue;
    const int n = IOGATE_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, want);
    if (n < 0) continue;
    if (n <= top && n != avoid) return n;
    close_real(n);
  }
  return fd;
}

// Opens the trace file at a high number and records its identity.
int open_high() {
  const int fd = open(g_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  const int high = high_copy(fd, -1);
  if (high != fd) close_real(fd);
  struct stat st{};
  if (fstat(high, &st) == 0) {
    g_dev.store(st.st_dev);
    g_ino.store(st.st_ino);
  }
  return high;
}
}  // namespace

bool channel_open(const char* path) {
  if (std::strlen(path) >= sizeof g_path) {
    errno = ENAMETOOLONG;
    return false;
  }
  std::strcpy(g_path, path);
  const int fd = open_high();
  g_fd.store(fd);
  return fd >= 0;
}

bool channel_on() { return g_fd.load(std::memory_order_relaxed) >= 0; }

bool channel_owns(int fd) { return fd >= 0 && fd == g_fd.load(std::memory_order_relaxed); }

int channel_fd() {
  int fd = g_fd.load(std::memory_order_acquire);
  if (fd < 0) return -1;
  struct stat st{};
  if (fstat(fd, &st) == 0 && st.st_ino == g_ino.load() && st.st_dev == g_dev.load()) return fd;
  // The number no longer holds the trace file (closed by a raw syscall, maybe
  // reused by the program): never write there, never close it; reopen.
  const int fresh = open_high();
  if (fresh < 0) return -1;
  if (!g_fd.compare_exchange_strong(fd, fresh)) {  // another thread reopened first: use its channel
    close_real(fresh);
    return g_fd.load();
  }
  return fresh;
}

int channel_vacate(int fd) {
  int cur = g_fd.load(std::memory_order_acquire);
  if (cur < 0 || fd != cur) return -1;
  const int moved = high_copy(cur, cur);
  if (moved == cur) {  // no other number: a low one is still better than writing into the program's file
    const int low = IOGATE_REAL(fcntl)(cur, F_DUPFD_CLOEXEC, 3);
    if (low < 0) return -1;
    return g_fd.compare_exchange_strong(cur, low) ? fd : (close_real(low), -1);
  }
  if (!g_fd.compare_exchange_strong(cur, moved)) {
    close_real(moved);
    return -1;
  }
  return fd;
}

}  // namespace iogate
