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

CallState accept_state(const Rule& r, void* p) {
  const int fd = *static_cast<int*>(p);
  CallState st;
  st.nonblocking = fd_nonblocking(fd, 0);
  if (r.fault == Fault::eintr && !st.nonblocking) st.interruptible = caught_signal_could_interrupt(false);
  if (r.fault == Fault::econnaborted && st.nonblocking)  // is there a connection to abort?
    st.readable = (poll_now(fd, POLLIN) & POLLIN) != 0;
  return st;
}

template <typename Real>
int accept_common(const char* name, int lfd, Real&& real) {
  if (!shim_active()) return real();
  Guard guard;
  Decision d;
  FdState* s = stream_state(lfd);
  if (s) {
    fd_mark_listener(lfd);
    if (class_has_rules(CallClass::accept)) {  // counted for the whole server (shared.h)
      const uint64_t idx = shared_next_accept_call();
      int ctx = lfd;
      d = decide(CallClass::accept, Op::any, 0, idx, shared_accept_fired(), accept_state, &ctx);
    }
  }
  int r = -1, err = 0;
  switch (d.out.action) {
    case Action::eagain: err = EAGAIN; break;
    case Action::eintr: err = EINTR; break;
    case Action::emfile: err = EMFILE; break;  // nothing dequeued: the listener stays readable
    case Action::econnaborted: {
      const int c = real();
      if (c < 0) {
        err = errno;  // nothing was queued: the kernel's own answer stands
        break;
      }
      struct linger lg{1, 0};
      setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      IOGATE_REAL(close)(c);  // the client sees RST, as for a connection reset while queued
      err = ECONNABORTED;
      break;
    }
    case Action::pass:
    case Action::partial:   // data and wait actions: the legality rules never
    case Action::reset:     // give them to accept; listed so that a new action
    case Action::eof:       // is a -Wswitch error here
    case Action::epipe:
    case Action::spurious:
      r = real();
      err = r < 0 ? errno : 0;
      break;
  }
  StopSignalsHeld held;
  uint32_t conn = 0;
  if (r >= 0) conn = fd_accepted(r);
  if (trace_on()) {
    TraceLine t(name);
    t.num("fd", lfd).num("ret", r).err(err).num("conn", conn);
    if (r >= 0) t.num("nonblock", fd_nonblocking(r, 0) ? 1 : 0);  // SOCK_NONBLOCK, for model detection
    t.str("fault", d.rule && d.out.action != Action::pass ? d.rule->text.c_str() : nullptr);
    if (d.out.action != Action::pass && d.out.robust) t.str("robust", d.out.robust);
    if (d.note) t.str("note", d.note);
    t.emit();
  }
  if (d.out.action == Action::eagain) owe_readiness(lfd, EPOLLIN);
  errno = err;
  return r;
}

void forget(int fd, uint32_t conn = 0) {
  ep_forget(fd);
  fd_reset(fd, FdKind::unknown, conn);
}

std::string fl_names(long fl) {
  std::string s;
  if (fl & O_NONBLOCK) s += "O_NONBLOCK";
  if (fl & O_ASYNC) s += s.empty() ? "O_ASYNC" : "|O_ASYNC";
  return s;
}

int fcntl_common(const char* name, int fd, int cmd, void* arg, int r, int err) {
  if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && shim_active()) {
    Guard guard;
    forget(r, fd_conn(fd));  // a duplicate: the same connection under a second number
    errno = err;
    return r;
  }
  if (!shim_active() || !trace_on()) return r;
  const char* cname = cmd == F_SETFL ? "F_SETFL" : cmd == F_SETOWN ? "F_SETOWN" : cmd == F_SETSIG ? "F_SETSIG"
                      : cmd == F_SETOWN_EX ? "F_SETOWN_EX" : nullptr;
  if (!cname) return r;
  Guard guard;
  if (!stream_state(fd)) {  // classifies a socket not seen yet (fcntl right after accept)
    errno = err;
    return r;
  }
  const long v = reinterpret_cast<long>(arg);
  TraceLine t(name);
  t.num("fd", fd).num("conn", fd_conn(fd)).str("cmd", cname);
  if (cmd == F_SETFL) t.str("flags", fl_names(v).c_str());
  else if (cmd != F_SETOWN_EX) t.num("arg", v);
  t.num("ret", r).err(err).emit();
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
  if (sock && trace_on()) TraceLine("close").num("fd", fd).num("conn", conn).num("ret", r).err(err).emit();
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
    if (stream_state(fd))
      TraceLine("ioctl").num("fd", fd).num("conn", fd_conn(fd)).str("cmd", "FIONBIO")
          .num("arg", *static_cast<int*>(arg)).num("ret", r).err(err).emit();
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
