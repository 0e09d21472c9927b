// libiogate_inject.so: load-time setup (plan, trace, libfiu points) and the
// data-call wrappers generated from calls.def. Every data call on a TCP
// stream socket goes through the shared path (data_path.h): schedule ->
// legality -> the real call, possibly shortened -> readiness debt -> trace.
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

#include "data_path.h"
#include "epoll_book.h"
#include "fdtable.h"
#include "iovec.h"
#include "proc.h"
#include "real.h"
#include "schedule.h"
#include "shared.h"
#include "signals.h"
#include "trace.h"

namespace iogate {

namespace {
std::vector<std::string>* g_points;  // libfiu point name per rule index

void say(const std::string& line) {
  std::string out = "iogate: " + line + "\n";
  ssize_t w = IOGATE_REAL(write)(2, out.data(), out.size());
  (void)w;
}

int fiu_external(const char*, int*, void**, unsigned*) { return 1; }

// The deterministic schedule decides first; libfiu is consulted only for a
// call the schedule chose, so a point switched off with fiu-ctrl suppresses
// it and the common path never pays for libfiu's lock.
bool fiu_allows(const Rule& r) { return fiu_fail((*g_points)[static_cast<size_t>(r.index)].c_str()) != 0; }

void after_fork_child() {
  trace_after_fork();
  proc().forked.store(true, std::memory_order_relaxed);
}
void after_fork_parent() { proc().forked.store(true, std::memory_order_relaxed); }

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
  std::string err = plan_install(text);
  if (!err.empty()) {
    say("bad plan: " + err);
    _exit(2);
  }
  const Plan* plan = g_plan;
  shared_open();
  g_points = new std::vector<std::string>();
  fiu_init(0);
  for (const Rule& r : plan->rules) {
    g_points->push_back(std::string("iogate/") + class_name(r.cls) + "/" + fault_name(r.fault));
    fiu_enable_external(g_points->back().c_str(), 1, nullptr, 0, fiu_external);
  }
  g_allows = fiu_allows;
  pthread_atfork(nullptr, after_fork_parent, after_fork_child);
  start_fiu_control();
  if (trace_on())
    TraceLine("plan").str("plan", text ? text : "").num("seed", static_cast<long long>(plan->seed))
        .str("shared", shared_where()).str("robust_faults", plan->robust ? "on" : "off").emit();
  g_ready.store(true, std::memory_order_release);
}

}  // namespace

template <typename Real>
ssize_t data_call(const char* name, CallClass cls, uint32_t dir, int fd, size_t len, int flags, Real&& real) {
  if (!shim_active()) return real(len);
  Guard guard;
  DataCall c{name, cls, dir, fd, len, flags};
  ssize_t ret = -1;
  int err = 0;
  switch (data_enter(c, &ret, &err)) {
    case Next::none: return real(len);
    case Next::done:
      if (ret < 0) errno = err;
      return ret;
    case Next::call: ret = real(len); break;
    case Next::shortened: ret = real(c.d.out.len); break;
  }
  // The record of a real call is written with the stop signals held.
  err = ret < 0 ? errno : 0;
  StopSignalsHeld held;
  data_exit(c, ret, err);
  errno = err;
  return ret;
}

}  // namespace iogate

#define IOGATE_IO(NAME, CLS, PARAMS, LEN, CALL, FLAGS, DIR)                                        \
  IOGATE_EXPORT ssize_t NAME PARAMS {                                                              \
    using namespace ::iogate;                                                                      \
    return data_call(#NAME, CallClass::CLS, DIR, fd, LEN, FLAGS, [&](size_t n) { return CALL; });   \
  }
#include "calls.def"
