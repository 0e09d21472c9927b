// What the supervisor does at the entry of each traced system call: the same
// decision paths as the preload shim (data_path.h, accept_path.h), applied
// by changing the stopped call: a lower length for a real short transfer
// (restored at the exit stop), a skipped call with the injected result, or
// the real call untouched and recorded at its exit. The waits are in
// waits.cc, io_uring in uring.cc.
#include <fcntl.h>
#include <poll.h>
#include <sys/select.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <algorithm>
#include <ctime>
#include <utility>
#include <vector>

#include "../accept_path.h"
#include "../data_path.h"
#include "../epoll_book.h"
#include "../fdtable.h"
#include "../shim.h"
#include "../trace.h"
#include "../wait_path.h"
#include "mirror.h"
#include "tracer.h"

namespace iogate::sys {

const long kTracedCalls[] = {
    SYS_read,  SYS_write,   SYS_readv,     SYS_writev,     SYS_recvfrom,     SYS_sendto,     SYS_recvmsg,
    SYS_sendmsg, SYS_accept, SYS_accept4,  SYS_close,      SYS_dup,          SYS_dup2,       SYS_dup3,
    SYS_fcntl, SYS_ioctl,   SYS_socket,    SYS_connect,    SYS_epoll_ctl,    SYS_epoll_wait, SYS_epoll_pwait,
    SYS_epoll_pwait2, SYS_rt_sigaction, SYS_poll, SYS_ppoll, SYS_select, SYS_pselect6,
    SYS_io_uring_setup, SYS_io_uring_enter, SYS_epoll_create, SYS_epoll_create1,
};
const unsigned kTracedCallCount = sizeof kTracedCalls / sizeof kTracedCalls[0];

namespace {

// -- data calls ---------------------------------------------------------

enum class Shape { plain, vec, msg };

struct DataShape {
  long nr;
  const char* name;
  CallClass cls;
  Shape shape;
  int flags_arg;  // -1: none
};

constexpr DataShape kData[] = {
    {SYS_read, "read", CallClass::recv, Shape::plain, -1},
    {SYS_recvfrom, "recvfrom", CallClass::recv, Shape::plain, 3},
    {SYS_readv, "readv", CallClass::recv, Shape::vec, -1},
    {SYS_recvmsg, "recvmsg", CallClass::recv, Shape::msg, 2},
    {SYS_write, "write", CallClass::send, Shape::plain, -1},
    {SYS_sendto, "sendto", CallClass::send, Shape::plain, 3},
    {SYS_writev, "writev", CallClass::send, Shape::vec, -1},
    {SYS_sendmsg, "sendmsg", CallClass::send, Shape::msg, 2},
};

// Words written into the tracee to shorten a vector call, with the values
// they had (put back at the exit stop).
using Pokes = std::vector<std::pair<uint64_t, uint64_t>>;

bool read_iov(pid_t tid, uint64_t addr, uint64_t cnt, std::vector<iovec>& out) {
  if (cnt > IOV_MAX) return false;
  out.resize(cnt);
  return cnt == 0 || read_mem(tid, addr, out.data(), cnt * sizeof(iovec));
}

std::size_t total(const std::vector<iovec>& v) {
  std::size_t n = 0;
  for (const iovec& e : v) n += e.iov_len;
  return n;
}

// The count of entries that carry exactly n bytes; the last one's length
// lowered in the tracee when n ends inside it.
bool trim_iov(pid_t tid, uint64_t addr, const std::vector<iovec>& v, std::size_t n, uint64_t* cnt, Pokes& pokes) {
  std::size_t before = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (before + v[i].iov_len >= n) {
      if (before + v[i].iov_len > n) {
        const uint64_t at = addr + i * sizeof(iovec) + offsetof(iovec, iov_len);
        if (!poke_word(tid, at, n - before)) return false;
        pokes.emplace_back(at, v[i].iov_len);
      }
      *cnt = i + 1;
      return true;
    }
    before += v[i].iov_len;
  }
  *cnt = v.size();
  return true;
}

bool data_entry(Thread& t, Regs& regs, const DataShape& shape) {
  const pid_t tid = t.tid;
  const int fd = static_cast<int>(regs.arg(0));
  serve(t);
  if (fd_known_other(fd)) return true;  // a file, a pipe, a UDP socket: nothing to decide, nothing to mirror
  std::size_t len = 0;
  std::vector<iovec> iov;
  msghdr msg{};
  uint64_t iov_addr = 0;
  switch (shape.shape) {
    case Shape::plain: len = regs.arg(2); break;
    case Shape::vec:
      iov_addr = regs.arg(1);
      if (!read_iov(tid, iov_addr, regs.arg(2), iov)) return true;  // the kernel will say EINVAL/EFAULT
      len = total(iov);
      break;
    case Shape::msg:
      if (!read_mem(tid, regs.arg(1), &msg, sizeof msg)) return true;
      iov_addr = reinterpret_cast<uint64_t>(msg.msg_iov);
      if (!read_iov(tid, iov_addr, msg.msg_iovlen, iov)) return true;
      len = total(iov);
      break;
  }
  const int flags = shape.flags_arg >= 0 ? static_cast<int>(regs.arg(shape.flags_arg)) : 0;
  mirror(fd);
  const uint32_t dir = shape.cls == CallClass::recv ? EPOLLIN : EPOLLOUT;
  DataCall c(shape.name, shape.cls, dir, fd, len, flags);
  ssize_t ret = -1;
  int err = 0;
  const Next next = data_enter(c, &ret, &err);
  settle_debts();
  if (next == Next::none) return true;
  if (next == Next::done) return skip_call(tid, regs, ret < 0 ? -err : ret);
  const Regs entry = regs;
  Pokes pokes;
  if (next == Next::shortened) {
    const std::size_t n = c.d.out.len;
    uint64_t cnt = 0;
    switch (shape.shape) {
      case Shape::plain: regs.set_arg(2, n); break;
      case Shape::vec:
        if (trim_iov(tid, iov_addr, iov, n, &cnt, pokes)) regs.set_arg(2, cnt);
        break;
      case Shape::msg:
        if (trim_iov(tid, iov_addr, iov, n, &cnt, pokes)) {
          const uint64_t at = regs.arg(1) + offsetof(msghdr, msg_iovlen);
          if (poke_word(tid, at, cnt)) pokes.emplace_back(at, msg.msg_iovlen);
        }
        break;
    }
    if (!set_regs(tid, regs)) return false;
  }
  t.at_exit = [c, entry, pokes](Thread& th, Regs& out) mutable {
    for (const auto& p : pokes) poke_word(th.tid, p.first, p.second);
    const auto [r, e] = out.result();
    if (restarting(out.ret())) {  // interrupted: the program never sees this call end; put its arguments back
      Regs back = out;
      for (int i = 0; i < 6; ++i) back.set_arg(i, entry.arg(i));
      set_regs(th.tid, back);
      return;
    }
    if (out.arg(2) != entry.arg(2)) {
      Regs back = out;
      back.set_arg(2, entry.arg(2));
      set_regs(th.tid, back);
    }
    serve(th);
    mirror(c.fd);
    data_exit(c, r, e);
    settle_debts();
  };
  return true;
}

// -- accept -------------------------------------------------------------

// A real accept of a queued connection on the mirrored listener, for
// accept.econnaborted: never waits (the supervisor must not block). With
// nothing queued on a blocking listener the program's own call waits for
// one (errno 0: accept_enter makes the real call) and abort_accepted ends it.
int take_queued(void* p) {
  const int lfd = *static_cast<int*>(p);
  if (!(poll_now(lfd, POLLIN) & POLLIN)) {
    errno = fd_nonblocking(lfd, 0) ? EAGAIN : 0;
    return -1;
  }
  // Another process of the server may take it first: an interval timer
  // ends a wait that should not happen.
  itimerval guard{{0, 0}, {0, 200000}}, off{};
  setitimer(ITIMER_REAL, &guard, nullptr);
  const int c = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
  const int e = errno;
  setitimer(ITIMER_REAL, &off, nullptr);
  errno = c < 0 && e == EINTR ? 0 : e;
  return c;
}

// accept.econnaborted on a blocking listener: the program's accept waited
// for the connection and got it. The supervisor makes it abort that one as
// the preload shim's own accept would: SO_LINGER 0 on the socket, then the
// thread enters close(fd) in place of returning (its registers otherwise
// kept), and that close's exit returns -1/ECONNABORTED for the accept: the
// client sees RST and the program never sees the connection.
void abort_accepted(Thread& t, Regs& out, AcceptCall c, int fd) {
  if (mirror(fd)) {
    struct linger lg{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  const Regs back = out;
  Regs enter = out;
  enter.r.orig_rax = SYS_close;
  if (!reenter_call(t.tid, enter, 0, static_cast<uint64_t>(fd))) return;
  t.resumed = [c, back](Thread& th, Regs&) mutable {  // at the exit of that close
    Regs done = back;
    done.r.rax = static_cast<unsigned long long>(-ECONNABORTED);
    set_regs(th.tid, done);
    serve(th);
    accept_exit(c, -1, ECONNABORTED);
  };
}

bool accept_entry(Thread& t, Regs& regs, const char* name) {
  serve(t);
  int lfd = static_cast<int>(regs.arg(0));
  mirror(lfd);
  AcceptCall c(name, lfd, take_queued, &lfd);
  const int err = accept_enter(c);
  c.take = nullptr;  // used at entry only
  c.ctx = nullptr;
  if (err != 0) {
    accept_exit(c, -1, err);
    settle_debts();
    return skip_call(t.tid, regs, -err);
  }
  t.at_exit = [c](Thread& th, Regs& out) mutable {
    if (restarting(out.ret())) return;
    const auto [r, e] = out.result();
    serve(th);
    if (r >= 0 && c.d.out.action == Action::econnaborted) return abort_accepted(th, out, c, static_cast<int>(r));
    if (r >= 0) mirror(static_cast<int>(r));
    accept_exit(c, static_cast<int>(r), e);
    settle_debts();
  };
  return true;
}

// -- descriptor book-keeping --------------------------------------------

void forget(int fd, uint32_t conn) {
  ep_forget(fd);
  fd_reset(fd, FdKind::unknown, conn);
}

// The new number r of a duplicate of old: the same connection.
void at_exit_dup(Thread& t, int old) {
  serve(t);
  const uint32_t conn = fd_conn(old);
  t.at_exit = [old, conn](Thread& th, Regs& out) {
    const long r = out.ret();
    if (r < 0 || r == old) return;
    serve(th);
    forget(static_cast<int>(r), conn);
  };
}

bool close_entry(Thread& t, int fd) {
  serve(t);
  t.proc->rings.erase(fd);  // the number may be reused (the ring lives on while it is mapped)
  const bool sock = fd_known_stream(fd);
  const uint32_t conn = fd_conn(fd);
  forget(fd, 0);
  if (sock && trace_on())
    t.at_exit = [fd, conn](Thread& th, Regs& out) {
      if (restarting(out.ret())) return;
      serve(th);
      const auto [r, e] = out.result();
      record_close(fd, conn, static_cast<int>(r), e);
    };
  return true;
}

bool fcntl_entry(Thread& t, const Regs& regs) {
  const int fd = static_cast<int>(regs.arg(0));
  const int cmd = static_cast<int>(regs.arg(1));
  const long arg = static_cast<long>(regs.arg(2));
  if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) {
    at_exit_dup(t, fd);
  } else if (fcntl_traced(cmd) && trace_on()) {
    t.at_exit = [fd, cmd, arg](Thread& th, Regs& out) {
      serve(th);
      mirror(fd);
      const auto [r, e] = out.result();
      if (stream_state(fd)) record_fcntl("fcntl", fd, cmd, arg, static_cast<int>(r), e);
    };
  }
  return true;
}

bool ioctl_entry(Thread& t, const Regs& regs) {
  if (regs.arg(1) != FIONBIO || regs.arg(2) == 0 || !trace_on()) return true;
  const int fd = static_cast<int>(regs.arg(0));
  int arg = 0;
  if (!read_mem(t.tid, regs.arg(2), &arg, sizeof arg)) return true;
  t.at_exit = [fd, arg](Thread& th, Regs& out) {
    serve(th);
    mirror(fd);
    const auto [r, e] = out.result();
    if (stream_state(fd)) record_fionbio(fd, arg, static_cast<int>(r), e);
  };
  return true;
}

// -- signals and sockets ------------------------------------------------

bool sigaction_entry(Thread& t, const Regs& regs) {
  const int sig = static_cast<int>(regs.arg(0));
  uint64_t act[2] = {0, 0};  // the kernel's struct sigaction starts with handler, flags
  if (!regs.arg(1) || !read_mem(t.tid, regs.arg(1), act, sizeof act)) return true;
  t.at_exit = [sig, act](Thread& th, Regs& out) {
    if (out.ret() == 0) sigbook_set(th.proc->sig, sig, act[0], act[1]);
  };
  return true;
}

}  // namespace

bool on_entry(Thread& t, Regs& regs) {
  if (t.resumed) {  // the call the supervisor made it enter again, decided already
    t.at_exit = std::move(t.resumed);
    t.resumed = nullptr;
    return true;
  }
  const long nr = regs.nr();
  for (const DataShape& s : kData)
    if (s.nr == nr) return data_entry(t, regs, s);
  switch (nr) {
    case SYS_accept: return accept_entry(t, regs, "accept");
    case SYS_accept4: return accept_entry(t, regs, "accept4");
    case SYS_close: return close_entry(t, static_cast<int>(regs.arg(0)));
    case SYS_dup:
    case SYS_dup2:
    case SYS_dup3: at_exit_dup(t, static_cast<int>(regs.arg(0))); return true;
    case SYS_fcntl: return fcntl_entry(t, regs);
    case SYS_ioctl: return ioctl_entry(t, regs);
    case SYS_socket:
    case SYS_epoll_create:
    case SYS_epoll_create1:  // a new number: whatever was known of it is gone
      t.at_exit = [](Thread& th, Regs& out) {
        if (out.ret() < 0) return;
        serve(th);
        forget(static_cast<int>(out.ret()), 0);
      };
      return true;
    case SYS_connect: {
      const int fd = static_cast<int>(regs.arg(0));
      t.at_exit = [fd](Thread& th, Regs& out) {
        if (out.ret() != 0 && out.ret() != -EINPROGRESS) return;
        serve(th);
        mirror(fd);
        fd_mark_outgoing(fd);
      };
      return true;
    }
    case SYS_epoll_ctl: return epoll_ctl_entry(t, regs);
    case SYS_epoll_wait: return epoll_wait_entry(t, regs, "epoll_wait");
    case SYS_epoll_pwait: return epoll_wait_entry(t, regs, "epoll_pwait");
    case SYS_epoll_pwait2: return epoll_wait_entry(t, regs, "epoll_pwait2");
    case SYS_rt_sigaction: return sigaction_entry(t, regs);
    case SYS_poll: return scan_entry(t, regs, "poll");
    case SYS_ppoll: return scan_entry(t, regs, "ppoll");
    case SYS_select: return scan_entry(t, regs, "select");
    case SYS_pselect6: return scan_entry(t, regs, "pselect");
    case SYS_io_uring_setup: {
      const uint64_t params = regs.arg(1);
      t.at_exit = [params](Thread& th, Regs& out) { uring_setup_exit(th, params, out.ret()); };
      return true;
    }
    case SYS_io_uring_enter: return uring_enter_entry(t, regs);
  }
  return true;
}

}  // namespace iogate::sys
