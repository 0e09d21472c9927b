// The readiness calls: epoll_wait/epoll_pwait/epoll_pwait2, select/pselect,
// poll/ppoll. Three shapes, one decision path each:
//   wait.eintr    -1/EINTR before waiting, nothing consumed (V5: always legal
//                 for epoll; select/poll need a caught signal)
//   wait.spurious a registered, not ready fd reported ready (V6, V7); the wait
//                 then does not block (timeout 0) so the report is immediate
//   readiness debt (epoll): owed events merged in without sleeping (V3)
// Whenever the shim made the real call with timeout 0 and then had nothing to
// report, the wait goes on with what is left of the caller's own timeout
// (forever stays forever): the kernel never returns 0 from an infinite wait,
// nor before a finite timeout expired.
// Wait rules count calls per epoll instance (epoll) or per process
// (select/poll): conn=K and fd=listen|conn choose the fd made ready. A
// spurious report of a blocking socket is a robustness fault (V6, V18): marked
// in the trace, and under robust=off only kernel-possible fds are chosen.
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "epoll_book.h"
#include "fdtable.h"
#include "proc.h"
#include "real.h"
#include "schedule.h"
#include "shim.h"
#include "signals.h"
#include "trace.h"
#include "wait_path.h"

namespace iogate {
namespace {



// The caller's timeout, kept from the entry of the wrapper so that a wait the
// shim first made with timeout 0 can go on for exactly the time that is left.
class WaitClock {
 public:
  static constexpr long long kForever = -1;
  explicit WaitClock(long long timeout_ns) : timeout_ns_(timeout_ns) {
    if (timeout_ns_ > 0) clock_gettime(CLOCK_MONOTONIC, &start_);
  }
  // kForever, 0 (the caller's time is up) or the nanoseconds left.
  long long left_ns() const {
    if (timeout_ns_ <= 0) return timeout_ns_;
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    const long long spent = (now.tv_sec - start_.tv_sec) * 1000000000LL + (now.tv_nsec - start_.tv_nsec);
    return spent >= timeout_ns_ ? 0 : timeout_ns_ - spent;
  }

