// libiogate_inject.so: load-time plan parsing, the shared decision path, and
// the data-call wrappers generated from calls.def. Every data call on a TCP
// stream socket goes: schedule (schedule.h) -> legality (legality.h) -> the
// real call, possibly shortened -> readiness debt -> trace.
#include "shim.h"

#include <fcntl.h>
#include <fiu-control.h>
#include <fiu.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "epoll_book.h"
#include "fdtable.h"
#include "iovec.h"
#include "real.h"
#include "schedule.h"
#include "shared.h"
#include "signals.h"
#include "trace.h"

namespace iogate {

std::atomic<bool> g_ready{false};
const Plan* g_plan = nullptr;
unsigned g_class_mask = 0;
thread_local bool t_in_shim = false;
std::atomic<bool> g_forked{false};

namespace {
std::vector<std::string>* g_points;  // libfiu point name per rule index

void say(const std::string& line) {
  std::string out = "iogate: " + line + "\n";
  ssize_t w = IOGATE_REAL(write)(2, out.data(), out.size());
  (void)w;
}

int fiu_external(const char*, int*, void**, unsigned*) { return 1; }

bool still_ready(int fd, uint32_t bit) {
  const short events = bit == EPOLLIN ? POLLIN : POLLOUT;
  return (poll_now(fd, events) & (events | POLLHUP | POLLERR | POLLRDHUP)) != 0;
}

bool always_ready(int, uint32_t) { return true; }

void after_fork_child() {
  trace_after_fork();
  g_forked.store(true, std::memory_order_relaxed);
}
void after_fork_parent() { g_forked.store(true, std::memory_order_relaxed); }

// libfiu's control thread (fiu-ctrl) must never take a signal the server
// waits for with sigwaitinfo/signalfd: it is started with every signal blocked.
void start_fiu_control() {
  const char* base = std::getenv("IOGATE_FIU_CTRL");
  if (!base || !*base) return;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  if (fiu_rc_fifo(base) != 0) say(std::string("cannot start the libfiu control fifo at ") + base);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

__attribute__((constructor)) void iogate_load() {
  Guard guard;
  if (*trace_open()) {
    say("cannot open the trace file IOGATE_TRACE='" + std::string(std::getenv("IOGATE_TRACE")) + "': " +
        std::strerror(errno));
    _exit(2);
  }
  const char* text = std::getenv("IOGATE_FAULTS");
  auto* plan = new Plan();
  std::string err = parse_plan(text ? text : "", *plan);
  if (!err.empty()) {
    say("bad plan: " + err);
    _exit(2);
  }
  shared_open();
  g_points = new std::vector<std::string>();
  fiu_init(0);
  for (const Rule& r : plan->rules) {
    g_class_mask |= 1u << static_cast<unsigned>(r.cls);
    g_points->push_back(std::string("iogate/") + class_name(r.cls) + "/" + fault_name(r.fault));
    fiu_enable_external(g_points->back().c_str(), 1, nullptr, 0, fiu_external);
  }
  g_plan = plan;
  pthread_atfork(nullptr, after_fork_parent, after_fork_child);
  start_fiu_control();
  if (trace_on())
    TraceLine("plan").str("plan", text ? text : "").num("seed", static_cast<long long>(plan->seed))
        .str("shared", shared_where()).str("robust_faults", plan->robust ? "on" : "off").emit();
  g_ready.store(true, std::memory_order_release);
}

// The deterministic schedule decides first; libfiu is consulted only for a
// call the schedule chose, so a point switched off with fiu-ctrl suppresses
// it and the common path never pays for libfiu's lock.
bool fiu_allows(const Rule& r) { return fiu_fail((*g_points)[static_cast<size_t>(r.index)].c_str()) != 0; }
}  // namespace

short poll_now(int fd, short events) {
  pollfd p{fd, events, 0};
  return IOGATE_REAL(poll)(&p, 1, 0) == 1 ? p.revents : 0;
}

void die_unresolved(const char* name) {
  const char msg[] = "iogate: cannot resolve the real libc function ";
  ssize_t w = write(2, msg, sizeof msg - 1);
  w = write(2, name, strlen(name));
  w = write(2, "\n", 1);
  (void)w;
  _exit(2);
}

Decision decide(CallClass cls, Op op, uint64_t conn, uint64_t idx, std::atomic<uint32_t>* fired,
                StateFn state_of, void* ctx) {
  Decision d;
  for (const Rule& r : g_plan->rules) {
    if (r.cls != cls || (r.op != Op::any && r.op != op)) continue;
    const auto ri = static_cast<size_t>(r.index);
    if (!rule_fires(r, g_plan->seed, conn, idx, fired[ri].load(std::memory_order_relaxed))) continue;
    Outcome o = legal_outcome(r, state_of(r, ctx));
    if (o.action != Action::pass && o.robust && !g_plan->robust) {
      if (!d.note) d = Decision{&r, Outcome{}, o.robust_off};  // robust=off (V18): reported, not counted
      continue;
    }
    if (o.action == Action::pass) {
      if (!d.note && o.note) d = Decision{&r, o, o.note};  // reported, not counted
      continue;
    }
    if (!fiu_allows(r)) continue;
    fired[ri].fetch_add(1, std::memory_order_relaxed);
    return Decision{&r, o, o.note};
  }
  return d;
}

void owe_readiness(int fd, uint32_t bit) {
  const int e = errno;
  ep_owe(fd, bit, still_ready);
  owe_sigio(fd, bit, still_ready);
  errno = e;
}

void owe_readiness_always(int fd, uint32_t bit) {
  const int e = errno;
  ep_owe(fd, bit, always_ready);
  owe_sigio(fd, bit, always_ready);
  errno = e;
}

// connect(AF_UNSPEC) disconnects a TCP socket: the kernel sends RST to the
// peer (tcp_disconnect) and the socket is dead for every later call.
void really_reset(int fd) {
  sockaddr sa{};
  sa.sa_family = AF_UNSPEC;
  IOGATE_REAL(connect)(fd, &sa, sizeof sa);
}

void really_shutdown(int fd) { shutdown(fd, SHUT_RDWR); }

bool fd_nonblocking(int fd, int msg_flags) {
  if (msg_flags & MSG_DONTWAIT) return true;
  const int fl = IOGATE_REAL(fcntl)(fd, F_GETFL);
  return fl >= 0 && (fl & O_NONBLOCK);
}

namespace {

struct DataCtx {
  int fd;
  int flags;
  size_t len;
  bool reading;
};

CallState data_state(const Rule& r, void* p) {
  const auto* c = static_cast<DataCtx*>(p);
  CallState st;
  st.len = c->len;
  st.waitall = c->reading && (c->flags & MSG_WAITALL);
  const bool may_shorten = r.fault == Fault::eagain || r.fault == Fault::partial;
  if (may_shorten || r.fault == Fault::eintr) st.nonblocking = fd_nonblocking(c->fd, c->flags);
  if (r.fault == Fault::eagain && c->reading && st.nonblocking) {  // V18: would the kernel say EAGAIN now?
    st.readable = poll_now(c->fd, POLLIN) != 0;
  }
  if (r.fault == Fault::eintr && !st.nonblocking)
    st.interruptible = caught_signal_could_interrupt(socket_has_timeout(c->fd, c->reading));
  // V4: what could cut a blocking transfer short (the robustness table's
  // facts), asked only when this call will really be shortened
  const bool shortens = r.fault == Fault::partial ? c->len > r.max : c->len > 1;
  if (may_shorten && shortens && !st.nonblocking && (!c->reading || st.waitall)) {
    st.timeout = socket_has_timeout(c->fd, c->reading);
    st.caught = caught_signal_could_interrupt(true);
  }
  return st;
}

void trace_data(const char* name, int fd, uint32_t conn, size_t len, ssize_t ret, int err, const Decision& d) {
  if (!trace_on()) return;
  const int saved = errno;
  TraceLine t(name);
  t.num("fd", fd).num("conn", conn).num("req", static_cast<long long>(len)).num("ret", ret).err(err);
  t.str("fault", d.rule && d.out.action != Action::pass ? d.rule->text.c_str() : nullptr);
  if (d.out.action == Action::partial) t.num("shortened_to", static_cast<long long>(d.out.len));
  if (d.out.action != Action::pass && d.out.robust) t.str("robust", d.out.robust);
  if (d.note) t.str("note", d.note);
  t.emit();
  errno = saved;
}

}  // namespace

template <typename Real>
ssize_t data_call(const char* name, CallClass cls, uint32_t dir, int fd, size_t len, int flags, Real&& real) {
  if (!shim_active() || (!class_has_rules(cls) && !trace_on())) return real(len);
  Guard guard;
  FdState* s = stream_state(fd);
  if (!s) return real(len);
  const uint32_t conn = s->conn.load(std::memory_order_relaxed);
  const bool reading = cls == CallClass::recv;
  Decision d;
  if (reading && s->dead.load(std::memory_order_relaxed)) {
    // After an injected reset or EOF every read reports end of file, as the
    // kernel does after a real RST or FIN (V8); nothing queued leaks through.
    d.note = "connection ended earlier by the shim (sticky)";
    trace_data(name, fd, conn, len, 0, 0, d);
    return 0;
  }
  if (len > 0 && class_has_rules(cls)) {
    const uint64_t idx = s->calls[static_cast<unsigned>(cls)].fetch_add(1, std::memory_order_relaxed) + 1;
    DataCtx ctx{fd, flags, len, reading};
    d = decide(cls, Op::any, conn, idx, s->fired, data_state, &ctx);
  }
  // The record is written before an injected outcome becomes visible to the
  // peer, and with the stop signals held after a real call returned.
  ssize_t ret = -1;
  switch (d.out.action) {
    case Action::pass: {
      ret = real(len);
      StopSignalsHeld held;
      trace_data(name, fd, conn, len, ret, ret < 0 ? errno : 0, d);
      return ret;
    }
    case Action::partial: {
      ret = real(d.out.len);
      StopSignalsHeld held;
      const int e = ret < 0 ? errno : 0;
      trace_data(name, fd, conn, len, ret, e, d);
      if (ret == static_cast<ssize_t>(d.out.len)) owe_readiness(fd, dir);
      errno = e;
      return ret;
    }
    case Action::eagain:
      trace_data(name, fd, conn, len, -1, EAGAIN, d);
      owe_readiness(fd, dir);
      errno = EAGAIN;
      return -1;
    case Action::eintr:
      trace_data(name, fd, conn, len, -1, EINTR, d);
      errno = EINTR;
      return -1;
    case Action::reset:
      s->dead.store(1, std::memory_order_relaxed);
      trace_data(name, fd, conn, len, -1, ECONNRESET, d);
      really_reset(fd);
      owe_readiness_always(fd, EPOLLIN);
      errno = ECONNRESET;
      return -1;
    case Action::eof:
      s->dead.store(1, std::memory_order_relaxed);
      trace_data(name, fd, conn, len, 0, 0, d);
      really_shutdown(fd);
      owe_readiness_always(fd, EPOLLIN);
      return 0;
    case Action::epipe: {
      // After a real shutdown the kernel itself answers EPIPE and raises
      // SIGPIPE (unless MSG_NOSIGNAL): recorded first, the signal may kill.
      s->dead.store(1, std::memory_order_relaxed);
      trace_data(name, fd, conn, len, -1, EPIPE, d);
      really_shutdown(fd);
      owe_readiness_always(fd, EPOLLIN);
      return real(len);
    }
    case Action::emfile:        // accept and wait actions: the legality rules
    case Action::econnaborted:  // never give them to a data call; listed so
    case Action::spurious:      // that a new action is a -Wswitch error here
      return real(len);
  }
  return real(len);
}

}  // namespace iogate

#define IOGATE_IO(NAME, CLS, PARAMS, LEN, CALL, FLAGS, DIR)                                        \
  IOGATE_EXPORT ssize_t NAME PARAMS {                                                              \
    using namespace ::iogate;                                                                      \
    return data_call(#NAME, CallClass::CLS, DIR, fd, LEN, FLAGS, [&](size_t n) { return CALL; });   \
  }
#include "calls.def"
