// The injector's shared state and decision (shim.h), linked into both
// backends: the loaded plan, decide(), and the probes of a descriptor's state
// that legality and the readiness debt need. Every probe acts on a descriptor
// number of the calling process: the preload shim's own, or the syscall
// supervisor's copy of the traced process's descriptor at the same number
// (syscall/mirror.h).
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "epoll_book.h"
#include "real.h"
#include "schedule.h"
#include "shim.h"
#include "signals.h"

namespace iogate {

std::atomic<bool> g_ready{false};
const Plan* g_plan = nullptr;
unsigned g_class_mask = 0;
thread_local bool t_in_shim = false;
bool (*g_allows)(const Rule&) = nullptr;

namespace {
bool still_ready(int fd, uint32_t bit) {
  const short events = bit == EPOLLIN ? POLLIN : POLLOUT;
  return (poll_now(fd, events) & (events | POLLHUP | POLLERR | POLLRDHUP)) != 0;
}

bool always_ready(int, uint32_t) { return true; }
}  // namespace

std::string plan_install(const char* text) {
  auto* plan = new Plan();
  std::string err = parse_plan(text ? text : "", *plan);
  if (!err.empty()) {
    delete plan;
    return err;
  }
  for (const Rule& r : plan->rules) g_class_mask |= 1u << static_cast<unsigned>(r.cls);
  g_plan = plan;
  return "";
}

void die_unresolved(const char* name) {
  const char msg[] = "iogate: cannot resolve the real libc function ";
  ssize_t w = write(2, msg, sizeof msg - 1);
  w = write(2, name, strlen(name));
  w = write(2, "\n", 1);
  (void)w;
  _exit(2);
}

short poll_now(int fd, short events) {
  pollfd p{fd, events, 0};
  return IOGATE_REAL(poll)(&p, 1, 0) == 1 ? p.revents : 0;
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
    if (g_allows && !g_allows(r)) continue;
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

}  // namespace iogate
