// The hand-written wrappers of the accept path and of descriptor book-keeping.
// accept/accept4 number connections and carry the accept faults (EAGAIN,
// EINTR, EMFILE leaving the connection queued, ECONNABORTED consuming and
// aborting a real one: V1, V5, V10); socket/close/dup* keep the fd table honest
// when numbers are reused; fcntl/ioctl are traced (O_NONBLOCK, O_ASYNC,
// F_SETOWN, F_SETSIG, FIONBIO: how the server set its fds up). The fortified
// __*_chk entry points check their buffer size like glibc, then take the
// normal path.
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "accept_path.h"
#include "epoll_book.h"
#include "fdtable.h"
#include "real.h"
#include "shared.h"
#include "shim.h"
#include "signals.h"
#include "trace.h"
#include "trace_channel.h"

extern "C" void __chk_fail(void) __attribute__((noreturn));

namespace iogate {
namespace {

template <typename Real>
int accept_common(const char* name, int lfd, Real&& real) {
  if (!shim_active()) return real();
  Guard guard;
  using Fn = std::remove_reference_t<Real>;
  AcceptCall c(name, lfd, [](void* p) { return (*static_cast<Fn*>(p))(); }, &real);
  int r = -1;
  int err = accept_enter(c);
  if (err == 0) {
    r = real();
    err = r < 0 ? errno : 0;
  }
  StopSignalsHeld held;
  accept_exit(c, r, err);
  errno = err;
  return r;
}

void forget(int fd, uint32_t conn = 0) {
  ep_forget(fd);
  fd_reset(fd, FdKind::unknown, conn);
}

int fcntl_common(const char* name, int fd, int cmd, void* arg, int r, int err) {
  if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && shim_active()) {
    Guard guard;
    forget(r, fd_conn(fd));  // a duplicate: the same connection under a second number
    errno = err;
    return r;
  }
  if (!shim_active() || !trace_on()) return r;
  if (!fcntl_traced(cmd)) return r;
  Guard guard;
  if (!stream_state(fd)) {  // classifies a socket not seen yet (fcntl right after accept)
    errno = err;
    return r;
  }
  record_fcntl(name, fd, cmd, reinterpret_cast<long>(arg), r, err);
  errno = err;
  return r;
}

}  // namespace
}  // namespace iogate

using namespace iogate;

IOGATE_EXPORT int accept(int fd, struct sockaddr* __restrict addr, socklen_t* __restrict alen) {
  return accept_common("accept", fd, [&] { return IOGATE_REAL(accept)(fd, addr, alen); });
}

IOGATE_EXPORT int accept4(int fd, struct sockaddr* __restrict addr, socklen_t* __restrict alen, int flags) {
  return accept_common("accept4", fd, [&] { return IOGATE_REAL(accept4)(fd, addr, alen, flags); });
}

IOGATE_EXPORT int connect(int fd, const struct sockaddr* addr, socklen_t len) {
  const int r = IOGATE_REAL(connect)(fd, addr, len);
  if ((r == 0 || errno == EINPROGRESS) && shim_active()) {
    const int err = errno;
    Guard guard;
    fd_mark_outgoing(fd);  // the process's own client socket: not a numbered connection
    errno = err;
  }
  return r;
}

IOGATE_EXPORT int socket(int domain, int type, int protocol) {
  const int r = IOGATE_REAL(socket)(domain, type, protocol);
  if (r >= 0 && shim_active()) {
    const int err = errno;
    Guard guard;
    forget(r);
    errno = err;
  }
  return r;
}

// The trace channel is not the program's (trace_channel.h): closing or
// duplicating it is refused as for a number the program never opened, a
// close of a range skips it, and a dup2/dup3 onto it moves it first.
namespace {
int not_yours() {
  errno = EBADF;
  return -1;
}

// The result of the program's dup2/dup3 onto a number the channel left: if
// the call failed, that number (the channel's old one, now unused) is closed.
int settled(int r, int left) {
  if (r < 0 && left >= 0) {
    const int e = errno;
    IOGATE_REAL(close)(left);
    errno = e;
  }
  return r;
}
}  // namespace

IOGATE_EXPORT int close_range(unsigned first, unsigned last, int flags) {
  const int t = channel_on() ? channel_fd() : -1;
  const unsigned tu = static_cast<unsigned>(t);
  if (t < 0 || tu < first || tu > last || (flags & CLOSE_RANGE_CLOEXEC))
    return IOGATE_REAL(close_range)(first, last, flags);
  // The range holds the channel: the numbers around it are closed, and an
  // unshare is done by the first call made (or alone, when the range is the channel).
  int rest = flags, r = 0;
  if (tu > first) {
    r = IOGATE_REAL(close_range)(first, tu - 1, rest);
    rest &= ~CLOSE_RANGE_UNSHARE;
  }
  if (r == 0 && tu < last) {
    r = IOGATE_REAL(close_range)(tu + 1, last, rest);
    rest &= ~CLOSE_RANGE_UNSHARE;
  }
  if (r == 0 && (rest & CLOSE_RANGE_UNSHARE)) r = unshare(CLONE_FILES);
  return r;
}

