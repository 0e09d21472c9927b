// Completion-based IO, which socket interposition cannot see (V12, V13).
//
// POSIX AIO: glibc runs aio_read/aio_write in its own worker threads with
// internal read/write calls, so faults are applied to the request itself at
// submission: `partial` lowers aio_nbytes (restored before the application can
// see the completed aiocb: aio_error != EINPROGRESS, aio_return), `reset` and
// `eof` really reset or shut the socket down first, so the worker's read
// returns the kernel's own ECONNRESET or 0.
//
// io_uring (liburing): requests are read by the kernel from the shared SQ
// ring; the exported io_uring_submit* functions are the last point before the
// kernel sees them. The SQEs queued since the last submit ([sqe_head,
// sqe_tail) of liburing's ring) are rewritten by the shared UringBatch
// (async_path.h): `partial` lowers sqe->len (a real short recv/send),
// `reset`/`eof` really end the connection so the operation completes with
// the kernel's ECONNRESET or 0.
#include <aio.h>
#include <liburing.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <dlfcn.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "async_path.h"
#include "fdtable.h"
#include "real.h"
#include "shim.h"
#include "shim_aio.h"
#include "signals.h"
#include "trace.h"

namespace iogate {
namespace {

// -- POSIX AIO -------------------------------------------------------------
struct Shortened {
  struct aiocb* cb;
  size_t nbytes;  // what the application asked for
};
std::mutex g_aio_mu;
std::vector<Shortened>* g_shortened;

void restore(struct aiocb* cb, bool forget) {
  std::lock_guard<std::mutex> lock(g_aio_mu);
  if (!g_shortened) return;
  for (size_t i = 0; i < g_shortened->size(); ++i)
    if ((*g_shortened)[i].cb == cb) {
      cb->aio_nbytes = (*g_shortened)[i].nbytes;
      if (forget) {
        (*g_shortened)[i] = g_shortened->back();
        g_shortened->pop_back();
      }
      return;
    }
}

}  // namespace

void restore_completed(const struct aiocb* const list[], int nitems) {
  std::lock_guard<std::mutex> lock(g_aio_mu);
  if (!g_shortened || g_shortened->empty()) return;
  for (const Shortened& s : *g_shortened)
    for (int i = 0; i < nitems; ++i)
      if (list[i] == s.cb && IOGATE_REAL(aio_error)(s.cb) != EINPROGRESS) s.cb->aio_nbytes = s.nbytes;
}

namespace {

template <typename Real>
int aio_submit(const char* name, Op op, struct aiocb* cb, Real&& real) {
  if (!shim_active() || !cb || (!class_has_rules(CallClass::aio) && !trace_on())) return real();
  Guard guard;
  FdState* s = nullptr;
  const size_t len = cb->aio_nbytes;
  Decision d = decide_async(CallClass::aio, op, cb->aio_fildes, len, &s);
  if (!s) return real();
  if (d.out.action == Action::reset || d.out.action == Action::eof) end_connection(cb->aio_fildes, s, d.out.action);
  if (d.out.action == Action::partial) {
    std::lock_guard<std::mutex> lock(g_aio_mu);
    if (!g_shortened) g_shortened = new std::vector<Shortened>();
    g_shortened->push_back(Shortened{cb, len});
    cb->aio_nbytes = d.out.len;  // glibc's worker reads the request when it runs it
  }
  const int r = real();
  const int err = r < 0 ? errno : 0;
  if (r < 0 && d.out.action == Action::partial) restore(cb, true);
  trace_request(name, cb->aio_fildes, s, len, r, err, d);
  errno = err;
  return r;
}

}  // namespace
}  // namespace iogate

using namespace iogate;

IOGATE_EXPORT int aio_read(struct aiocb* cb) {
  return aio_submit("aio_read", Op::recv, cb, [&] { return IOGATE_REAL(aio_read)(cb); });
}

IOGATE_EXPORT int aio_write(struct aiocb* cb) {
  return aio_submit("aio_write", Op::send, cb, [&] { return IOGATE_REAL(aio_write)(cb); });
}