 private:
  long long timeout_ns_;
  timespec start_{};
};


long long ms_to_ns(long long ms) { return ms < 0 ? WaitClock::kForever : ms * 1000000LL; }
long long ts_to_ns(const struct timespec* ts) {
  return ts ? ts->tv_sec * 1000000000LL + ts->tv_nsec : WaitClock::kForever;
}
long long tv_to_ns(const struct timeval* tv) {
  return tv ? tv->tv_sec * 1000000000LL + tv->tv_usec * 1000LL : WaitClock::kForever;
}
// Rounded up: a wait never ends before the caller's time is up.
int ns_to_ms(long long ns) {
  if (ns < 0) return -1;
  const long long ms = (ns + 999999) / 1000000;
  return ms > 0x7fffffff ? 0x7fffffff : static_cast<int>(ms);
}
struct timespec ns_to_ts(long long ns) { return timespec{static_cast<time_t>(ns / 1000000000LL), ns % 1000000000LL}; }
struct timeval ns_to_tv(long long ns) {
  const long long us = (ns + 999) / 1000;
  return timeval{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
}


// After a zero-timeout real call that had nothing to report: the rest of the
// caller's wait (nothing if its time is up).
template <typename Rest>
int go_on(const WaitClock& clock, Decision& d, int& err, Rest&& rest) {
  const long long left = clock.left_ns();
  if (left == 0) return 0;
  d.note = waited_on(d.note);
  const int n = rest(left);
  err = n < 0 ? errno : 0;
  return n;
}

// real(bool no_wait): the real wait, with a zero timeout when no_wait;
// rest(ns): the real wait for ns nanoseconds (WaitClock::kForever: no limit).
template <typename Real, typename Rest>
int epoll_common(const char* name, int epfd, epoll_event* events, int maxevents, long long timeout_ms,
                 long long timeout_ns, Real&& real, Rest&& rest) {
  if (!shim_active()) return real(false);
  Guard guard;
  const WaitClock clock(timeout_ns);
  Decision d;
  uint64_t idx = 0;
  if (class_has_rules(CallClass::wait)) {
    idx = ep_next_wait(epfd);
    d = wait_decision(idx, true, timeout_ns);
  }
  int n, err = 0, paid = 0, spurious_fd = -1;
  if (d.out.action == Action::eintr) {
    n = -1;
    err = EINTR;
  } else {
    const bool spurious = d.out.action == Action::spurious;
    const bool owed = ep_has_debt(epfd);
    n = real(owed || spurious);
    err = n < 0 ? errno : 0;
    if (n >= 0 && owed) n = ep_pay(epfd, events, n, maxevents, &paid);
    if (n >= 0 && spurious) n = epoll_spurious(d, idx, epfd, events, n, maxevents, &spurious_fd);
    if (n == 0 && (owed || spurious)) n = go_on(clock, d, err, rest);
  }
  StopSignalsHeld held;
  record_epoll_wait(name, epfd, events, n, maxevents, timeout_ms, err, d, paid, spurious_fd);
  errno = err;
  return n;
}

template <typename Real, typename Rest>
int select_common(const char* name, int nfds, fd_set* rd, fd_set* wr, fd_set* ex, long long timeout_ms,
                  long long timeout_ns, Real&& real, Rest&& rest) {
  if (!shim_active()) return real(false);
  Guard guard;
  const WaitClock clock(timeout_ns);
  uint64_t idx = 0;
  Decision d = scan_decision(&idx, timeout_ns);
  int n, err = 0, spurious_fd = -1;
  if (d.out.action == Action::eintr) {
    n = -1;
    err = EINTR;
  } else {
    const bool spurious = d.out.action == Action::spurious && rd;
    fd_set asked, asked_wr, asked_ex;  // the caller's sets, for a wait that goes on
    if (spurious) {
      asked = *rd;
      if (wr) asked_wr = *wr;
      if (ex) asked_ex = *ex;
    }
    n = real(spurious);
    err = n < 0 ? errno : 0;
    if (n >= 0 && spurious) n = select_spurious(d, idx, nfds, &asked, rd, n, &spurious_fd);
    if (n == 0 && spurious) {
      *rd = asked;
      if (wr) *wr = asked_wr;
      if (ex) *ex = asked_ex;
      n = go_on(clock, d, err, rest);
    }
  }
  StopSignalsHeld held;
  record_select(name, nfds, timeout_ms, n, err, d, spurious_fd, rd, wr, ex);
  errno = err;
  return n;
}

template <typename Real, typename Rest>
int poll_common(const char* name, pollfd* fds, nfds_t nfds, long long timeout_ms, long long timeout_ns, Real&& real,
                Rest&& rest) {
  if (!shim_active()) return real(false);
  Guard guard;
  const WaitClock clock(timeout_ns);
  uint64_t idx = 0;
  Decision d = scan_decision(&idx, timeout_ns);
  int n, err = 0, spurious_fd = -1;
  if (d.out.action == Action::eintr) {
    n = -1;
    err = EINTR;
  } else {
    const bool spurious = d.out.action == Action::spurious;
    n = real(spurious);
    err = n < 0 ? errno : 0;
    if (n >= 0 && spurious) n = poll_spurious(d, idx, fds, nfds, n, &spurious_fd);
    if (n == 0 && spurious) n = go_on(clock, d, err, rest);
  }
  StopSignalsHeld held;
  record_poll(name, fds, nfds, timeout_ms, n, err, d, spurious_fd);
  errno = err;
  return n;
}

long long ts_ms(const struct timespec* ts) { return ts ? ts->tv_sec * 1000LL + ts->tv_nsec / 1000000 : -1; }
long long tv_ms(const struct timeval* tv) { return tv ? tv->tv_sec * 1000LL + tv->tv_usec / 1000 : -1; }

}  // namespace
}  // namespace iogate

using namespace iogate;

IOGATE_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event* ev) {
  const int r = IOGATE_REAL(epoll_ctl)(epfd, op, fd, ev);
  if (!shim_active()) return r;
  const int err = r < 0 ? errno : 0;
  Guard guard;
  if (r == 0) ep_record(epfd, op, fd, ev);
  record_epoll_ctl(epfd, op, fd, ev, r, err);
  errno = err;
  return r;
}

