#include "wait_path.h"

#include <poll.h>

#include "epoll_book.h"
#include "fdtable.h"
#include "legality.h"
#include "proc.h"
#include "schedule.h"
#include "signals.h"
#include "trace.h"

namespace iogate {

const char* const kNoIdle = "no registered fd was idle: nothing reported";

const char* waited_on(const char* note) {
  if (note == kNoIdle) return "no registered fd was idle: nothing reported; the wait went on with the caller's timeout";
  return note ? note : "nothing to report: the wait went on with the caller's timeout";
}

namespace {
struct WaitCtx {
  bool epoll;
  bool no_sleep;  // timeout 0
};

CallState wait_state(const Rule& r, void* p) {
  const auto* c = static_cast<WaitCtx*>(p);
  CallState st;
  st.epoll = c->epoll;
  st.no_sleep = c->no_sleep;
  if (r.fault == Fault::eintr) {
    // signal(7): select/poll need a caught signal (whatever its SA_RESTART);
    // epoll waits also end with EINTR after SIGSTOP/SIGCONT, a robustness
    // fault when nothing is caught (faults.def)
    st.caught = caught_signal_could_interrupt(true);
    st.interruptible = st.epoll || st.caught;
  }
  return st;
}

bool ready_now(int fd, uint32_t bit) { return poll_now(fd, bit == EPOLLIN ? POLLIN : POLLOUT) != 0; }

// V6 and V18: reporting fd ready when it is not; nullptr if kernel-possible.
const RobustRow* spurious_robustness(int fd) {
  CallState st;
  st.nonblocking = fd_nonblocking(fd, 0);
  st.shared_listener = fd_role(fd) == FdRole::listen && proc().forked.load(std::memory_order_relaxed);
  return robustness(CallClass::wait, Action::spurious, st);
}

}  // namespace

bool eligible(int fd, void* p) {
  auto* pick = static_cast<Pick*>(p);
  const Rule& r = *pick->rule;
  const FdRole role = fd_role(fd);
  if (role == FdRole::any) return false;
  if (r.fd != FdRole::any && r.fd != role) return false;
  if (r.conn != 0 && r.conn != fd_conn(fd)) return false;
  if (!g_plan->robust)
    if (const RobustRow* row = spurious_robustness(fd)) {
      pick->dropped = row->off_note;
      return false;
    }
  return true;
}

void picked(Decision& d, const Pick& pick, int spurious_fd) {
  if (spurious_fd >= 0) {
    if (const RobustRow* row = spurious_robustness(spurious_fd)) d.out.robust = row->reason;
  } else {
    d.note = pick.dropped ? pick.dropped : kNoIdle;
  }
}

Decision wait_decision(uint64_t idx, bool epoll, long long timeout_ns) {
  WaitCtx ctx{epoll, timeout_ns == 0};
  return decide(CallClass::wait, Op::any, 0, idx, proc().wait_fired, wait_state, &ctx);
}

int epoll_spurious(Decision& d, uint64_t idx, int epfd, epoll_event* events, int n, int maxevents,
                   int* spurious_fd) {
  const uint64_t pick = schedule_hash(g_plan->seed, static_cast<uint64_t>(d.rule->index), 0, idx);
  Pick cand{d.rule};
  n = ep_spurious(epfd, events, n, maxevents, pick, eligible, &cand, ready_now, spurious_fd);
  picked(d, cand, *spurious_fd);
  return n;
}

const char* fault_text(const Decision& d) {
  return d.rule && d.out.action != Action::pass ? d.rule->text.c_str() : nullptr;
}

void record_epoll_wait(const char* name, int epfd, const epoll_event* events, int n, int maxevents,
                       long long timeout_ms, int err, const Decision& d, int paid, int spurious_fd) {
  if (!trace_on()) return;
  TraceLine t(name);
  t.num("fd", epfd).num("req", maxevents).num("timeout", timeout_ms).num("ret", n).err(err);
  if (n > 0) {
    t.open_array("events");
    for (int i = 0; i < n; ++i)
      t.array_item_pair(ep_fd_of(epfd, events[i].data.u64), epoll_flag_names(events[i].events).c_str());
    t.close_array();
  }
  const bool faulted = spurious_fd >= 0 || d.out.action == Action::eintr;
  t.num("synthetic", paid).str("fault", faulted ? fault_text(d) : nullptr);
  if (faulted && d.out.robust) t.str("robust", d.out.robust);
  if (spurious_fd >= 0) t.num("spurious_fd", spurious_fd);
  if (d.note) t.str("note", d.note);
  t.emit();
}

Decision scan_decision(uint64_t* idx, long long timeout_ns) {
  if (!class_has_rules(CallClass::wait)) return Decision{};
  *idx = proc().scan_waits.fetch_add(1, std::memory_order_relaxed) + 1;
  return wait_decision(*idx, false, timeout_ns);
}

int select_spurious(Decision& d, uint64_t idx, int nfds, const fd_set* asked, fd_set* rd, int n, int* spurious_fd) {
  // Candidates: asked for reading, not reported (so not ready), eligible.
  int cands[FD_SETSIZE], k = 0;
  Pick cand{d.rule};
  for (int fd = 0; fd < nfds && fd < FD_SETSIZE; ++fd)
    if (FD_ISSET(fd, asked) && !FD_ISSET(fd, rd) && eligible(fd, &cand)) cands[k++] = fd;
  if (k > 0) {
    *spurious_fd = cands[schedule_hash(g_plan->seed, static_cast<uint64_t>(d.rule->index), 0, idx) % k];
    FD_SET(*spurious_fd, rd);
    ++n;
  }
  picked(d, cand, *spurious_fd);
  return n;
}

int poll_spurious(Decision& d, uint64_t idx, pollfd* fds, nfds_t nfds, int n, int* spurious_fd) {
  nfds_t k = 0;
  Pick cand{d.rule};
  auto candidate = [&](nfds_t i) {
    return fds[i].fd >= 0 && (fds[i].events & POLLIN) && fds[i].revents == 0 && eligible(fds[i].fd, &cand);
  };
  for (nfds_t i = 0; i < nfds; ++i)
    if (candidate(i)) ++k;
  if (k > 0) {
    nfds_t pick = schedule_hash(g_plan->seed, static_cast<uint64_t>(d.rule->index), 0, idx) % k;
    for (nfds_t i = 0; i < nfds; ++i)
      if (candidate(i) && pick-- == 0) {
        fds[i].revents = POLLIN;
        *spurious_fd = fds[i].fd;
        ++n;
        break;
      }
  }
  picked(d, cand, *spurious_fd);
  return n;
}

namespace {
// The end of a select/poll record: what is ready, the fault, the note.
void record_scan_tail(TraceLine& t, const Decision& d, int spurious_fd) {
  const bool faulted = spurious_fd >= 0 || d.out.action == Action::eintr;
  t.str("fault", faulted ? fault_text(d) : nullptr);
  if (faulted && d.out.robust) t.str("robust", d.out.robust);
  if (spurious_fd >= 0) t.num("spurious_fd", spurious_fd);
  if (d.note) t.str("note", d.note);
  t.emit();
}
}  // namespace

void record_select(const char* name, int nfds, long long timeout_ms, int n, int err, const Decision& d,
                   int spurious_fd, const fd_set* rd, const fd_set* wr, const fd_set* ex) {
  if (!trace_on()) return;
  TraceLine t(name);
  t.num("nfds", nfds).num("timeout", timeout_ms).num("ret", n).err(err);
  if (n > 0) {
    t.open_array("events");
    for (int fd = 0; fd < nfds && fd < FD_SETSIZE; ++fd) {
      const bool r = rd && FD_ISSET(fd, rd), w = wr && FD_ISSET(fd, wr), e = ex && FD_ISSET(fd, ex);
      if (r || w || e) t.array_item_pair(fd, r && w ? "RW" : r ? "R" : w ? "W" : "E");
    }
    t.close_array();
  }
  record_scan_tail(t, d, spurious_fd);
}

void record_poll(const char* name, const pollfd* fds, nfds_t nfds, long long timeout_ms, int n, int err,
                 const Decision& d, int spurious_fd) {
  if (!trace_on()) return;
  TraceLine t(name);
  t.num("nfds", static_cast<long long>(nfds)).num("timeout", timeout_ms).num("ret", n).err(err);
  if (n > 0) {
    t.open_array("events");
    for (nfds_t i = 0; i < nfds; ++i) {
      const short ev = fds[i].revents;
      if (ev == 0) continue;
      t.array_item_pair(fds[i].fd, (ev & POLLIN) && (ev & POLLOUT) ? "IN|OUT" : (ev & POLLIN) ? "IN"
                                   : (ev & POLLOUT) ? "OUT" : "HUP|ERR");
    }
    t.close_array();
  }
  record_scan_tail(t, d, spurious_fd);
}

namespace {
const char* op_name(int op) {
  switch (op) {
    case EPOLL_CTL_ADD: return "ADD";
    case EPOLL_CTL_MOD: return "MOD";
    case EPOLL_CTL_DEL: return "DEL";
  }
  return "?";
}
}  // namespace

void record_epoll_ctl(int epfd, int op, int fd, const epoll_event* ev, int r, int err) {
  if (!trace_on()) return;
  TraceLine t("epoll_ctl");
  t.num("fd", fd).num("epfd", epfd).num("conn", fd_conn(fd)).str("op", op_name(op));
  if (ev && op != EPOLL_CTL_DEL) t.str("flags", epoll_flag_names(ev->events).c_str());
  t.num("ret", r).err(err).emit();
}

}  // namespace iogate