IOGATE_EXPORT void closefrom(int lowfd) {
  const int t = channel_on() ? channel_fd() : -1;
  if (t < 0 || t < lowfd) return IOGATE_REAL(closefrom)(lowfd);
  if (t > lowfd && lowfd >= 0) IOGATE_REAL(close_range)(static_cast<unsigned>(lowfd), static_cast<unsigned>(t) - 1, 0);
  IOGATE_REAL(closefrom)(t + 1);
}

IOGATE_EXPORT int close(int fd) {
  if (channel_owns(fd)) return not_yours();
  if (!shim_active()) return IOGATE_REAL(close)(fd);
  Guard guard;
  const bool sock = fd_known_stream(fd);
  const uint32_t conn = fd_conn(fd);
  forget(fd);
  const int r = IOGATE_REAL(close)(fd);
  const int err = r < 0 ? errno : 0;
  StopSignalsHeld held;
  if (sock) record_close(fd, conn, r, err);
  errno = err;
  return r;
}

IOGATE_EXPORT int dup(int oldfd) {
  if (channel_owns(oldfd)) return not_yours();
  const int r = IOGATE_REAL(dup)(oldfd);
  if (r >= 0 && shim_active()) {
    const int err = errno;
    Guard guard;
    forget(r, fd_conn(oldfd));  // the same connection under a second number
    errno = err;
  }
  return r;
}

IOGATE_EXPORT int dup2(int oldfd, int newfd) {
  if (channel_owns(oldfd)) return not_yours();
  const int left = oldfd != newfd ? channel_vacate(newfd) : -1;
  const int r = settled(IOGATE_REAL(dup2)(oldfd, newfd), left);
  if (r >= 0 && r != oldfd && shim_active()) {
    const int err = errno;
    Guard guard;
    forget(r, fd_conn(oldfd));
    errno = err;
  }
  return r;
}

IOGATE_EXPORT int dup3(int oldfd, int newfd, int flags) {
  if (channel_owns(oldfd)) return not_yours();
  const int left = oldfd != newfd ? channel_vacate(newfd) : -1;
  const int r = settled(IOGATE_REAL(dup3)(oldfd, newfd, flags), left);
  if (r >= 0 && shim_active()) {
    const int err = errno;
    Guard guard;
    forget(r, fd_conn(oldfd));
    errno = err;
  }
  return r;
}

IOGATE_EXPORT int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);  // every fcntl argument fits a pointer (glibc reads it the same way)
  va_end(ap);
  const int r = IOGATE_REAL(fcntl)(fd, cmd, arg);
  return fcntl_common("fcntl", fd, cmd, arg, r, r < 0 ? errno : 0);
}

IOGATE_EXPORT int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  const int r = IOGATE_REAL(fcntl64)(fd, cmd, arg);
  return fcntl_common("fcntl", fd, cmd, arg, r, r < 0 ? errno : 0);
}

IOGATE_EXPORT int ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  va_start(ap, req);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  const int r = IOGATE_REAL(ioctl)(fd, req, arg);
  const int err = r < 0 ? errno : 0;
  if (req == FIONBIO && arg && shim_active() && trace_on()) {
    Guard guard;
    // classifies a socket not seen yet (CPython's setblocking right after accept), as fcntl does
    if (stream_state(fd)) record_fionbio(fd, *static_cast<int*>(arg), r, err);
  }
  errno = err;
  return r;
}

IOGATE_EXPORT ssize_t __recv_chk(int fd, void* buf, size_t len, size_t buflen, int flags) {
  if (len > buflen) __chk_fail();
  return recv(fd, buf, len, flags);
}

IOGATE_EXPORT ssize_t __recvfrom_chk(int fd, void* __restrict buf, size_t len, size_t buflen, int flags,
                                     struct sockaddr* __restrict addr, socklen_t* __restrict alen) {
  if (len > buflen) __chk_fail();
  return recvfrom(fd, buf, len, flags, addr, alen);
}

IOGATE_EXPORT ssize_t __read_chk(int fd, void* buf, size_t len, size_t buflen) {
  if (len > buflen) __chk_fail();
  return read(fd, buf, len);
}