IOGATE_EXPORT int aio_error(const struct aiocb* cb) {
  const int r = IOGATE_REAL(aio_error)(cb);
  if (r != EINPROGRESS && shim_active()) {
    const int err = errno;
    Guard guard;
    restore(const_cast<struct aiocb*>(cb), false);  // the application sees the length it asked for
    errno = err;
  }
  return r;
}

IOGATE_EXPORT ssize_t aio_return(struct aiocb* cb) {
  const ssize_t r = IOGATE_REAL(aio_return)(cb);
  if (!shim_active()) return r;
  const int err = r < 0 ? errno : 0;
  Guard guard;
  restore(cb, true);
  if (trace_on() && fd_known_stream(cb->aio_fildes)) {
    const int aio_err = r < 0 ? IOGATE_REAL(aio_error)(cb) : 0;  // glibc reports it there, not in errno
    TraceLine("aio_return").num("fd", cb->aio_fildes).num("conn", fd_conn(cb->aio_fildes))
        .str("op", cb->aio_lio_opcode == LIO_WRITE ? "send" : "recv").num("req", static_cast<long long>(cb->aio_nbytes))
        .num("ret", r).err(aio_err > 0 ? aio_err : 0).emit();
  }
  errno = err;
  return r;
}

// -- io_uring ---------------------------------------------------------------
namespace iogate {
namespace {

// The SQEs of this thread's submission in progress (a liburing ring is one
// thread's, and the Guard keeps a nested submit from deciding them twice).
thread_local UringBatch* t_batch;

// Rewrites the SQEs queued since the last submit, before the kernel sees them.
void fault_pending_sqes(struct io_uring* ring) {
  if (!shim_active() || !ring || (!class_has_rules(CallClass::uring) && !trace_on())) return;
  const int err = errno;
  Guard guard;
  if (!t_batch) t_batch = new UringBatch();
  struct io_uring_sq* sq = &ring->sq;
  for (unsigned i = sq->sqe_head; i != sq->sqe_tail; ++i) t_batch->fault(&sq->sqes[i & sq->ring_mask]);
  errno = err;
}

// Ends the connections faulted in the batch just submitted.
int after_submit(int r) {
  if (!t_batch || t_batch->ending().empty()) return r;
  const int err = errno;
  Guard guard;
  t_batch->after_submit();
  errno = err;
  return r;
}

}  // namespace
}  // namespace iogate

namespace iogate {
namespace {
// Every io_uring_submit* entry point: fault the SQEs queued since the last
// submit, then the real call; liburing may call its own exported submit, so
// the Guard makes each SQE decided once.
template <typename Real>
int submit(struct io_uring* ring, Real&& real) {
  fault_pending_sqes(ring);
  int r;
  {
    Guard guard;
    r = real();
  }
  return after_submit(r);
}
}  // namespace
}  // namespace iogate

IOGATE_EXPORT int io_uring_submit(struct io_uring* ring) {
  return iogate::submit(ring, [&] { return IOGATE_REAL(io_uring_submit)(ring); });
}

IOGATE_EXPORT int io_uring_submit_and_wait(struct io_uring* ring, unsigned wait_nr) {
  return iogate::submit(ring, [&] { return IOGATE_REAL(io_uring_submit_and_wait)(ring, wait_nr); });
}

IOGATE_EXPORT int io_uring_submit_and_wait_timeout(struct io_uring* ring, struct io_uring_cqe** cqe_ptr,
                                                   unsigned wait_nr, struct __kernel_timespec* ts, sigset_t* sigmask) {
  return iogate::submit(ring, [&] {
    return IOGATE_REAL(io_uring_submit_and_wait_timeout)(ring, cqe_ptr, wait_nr, ts, sigmask);
  });
}

IOGATE_EXPORT int io_uring_submit_and_get_events(struct io_uring* ring) {
  return iogate::submit(ring, [&] { return IOGATE_REAL(io_uring_submit_and_get_events)(ring); });
}
