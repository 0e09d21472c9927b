// The readiness calls at the system-call boundary: epoll_ctl kept in the
// process's epoll book, and the waits (epoll, select, poll) decided by the
// shared wait path (wait_path.h): wait.eintr skips the call; wait.spurious
// adds one ready entry to the program's array after the wait, which first
// tries with timeout 0 where the timeout is an argument, and otherwise
// enters again for the rest of the caller's timeout. Every wait is recorded
// at its exit.
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <vector>

#include "../epoll_book.h"
#include "../trace.h"
#include "../wait_path.h"
#include "mirror.h"
#include "tracer.h"

namespace iogate::sys {

bool epoll_ctl_entry(Thread& t, const Regs& regs) {
  const int epfd = static_cast<int>(regs.arg(0)), op = static_cast<int>(regs.arg(1));
  const int fd = static_cast<int>(regs.arg(2));
  epoll_event ev{};
  const bool has_ev = op != EPOLL_CTL_DEL && regs.arg(3) && read_mem(t.tid, regs.arg(3), &ev, sizeof ev);
  t.at_exit = [epfd, op, fd, ev, has_ev](Thread& th, Regs& out) {
    serve(th);
    const auto [r, e] = out.result();
    if (r == 0) ep_record(epfd, op, fd, has_ev ? &ev : nullptr);
    record_epoll_ctl(epfd, op, fd, has_ev ? &ev : nullptr, static_cast<int>(r), e);
  };
  return true;
}

namespace {

// A timeout the program passed by address: -1 (forever) for none.
long long timespec_ms(Thread& t, uint64_t addr) {
  timespec ts{};
  if (!addr || !read_mem(t.tid, addr, &ts, sizeof ts)) return -1;
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

long long timeout_ms_of(Thread& t, const Regs& regs, long nr) {
  return nr == SYS_epoll_pwait2 ? timespec_ms(t, regs.arg(3)) : static_cast<int>(regs.arg(3));
}

long long now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

// A wait first tried with timeout 0 that had nothing to report: the thread
// enters it again with the rest of the caller's timeout (argument `arg`),
// and w records it at that exit. False when the caller's time is up.
template <typename Wait>
bool go_on(Thread& th, Regs& out, Wait& w, int arg) {
  const long long left = w.timeout_ms < 0 ? -1 : w.timeout_ms - (now_ms() - w.started_ms);
  if (w.timeout_ms >= 0 && left <= 0) return false;
  w.d.note = waited_on(w.d.note);
  reenter_call(th.tid, out, arg, static_cast<uint64_t>(left));
  th.resumed = [rest = w](Thread& t2, Regs& o2) mutable { rest.exit(t2, o2, true); };
  return true;
}

// One epoll wait of the program, from its entry to the record: the decision
// made at entry, and for wait.spurious the zero-timeout try, the pick, and
// the rest of the caller's timeout when nothing could be reported.
struct EpollWait {
  const char* name;
  int epfd;
  uint64_t events;  // the program's array
  int maxevents;
  long long timeout_ms;  // the caller's
  long long started_ms;
  uint64_t idx;
  Decision d;
  bool zeroed;  // the supervisor made the first try with timeout 0

  // The exit of the wait (the first try or the one that went on).
  void exit(Thread& th, Regs& out, bool again) {
    if (restarting(out.ret())) {
      if (zeroed) {
        Regs back = out;
        back.set_arg(3, static_cast<uint64_t>(timeout_ms));
        set_regs(th.tid, back);
      }
      return;
    }
    const auto [r, e] = out.result();
    std::vector<epoll_event> got(static_cast<std::size_t>(maxevents > 0 ? maxevents : 0));
    int n = static_cast<int>(r);
    if (n > 0 && !read_mem(th.tid, events, got.data(), static_cast<std::size_t>(n) * sizeof(epoll_event))) n = 0;
    serve(th);
    int spurious_fd = -1;
    if (!again && n >= 0 && d.out.action == Action::spurious) {
      int fds[256];
      const int k = ep_registered(epfd, fds, 256);
      for (int i = 0; i < k; ++i) mirror(fds[i]);  // the pick probes them
      const int before = n;
      n = epoll_spurious(d, idx, epfd, got.data(), n, maxevents, &spurious_fd);
      if (n > before) {
        write_mem(th.tid, events + static_cast<uint64_t>(before) * sizeof(epoll_event), &got[before],
                  sizeof(epoll_event));
        out.r.rax = static_cast<unsigned long long>(n);
      }
      if (n == 0 && zeroed && go_on(th, out, *this, 3)) return;
    }
    if (zeroed && !again) out.set_arg(3, static_cast<uint64_t>(timeout_ms));
    if (zeroed || n != static_cast<int>(r)) set_regs(th.tid, out);
    record_epoll_wait(name, epfd, got.data(), n, maxevents, timeout_ms, e, d, 0, spurious_fd);
  }
};

}  // namespace

bool epoll_wait_entry(Thread& t, Regs& regs, const char* name) {
  EpollWait w{name, static_cast<int>(regs.arg(0)), regs.arg(1), static_cast<int>(regs.arg(2)),
              timeout_ms_of(t, regs, regs.nr()), now_ms(), 0, Decision{}, false};
  serve(t);
  if (class_has_rules(CallClass::wait)) {
    w.idx = ep_next_wait(w.epfd);
    w.d = wait_decision(w.idx, true, w.timeout_ms < 0 ? -1 : w.timeout_ms * 1000000LL);
  }
  if (w.d.out.action == Action::eintr) {
    record_epoll_wait(name, w.epfd, nullptr, -1, w.maxevents, w.timeout_ms, EINTR, w.d, 0, -1);
    return skip_call(t.tid, regs, -EINTR);
  }
  // A spurious report is immediate: the first try does not sleep (epoll_pwait2's
  // timeout is in the program's memory: it keeps its own, and the report
  // comes with the next wake-up).
  if (w.d.out.action == Action::spurious && w.timeout_ms != 0 && regs.nr() != SYS_epoll_pwait2) {
    regs.set_arg(3, 0);
    if (!set_regs(t.tid, regs)) return false;
    w.zeroed = true;
  }
  if (!trace_on() && w.d.out.action == Action::pass) return true;
  t.at_exit = [w](Thread& th, Regs& out) mutable { w.exit(th, out, false); };
  return true;
}

namespace {

// One select/poll of the program, like EpollWait. Only poll's timeout is an
// argument the supervisor can zero for an immediate spurious report; ppoll,
// select and pselect6 keep theirs (the report comes with the next wake-up).
struct ScanWait {
  enum Kind { poll, select } kind;
  const char* name;
  uint64_t set_addr[3];  // poll: the pollfd array in [0]; select: the read, write and except sets
  int nfds;
  long long timeout_ms;
  long long started_ms;
  uint64_t idx;
  Decision d;
  bool zeroed;
  fd_set asked;  // select: the read set as the caller gave it

