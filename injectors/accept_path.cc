#include "accept_path.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "fdtable.h"
#include "real.h"
#include "shared.h"
#include "signals.h"
#include "trace.h"

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
}  // namespace

int accept_enter(AcceptCall& c) {
  FdState* s = stream_state(c.lfd);
  if (!s) return 0;
  fd_mark_listener(c.lfd);
  if (class_has_rules(CallClass::accept)) {  // counted for the whole server (shared.h)
    const uint64_t idx = shared_next_accept_call();
    int lfd = c.lfd;
    c.d = decide(CallClass::accept, Op::any, 0, idx, shared_accept_fired(), accept_state, &lfd);
  }
  switch (c.d.out.action) {
    case Action::eagain: return EAGAIN;
    case Action::eintr: return EINTR;
    case Action::emfile: return EMFILE;  // nothing dequeued: the listener stays readable
    case Action::econnaborted: {
      const int conn = c.take(c.ctx);
      if (conn < 0) return errno;  // nothing was queued: the kernel's own answer stands
      struct linger lg{1, 0};
      setsockopt(conn, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      IOGATE_REAL(close)(conn);  // the client sees RST, as for a connection reset while queued
      return ECONNABORTED;
    }
    case Action::pass:
    case Action::partial:   // data and wait actions: the legality rules never
    case Action::reset:     // give them to accept; listed so that a new action
    case Action::eof:       // is a -Wswitch error here
    case Action::epipe:
    case Action::spurious:
      return 0;
  }
  return 0;
}

void accept_exit(AcceptCall& c, int r, int err) {
  uint32_t conn = 0;
  if (r >= 0) conn = fd_accepted(r);
  if (trace_on()) {
    const Decision& d = c.d;
    TraceLine t(c.name);
    t.num("fd", c.lfd).num("ret", r).err(err).num("conn", conn);
    if (r >= 0) t.num("nonblock", fd_nonblocking(r, 0) ? 1 : 0);  // SOCK_NONBLOCK, for model detection
    t.str("fault", d.rule && d.out.action != Action::pass ? d.rule->text.c_str() : nullptr);
    if (d.out.action != Action::pass && d.out.robust) t.str("robust", d.out.robust);
    if (d.note) t.str("note", d.note);
    t.emit();
  }
  if (c.d.out.action == Action::eagain) owe_readiness(c.lfd, EPOLLIN);
}

namespace {
const char* fcntl_name(int cmd) {
  switch (cmd) {
    case F_SETFL: return "F_SETFL";
    case F_SETOWN: return "F_SETOWN";
    case F_SETSIG: return "F_SETSIG";
    case F_SETOWN_EX: return "F_SETOWN_EX";
  }
  return nullptr;
}

std::string fl_names(long fl) {
  std::string s;
  if (fl & O_NONBLOCK) s += "O_NONBLOCK";
  if (fl & O_ASYNC) s += s.empty() ? "O_ASYNC" : "|O_ASYNC";
  return s;
}
}  // namespace

bool fcntl_traced(int cmd) { return fcntl_name(cmd) != nullptr; }

void record_fcntl(const char* name, int fd, int cmd, long arg, int r, int err) {
  if (!trace_on() || !fcntl_traced(cmd)) return;
  TraceLine t(name);
  t.num("fd", fd).num("conn", fd_conn(fd)).str("cmd", fcntl_name(cmd));
  if (cmd == F_SETFL) t.str("flags", fl_names(arg).c_str());
  else if (cmd != F_SETOWN_EX) t.num("arg", arg);
  t.num("ret", r).err(err).emit();
}

void record_fionbio(int fd, int arg, int r, int err) {
  if (trace_on())
    TraceLine("ioctl").num("fd", fd).num("conn", fd_conn(fd)).str("cmd", "FIONBIO").num("arg", arg).num("ret", r)
        .err(err).emit();
}

void record_close(int fd, uint32_t conn, int r, int err) {
  if (trace_on()) TraceLine("close").num("fd", fd).num("conn", conn).num("ret", r).err(err).emit();
}

}  // namespace iogate
