// The hand-written wrappers: calls whose shape does not fit calls.def.
// accept/accept4 number connections; socket/close/dup2/dup3 keep the fd table
// honest when numbers are reused; epoll_ctl records registrations; epoll_wait
// pays readiness debt; select is traced. The fortified __*_chk entry points
// check their buffer size like glibc, then take the normal path.
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "epoll_book.h"
#include "fdtable.h"
#include "real.h"
#include "shim.h"
#include "trace.h"

extern "C" void __chk_fail(void) __attribute__((noreturn));

namespace iogate {

namespace {

int after_accept(const char* name, int lfd, int r) {
  const int err = r < 0 ? errno : 0;
  if (!shim_active()) return r;
  StopSignalsHeld held;
  Guard guard;
  uint32_t conn = 0;
  if (r >= 0) {
    conn = next_conn_ordinal();
    fd_reset(r, FdKind::unknown, conn);  // classified (TCP or not) on first use
  }
  if (trace_on()) TraceLine(name).num("fd", lfd).num("ret", r).err(err).num("conn", conn).emit();
  errno = err;
  return r;
}

void forget(int fd) {
  ep_forget(fd);
  fd_reset(fd, FdKind::unknown, 0);
}

const char* op_name(int op) {
  switch (op) {
    case EPOLL_CTL_ADD: return "ADD";
    case EPOLL_CTL_MOD: return "MOD";
    case EPOLL_CTL_DEL: return "DEL";
  }
  return "?";
}

}  // namespace
}  // namespace iogate

using namespace iogate;

IOGATE_EXPORT int accept(int fd, struct sockaddr* __restrict addr, socklen_t* __restrict alen) {
  return after_accept("accept", fd, IOGATE_REAL(accept)(fd, addr, alen));
}

IOGATE_EXPORT int accept4(int fd, struct sockaddr* __restrict addr, socklen_t* __restrict alen, int flags) {
  return after_accept("accept4", fd, IOGATE_REAL(accept4)(fd, addr, alen, flags));
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

IOGATE_EXPORT int close(int fd) {
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

IOGATE_EXPORT int dup2(int oldfd, int newfd) {
  const int r = IOGATE_REAL(dup2)(oldfd, newfd);
  if (r >= 0 && r != oldfd && shim_active()) {
    const int err = errno;
    Guard guard;
    forget(r);
    errno = err;
  }
  return r;
}

IOGATE_EXPORT int dup3(int oldfd, int newfd, int flags) {
  const int r = IOGATE_REAL(dup3)(oldfd, newfd, flags);
  if (r >= 0 && shim_active()) {
    const int err = errno;
    Guard guard;
    forget(r);
    errno = err;
  }
  return r;
}

IOGATE_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event* ev) {
  const int r = IOGATE_REAL(epoll_ctl)(epfd, op, fd, ev);
  if (!shim_active()) return r;
  const int err = r < 0 ? errno : 0;
  Guard guard;
  if (r == 0) ep_record(epfd, op, fd, ev);
  if (trace_on()) {
    TraceLine t("epoll_ctl");
    t.num("fd", fd).num("epfd", epfd).num("conn", fd_conn(fd)).str("op", op_name(op));
    if (ev && op != EPOLL_CTL_DEL) t.str("flags", epoll_flag_names(ev->events).c_str());
    t.num("ret", r).err(err).emit();
  }
  errno = err;
  return r;
}

IOGATE_EXPORT int epoll_wait(int epfd, struct epoll_event* events, int maxevents, int timeout) {
  if (!shim_active()) return IOGATE_REAL(epoll_wait)(epfd, events, maxevents, timeout);
  int paid = 0, n;
  if (ep_has_debt(epfd)) {
    // Readiness the shim owes: do not sleep, collect what the kernel has and merge.
    n = IOGATE_REAL(epoll_wait)(epfd, events, maxevents, 0);
    if (n >= 0) {
      Guard guard;
      n = ep_pay(epfd, events, n, maxevents, &paid);
    }
  } else {
    n = IOGATE_REAL(epoll_wait)(epfd, events, maxevents, timeout);
  }
  const int err = n < 0 ? errno : 0;
  if (trace_on()) {
    StopSignalsHeld held;
    Guard guard;
    TraceLine t("epoll_wait");
    t.num("fd", epfd).num("req", maxevents).num("timeout", timeout).num("ret", n).err(err);
    if (n > 0) {
      t.open_array("events");
      for (int i = 0; i < n; ++i)
        t.array_item_pair(ep_fd_of(epfd, events[i].data.u64), epoll_flag_names(events[i].events).c_str());
      t.close_array();
    }
    t.num("synthetic", paid).emit();
  }
  errno = err;
  return n;
}

IOGATE_EXPORT int select(int nfds, fd_set* __restrict rd, fd_set* __restrict wr, fd_set* __restrict ex,
                         struct timeval* __restrict tv) {
  const long long timeout_ms = tv ? tv->tv_sec * 1000LL + tv->tv_usec / 1000 : -1;
  const int n = IOGATE_REAL(select)(nfds, rd, wr, ex, tv);
  if (!shim_active() || !trace_on()) return n;
  const int err = n < 0 ? errno : 0;
  Guard guard;
  TraceLine t("select");
  t.num("nfds", nfds).num("timeout", timeout_ms).num("ret", n).err(err);
  if (n > 0) {
    t.open_array("events");
    for (int fd = 0; fd < nfds && fd < FD_SETSIZE; ++fd) {
      const bool r = rd && FD_ISSET(fd, rd), w = wr && FD_ISSET(fd, wr), e = ex && FD_ISSET(fd, ex);
      if (r || w || e) t.array_item_pair(fd, r && w ? "RW" : r ? "R" : w ? "W" : "E");
    }
    t.close_array();
  }
  t.emit();
  errno = err;
  return n;
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