  static std::size_t set_bytes(int nfds) { return (static_cast<std::size_t>(nfds) + 63) / 64 * 8; }

  void exit(Thread& th, Regs& out, bool again) {
    if (restarting(out.ret())) {
      if (zeroed) {
        Regs back = out;
        back.set_arg(2, static_cast<uint64_t>(timeout_ms));
        set_regs(th.tid, back);
      }
      return;
    }
    const auto [r, e] = out.result();
    int n = static_cast<int>(r);
    std::vector<pollfd> fds;
    fd_set sets[3];
    bool have[3] = {false, false, false};
    if (kind == poll) {
      fds.resize(static_cast<std::size_t>(nfds));
      if (nfds > 0 && !read_mem(th.tid, set_addr[0], fds.data(), fds.size() * sizeof(pollfd))) fds.clear();
    } else {
      for (int i = 0; i < 3; ++i) {
        FD_ZERO(&sets[i]);
        have[i] = set_addr[i] && read_mem(th.tid, set_addr[i], &sets[i], set_bytes(nfds));
      }
    }
    serve(th);
    int spurious_fd = -1;
    if (!again && n >= 0 && d.out.action == Action::spurious) {
      const int before = n;
      if (kind == poll) {
        for (const pollfd& p : fds) mirror(p.fd);  // the pick probes them
        n = poll_spurious(d, idx, fds.data(), fds.size(), n, &spurious_fd);
        if (n > before) write_mem(th.tid, set_addr[0], fds.data(), fds.size() * sizeof(pollfd));
      } else if (have[0]) {
        for (int fd = 0; fd < nfds && fd < FD_SETSIZE; ++fd)
          if (FD_ISSET(fd, &asked)) mirror(fd);
        n = select_spurious(d, idx, nfds, &asked, &sets[0], n, &spurious_fd);
        if (n > before) write_mem(th.tid, set_addr[0], &sets[0], set_bytes(nfds));
      }
      if (n > before) out.r.rax = static_cast<unsigned long long>(n);
      if (n == 0 && zeroed && go_on(th, out, *this, 2)) return;
    }
    if (zeroed && !again) out.set_arg(2, static_cast<uint64_t>(timeout_ms));
    if (zeroed || n != static_cast<int>(r)) set_regs(th.tid, out);
    if (kind == poll)
      record_poll(name, fds.data(), fds.size(), timeout_ms, n, e, d, spurious_fd);
    else
      record_select(name, nfds, timeout_ms, n, e, d, spurious_fd, have[0] ? &sets[0] : nullptr,
                    have[1] ? &sets[1] : nullptr, have[2] ? &sets[2] : nullptr);
  }
};

}  // namespace

bool scan_entry(Thread& t, Regs& regs, const char* name) {
  const long nr = regs.nr();
  ScanWait w{};
  w.name = name;
  w.started_ms = now_ms();
  w.kind = nr == SYS_poll || nr == SYS_ppoll ? ScanWait::poll : ScanWait::select;
  if (w.kind == ScanWait::poll) {
    w.set_addr[0] = regs.arg(0);
    w.nfds = static_cast<int>(std::min<uint64_t>(regs.arg(1), 65536));
    w.timeout_ms = nr == SYS_poll ? static_cast<int>(regs.arg(2)) : timespec_ms(t, regs.arg(2));
  } else {
    w.nfds = static_cast<int>(std::min<uint64_t>(regs.arg(0), FD_SETSIZE));
    for (int i = 0; i < 3; ++i) w.set_addr[i] = regs.arg(i + 1);
    if (nr == SYS_pselect6) {
      w.timeout_ms = timespec_ms(t, regs.arg(4));
    } else {
      timeval tv{};
      const bool given = regs.arg(4) && read_mem(t.tid, regs.arg(4), &tv, sizeof tv);
      w.timeout_ms = given ? tv.tv_sec * 1000LL + tv.tv_usec / 1000 : -1;
    }
  }
  serve(t);
  w.d = scan_decision(&w.idx, w.timeout_ms < 0 ? -1 : w.timeout_ms * 1000000LL);
  if (w.d.out.action == Action::eintr) {
    if (w.kind == ScanWait::poll)
      record_poll(name, nullptr, 0, w.timeout_ms, -1, EINTR, w.d, -1);
    else
      record_select(name, w.nfds, w.timeout_ms, -1, EINTR, w.d, -1, nullptr, nullptr, nullptr);
    return skip_call(t.tid, regs, -EINTR);
  }
  if (w.d.out.action == Action::spurious) {
    FD_ZERO(&w.asked);
    if (w.kind == ScanWait::select && w.set_addr[0])
      read_mem(t.tid, w.set_addr[0], &w.asked, ScanWait::set_bytes(w.nfds));
    if (nr == SYS_poll && w.timeout_ms != 0) {
      regs.set_arg(2, 0);
      if (!set_regs(t.tid, regs)) return false;
      w.zeroed = true;
    }
  }
  if (!trace_on() && w.d.out.action == Action::pass) return true;
  t.at_exit = [w](Thread& th, Regs& out) mutable { w.exit(th, out, false); };
  return true;
}

}  // namespace iogate::sys
