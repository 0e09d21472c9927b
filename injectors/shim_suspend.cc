// aio_suspend(3): the wait of POSIX AIO servers, a wait-class call
// (calls.def). glibc builds it on a futex wait, not on a system call of its
// own, so only the preload shim sees it (docs/backends.md).
//
// The shim holds back no completion: its AIO faults are real (a lower
// aio_nbytes, a connection really reset or shut down, shim_async.cc), so the
// real aio_suspend sees every completion the kernel and glibc's workers make,
// and returns 0 for it, or -1/EAGAIN when its own timeout expires first; a
// completed request it lists gets back the aio_nbytes its application asked
// for before the call returns.
// The one fault it carries is wait.eintr, -1/EINTR before waiting, and only
// where a signal could end this wait (V5), as checked on glibc 2.36: the call
// would sleep (a timeout other than 0, every listed request still in
// progress, at least one listed), and a caught signal that the calling thread
// does not block has a handler without SA_RESTART, or any handler when there
// is a timeout (the futex wait restarts after an SA_RESTART handler only
// without one). SIGSTOP/SIGCONT never end it. wait.spurious is never
// injected: POSIX allows aio_suspend no early return (legality.cc).
#include <aio.h>
#include <time.h>

#include <cerrno>

#include "proc.h"
#include "real.h"
#include "shim.h"
#include "shim_aio.h"
#include "signals.h"
#include "trace.h"
#include "wait_path.h"

namespace iogate {
namespace {

struct SuspendCtx {
  const struct aiocb* const* list;
  int nitems;
  const struct timespec* timeout;
};

// Would glibc's aio_suspend sleep now? It returns at once when a listed
// request is no longer in progress or when nothing is listed, and a zero
// timeout never sleeps.
bool would_sleep(const SuspendCtx& c) {
  if (c.timeout && c.timeout->tv_sec == 0 && c.timeout->tv_nsec == 0) return false;
  bool any = false;
  for (int i = 0; i < c.nitems; ++i) {
    if (!c.list[i]) continue;
    if (IOGATE_REAL(aio_error)(c.list[i]) != EINPROGRESS) return false;
    any = true;
  }
  return any;
}

CallState suspend_state(const Rule& r, void* p) {
  const auto* c = static_cast<SuspendCtx*>(p);
  CallState st;
  st.completion = true;
  if (r.fault == Fault::eintr) {
    st.no_sleep = !would_sleep(*c);
    st.interruptible = !st.no_sleep && caught_signal_could_interrupt(c->timeout != nullptr);
  }
  return st;
}

// Wait rules count aio_suspend calls per process, with select and poll.
Decision suspend_decision(SuspendCtx* ctx) {
  if (!class_has_rules(CallClass::wait)) return Decision{};
  const uint64_t idx = proc().scan_waits.fetch_add(1, std::memory_order_relaxed) + 1;
  return decide(CallClass::wait, Op::any, 0, idx, proc().wait_fired, suspend_state, ctx);
}

constexpr int kMaxEvents = 64;  // a record stays one line of the trace's buffer

void record_suspend(const SuspendCtx& c, int r, int err, const Decision& d) {
  if (!trace_on()) return;
  TraceLine t("aio_suspend");
  const long long ms = c.timeout ? c.timeout->tv_sec * 1000LL + c.timeout->tv_nsec / 1000000 : -1;
  t.num("nitems", c.nitems).num("timeout", ms).num("ret", r).err(err);
  if (r == 0) {  // the listed requests no longer in progress: what the caller finds with aio_error
    int shown = 0, more = 0;
    t.open_array("events");
    for (int i = 0; i < c.nitems; ++i) {
      const struct aiocb* cb = c.list[i];
      if (!cb || IOGATE_REAL(aio_error)(cb) == EINPROGRESS) continue;
      if (shown++ < kMaxEvents)
        t.array_item_pair(cb->aio_fildes, cb->aio_lio_opcode == LIO_WRITE ? "send" : "recv");
      else
        ++more;
    }
    t.close_array();
    if (more) t.num("events_more", more);
  }
  const bool faulted = d.out.action == Action::eintr;
  t.str("fault", faulted ? fault_text(d) : nullptr);
  if (faulted && d.out.robust) t.str("robust", d.out.robust);
  if (d.note) t.str("note", d.note);
  t.emit();
}

}  // namespace
}  // namespace iogate

using namespace iogate;

IOGATE_EXPORT int aio_suspend(const struct aiocb* const list[], int nitems, const struct timespec* timeout) {
  if (!shim_active() || (!class_has_rules(CallClass::wait) && !class_has_rules(CallClass::aio) && !trace_on()))
    return IOGATE_REAL(aio_suspend)(list, nitems, timeout);
  Guard guard;
  SuspendCtx ctx{list, nitems, timeout};
  Decision d = suspend_decision(&ctx);
  int r, err;
  if (d.out.action == Action::eintr) {
    r = -1;
    err = EINTR;
  } else {
    r = IOGATE_REAL(aio_suspend)(list, nitems, timeout);
    err = r < 0 ? errno : 0;
    restore_completed(list, nitems);  // what the caller reads next is the length it asked for
  }
  StopSignalsHeld held;
  record_suspend(ctx, r, err, d);
  errno = err;
  return r;
}