IOGATE_EXPORT int epoll_wait(int epfd, struct epoll_event* events, int maxevents, int timeout) {
  return epoll_common(
      "epoll_wait", epfd, events, maxevents, timeout, ms_to_ns(timeout),
      [&](bool now) { return IOGATE_REAL(epoll_wait)(epfd, events, maxevents, now ? 0 : timeout); },
      [&](long long ns) { return IOGATE_REAL(epoll_wait)(epfd, events, maxevents, ns_to_ms(ns)); });
}

IOGATE_EXPORT int epoll_pwait(int epfd, struct epoll_event* events, int maxevents, int timeout, const sigset_t* ss) {
  return epoll_common(
      "epoll_pwait", epfd, events, maxevents, timeout, ms_to_ns(timeout),
      [&](bool now) { return IOGATE_REAL(epoll_pwait)(epfd, events, maxevents, now ? 0 : timeout, ss); },
      [&](long long ns) { return IOGATE_REAL(epoll_pwait)(epfd, events, maxevents, ns_to_ms(ns), ss); });
}

IOGATE_EXPORT int epoll_pwait2(int epfd, struct epoll_event* events, int maxevents, const struct timespec* timeout,
                               const sigset_t* ss) {
  return epoll_common(
      "epoll_pwait2", epfd, events, maxevents, ts_ms(timeout), ts_to_ns(timeout),
      [&](bool now) {
        const struct timespec zero{0, 0};
        return IOGATE_REAL(epoll_pwait2)(epfd, events, maxevents, now ? &zero : timeout, ss);
      },
      [&](long long ns) {
        const struct timespec left = ns_to_ts(ns);
        return IOGATE_REAL(epoll_pwait2)(epfd, events, maxevents, ns < 0 ? nullptr : &left, ss);
      });
}

IOGATE_EXPORT int select(int nfds, fd_set* __restrict rd, fd_set* __restrict wr, fd_set* __restrict ex,
                         struct timeval* __restrict tv) {
  return select_common(
      "select", nfds, rd, wr, ex, tv_ms(tv), tv_to_ns(tv),
      [&](bool now) {
        struct timeval zero{0, 0};
        return IOGATE_REAL(select)(nfds, rd, wr, ex, now ? &zero : tv);
      },
      [&](long long ns) {
        if (ns < 0) return IOGATE_REAL(select)(nfds, rd, wr, ex, nullptr);
        *tv = ns_to_tv(ns);  // Linux leaves the time not slept in *tv: so does this call
        return IOGATE_REAL(select)(nfds, rd, wr, ex, tv);
      });
}

IOGATE_EXPORT int pselect(int nfds, fd_set* __restrict rd, fd_set* __restrict wr, fd_set* __restrict ex,
                          const struct timespec* __restrict ts, const sigset_t* __restrict ss) {
  return select_common(
      "pselect", nfds, rd, wr, ex, ts_ms(ts), ts_to_ns(ts),
      [&](bool now) {
        const struct timespec zero{0, 0};
        return IOGATE_REAL(pselect)(nfds, rd, wr, ex, now ? &zero : ts, ss);
      },
      [&](long long ns) {
        const struct timespec left = ns_to_ts(ns);
        return IOGATE_REAL(pselect)(nfds, rd, wr, ex, ns < 0 ? nullptr : &left, ss);
      });
}

IOGATE_EXPORT int poll(struct pollfd* fds, nfds_t nfds, int timeout) {
  return poll_common(
      "poll", fds, nfds, timeout, ms_to_ns(timeout),
      [&](bool now) { return IOGATE_REAL(poll)(fds, nfds, now ? 0 : timeout); },
      [&](long long ns) { return IOGATE_REAL(poll)(fds, nfds, ns_to_ms(ns)); });
}

IOGATE_EXPORT int ppoll(struct pollfd* fds, nfds_t nfds, const struct timespec* ts, const sigset_t* ss) {
  return poll_common(
      "ppoll", fds, nfds, ts_ms(ts), ts_to_ns(ts),
      [&](bool now) {
        const struct timespec zero{0, 0};
        return IOGATE_REAL(ppoll)(fds, nfds, now ? &zero : ts, ss);
      },
      [&](long long ns) {
        const struct timespec left = ns_to_ts(ns);
        return IOGATE_REAL(ppoll)(fds, nfds, ns < 0 ? nullptr : &left, ss);
      });
}
