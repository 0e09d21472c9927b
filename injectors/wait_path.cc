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
