// libiogate_inject.so: load-time plan parsing and the data-call wrappers,
// generated from calls.def. Every data call on a TCP stream socket goes
// through data_call(): schedule (schedule.h) -> legality (legality.h) ->
// the real call, possibly shortened -> readiness debt (epoll_book.h) -> trace.
#include "shim.h"

#include <fcntl.h>
#include <fiu-control.h>
#include <fiu.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "epoll_book.h"
#include "fdtable.h"
#include "legality.h"
#include "real.h"
#include "schedule.h"
#include "trace.h"

namespace iogate {

std::atomic<bool> g_ready{false};
const Plan* g_plan = nullptr;
unsigned g_class_mask = 0;
thread_local bool t_in_shim = false;

namespace {
std::vector<std::string>* g_points;  // libfiu point name per rule index

void say(const std::string& line) {
  std::string out = "iogate: ";
  for (char c : line) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  out += '\n';
  ssize_t w = IOGATE_REAL(write)(2, out.data(), out.size());
  (void)w;
}

int fiu_external(const char*, int*, void**, unsigned*) { return 1; }

bool still_ready(int fd, uint32_t bit) {
  pollfd p{fd, static_cast<short>(bit == EPOLLIN ? POLLIN : POLLOUT), 0};
  if (IOGATE_REAL(poll)(&p, 1, 0) != 1) return false;
  return (p.revents & (p.events | POLLHUP | POLLERR | POLLRDHUP)) != 0;
}

bool always_ready(int, uint32_t) { return true; }

bool is_nonblocking(int fd, int flags) {
  if (flags & MSG_DONTWAIT) return true;
  int fl = IOGATE_REAL(fcntl)(fd, F_GETFL);
  return fl >= 0 && (fl & O_NONBLOCK);
}

// connect(AF_UNSPEC) disconnects a TCP socket: the kernel sends RST to the
// peer (tcp_disconnect) and the socket is dead for every later call.
void really_reset(int fd) {
  sockaddr sa{};
  sa.sa_family = AF_UNSPEC;
  IOGATE_REAL(connect)(fd, &sa, sizeof sa);
}

void after_fork_child() { trace_after_fork(); }

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
  g_points = new std::vector<std::string>();
  fiu_init(0);
  for (const Rule& r : plan->rules) {
    g_class_mask |= 1u << static_cast<unsigned>(r.cls);
    g_points->push_back(std::string("iogate/") + class_name(r.cls) + "/" + fault_name(r.fault));
    fiu_enable_external(g_points->back().c_str(), 1, nullptr, 0, fiu_external);
  }
  g_plan = plan;
  pthread_atfork(nullptr, nullptr, after_fork_child);
  if (trace_on()) TraceLine("plan").str("plan", text ? text : "").num("seed", static_cast<long long>(plan->seed)).emit();
  g_ready.store(true, std::memory_order_release);
}
}  // namespace

void die_unresolved(const char* name) {
  const char msg[] = "iogate: cannot resolve the real libc function ";
  ssize_t w = write(2, msg, sizeof msg - 1);
  w = write(2, name, strlen(name));
  w = write(2, "\n", 1);
  (void)w;
  _exit(2);
}

bool fiu_allows(const Rule& r) { return fiu_fail((*g_points)[static_cast<size_t>(r.index)].c_str()) != 0; }

namespace {
void trace_data(const char* name, int fd, uint32_t conn, size_t len, ssize_t ret, int err, const Rule* chosen,
                const Outcome& out, const char* note) {
  if (!trace_on()) return;
  const int saved = errno;
  TraceLine t(name);
  t.num("fd", fd).num("conn", conn).num("req", static_cast<long long>(len)).num("ret", ret).err(err);
  t.str("fault", chosen ? chosen->text.c_str() : nullptr);
  if (out.action == Action::shorten) t.num("shortened_to", static_cast<long long>(out.len));
  if (note) t.str("note", note);
  t.emit();
  errno = saved;
}
}  // namespace

template <typename Real>
ssize_t data_call(const char* name, CallClass cls, uint32_t dir, int fd, size_t len, int flags, Real&& real) {
  const unsigned bit = 1u << static_cast<unsigned>(cls);
  if (!shim_active() || (!(g_class_mask & bit) && !trace_on())) return real(len);
  Guard guard;
  FdState* s = stream_state(fd);
  if (!s) return real(len);
  const uint32_t conn = s->conn.load(std::memory_order_relaxed);
  const Rule* chosen = nullptr;
  Outcome out;
  const char* note = nullptr;
  ssize_t ret = -1;
  if (cls == CallClass::recv && s->dead.load(std::memory_order_relaxed)) {
    ret = 0;  // after a reset the kernel's recv() reports end of file
    note = "connection reset earlier by the shim (sticky)";
  } else {
    if (len > 0 && (g_class_mask & bit)) {
      const auto ci = static_cast<unsigned>(cls);
      const uint64_t idx = s->calls[ci].fetch_add(1, std::memory_order_relaxed) + 1;
      for (const Rule& r : g_plan->rules) {
        if (r.cls != cls) continue;
        const auto ri = static_cast<size_t>(r.index);
        if (!rule_fires(r, g_plan->seed, conn, idx, s->fired[ri].load(std::memory_order_relaxed))) continue;
        const bool nb = r.fault == Fault::eagain && is_nonblocking(fd, flags);
        Outcome o = legal_outcome(r.fault, r.max, len, nb);
        if (o.action == Action::pass || !fiu_allows(r)) continue;
        chosen = &r;
        out = o;
        note = o.note;
        s->fired[ri].fetch_add(1, std::memory_order_relaxed);
        break;
      }
    }
    // The record is written before an injected outcome becomes visible to
    // the peer, and with the stop signals held after a real call returned.
    switch (out.action) {
      case Action::pass: {
        ret = real(len);
        StopSignalsHeld held;
        trace_data(name, fd, conn, len, ret, ret < 0 ? errno : 0, chosen, out, note);
        break;
      }
      case Action::shorten: {
        ret = real(out.len);
        StopSignalsHeld held;
        const int e = ret < 0 ? errno : 0;
        trace_data(name, fd, conn, len, ret, e, chosen, out, note);
        if (ret == static_cast<ssize_t>(out.len)) ep_owe(fd, dir, still_ready);
        errno = e;
        break;
      }
      case Action::would_block:
        ret = -1;
        trace_data(name, fd, conn, len, ret, EAGAIN, chosen, out, note);
        ep_owe(fd, dir, still_ready);
        errno = EAGAIN;
        break;
      case Action::reset:
        ret = -1;
        s->dead.store(1, std::memory_order_relaxed);
        trace_data(name, fd, conn, len, ret, ECONNRESET, chosen, out, note);
        really_reset(fd);
        ep_owe(fd, EPOLLIN, always_ready);
        errno = ECONNRESET;
        break;
    }
    return ret;
  }
  trace_data(name, fd, conn, len, ret, 0, chosen, out, note);
  return ret;
}

}  // namespace iogate

#define IOGATE_IO(NAME, CLS, PARAMS, ARGS, FLAGS, DIR)                                        \
  IOGATE_EXPORT ssize_t NAME PARAMS {                                                         \
    return ::iogate::data_call(#NAME, ::iogate::CallClass::CLS, DIR, fd, len, FLAGS,          \
                               [&](size_t n) { return IOGATE_REAL(NAME) ARGS; });             \
  }
#include "calls.def"
