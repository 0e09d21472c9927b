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
// sqe_tail) of liburing's ring) are rewritten: `partial` lowers sqe->len (a
// real short recv/send), `reset`/`eof` really end the connection so the
// operation completes with the kernel's ECONNRESET or 0.
#include <aio.h>
#include <liburing.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <mutex>
#include <vector>

#include "fdtable.h"
#include "real.h"
#include "shim.h"
#include "trace.h"

namespace iogate {
namespace {

CallState async_state(const Rule&, void* p) {
  CallState st;
  st.len = *static_cast<size_t*>(p);
  return st;
}

// Decides one asynchronous request on fd; applies reset/eof at once.
Decision decide_async(CallClass cls, Op op, int fd, size_t len, FdState** state) {
  Decision d;
  FdState* s = stream_state(fd);
  *state = s;
  if (!s || !class_has_rules(cls)) return d;
  const uint64_t idx = s->calls[static_cast<unsigned>(cls)].fetch_add(1, std::memory_order_relaxed) + 1;
  d = decide(cls, op, s->conn.load(std::memory_order_relaxed), idx, s->fired, async_state, &len);
  if (d.out.action == Action::reset || d.out.action == Action::eof) {
    s->dead.store(1, std::memory_order_relaxed);
    if (d.out.action == Action::reset) {
      really_reset(fd);  // tcp_disconnect also purges the receive queue
    } else {
      // The kernel still returns queued bytes after shutdown(): discard them
      // first, so the request completes with 0 like the injected EOF says (V8).
      char scratch[16384];
      for (int i = 0; i < 256 && IOGATE_REAL(recv)(fd, scratch, sizeof scratch, MSG_DONTWAIT) > 0; ++i) {
      }
      really_shutdown(fd);
    }
    owe_readiness_always(fd, EPOLLIN);
  }
  return d;
}

void trace_request(const char* name, int fd, FdState* s, size_t len, long long ret, int err, const Decision& d) {
  if (!trace_on()) return;
  TraceLine t(name);
  t.num("fd", fd).num("conn", s ? s->conn.load(std::memory_order_relaxed) : 0).num("req", static_cast<long long>(len));
  t.num("ret", ret).err(err).str("fault", d.rule && d.out.action != Action::pass ? d.rule->text.c_str() : nullptr);
  if (d.out.action == Action::shorten) t.num("shortened_to", static_cast<long long>(d.out.len));
  t.emit();
}

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

template <typename Real>
int aio_submit(const char* name, Op op, struct aiocb* cb, Real&& real) {
  if (!shim_active() || !cb || (!class_has_rules(CallClass::aio) && !trace_on())) return real();
  Guard guard;
  FdState* s = nullptr;
  const size_t len = cb->aio_nbytes;
  Decision d = decide_async(CallClass::aio, op, cb->aio_fildes, len, &s);
  if (!s) return real();
  if (d.out.action == Action::shorten) {
    std::lock_guard<std::mutex> lock(g_aio_mu);
    if (!g_shortened) g_shortened = new std::vector<Shortened>();
    g_shortened->push_back(Shortened{cb, len});
    cb->aio_nbytes = d.out.len;  // glibc's worker reads the request when it runs it
  }
  const int r = real();
  const int err = r < 0 ? errno : 0;
  if (r < 0 && d.out.action == Action::shorten) restore(cb, true);
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
  if (trace_on() && fd_known_stream(cb->aio_fildes))
    TraceLine("aio_return").num("fd", cb->aio_fildes).num("conn", fd_conn(cb->aio_fildes))
        .str("op", cb->aio_lio_opcode == LIO_WRITE ? "send" : "recv").num("req", static_cast<long long>(cb->aio_nbytes))
        .num("ret", r).err(err).emit();
  errno = err;
  return r;
}

// -- io_uring ---------------------------------------------------------------
namespace iogate {
namespace {

Op uring_op(const struct io_uring_sqe* sqe) {
  switch (sqe->opcode) {
    case IORING_OP_RECV:
    case IORING_OP_READ:
      return Op::recv;
    case IORING_OP_SEND:
    case IORING_OP_WRITE:
      return Op::send;
    default:
      return Op::any;
  }
}

// Rewrites the SQEs queued since the last submit, before the kernel sees them.
void fault_pending_sqes(struct io_uring* ring) {
  if (!shim_active() || !ring || (!class_has_rules(CallClass::uring) && !trace_on())) return;
  const int err = errno;
  Guard guard;
  struct io_uring_sq* sq = &ring->sq;
  for (unsigned i = sq->sqe_head; i != sq->sqe_tail; ++i) {
    struct io_uring_sqe* sqe = &sq->sqes[i & sq->ring_mask];
    const Op op = uring_op(sqe);
    if (op == Op::any || (sqe->flags & IOSQE_FIXED_FILE)) continue;
    if (op == Op::recv && (sqe->ioprio & IORING_RECV_MULTISHOT)) continue;  // armed once, completes many times
    FdState* s = nullptr;
    const size_t len = sqe->len;
    Decision d = decide_async(CallClass::uring, op, sqe->fd, len, &s);
    if (!s) continue;
    if (d.out.action == Action::shorten) sqe->len = static_cast<unsigned>(d.out.len);
    if (d.rule && d.out.action != Action::pass)
      trace_request(op == Op::recv ? "uring_recv" : "uring_send", sqe->fd, s, len, -1, 0, d);
  }
  errno = err;
}

}  // namespace
}  // namespace iogate

IOGATE_EXPORT int io_uring_submit(struct io_uring* ring) {
  fault_pending_sqes(ring);
  Guard guard;  // liburing may call its own exported submit: decide each SQE once
  return IOGATE_REAL(io_uring_submit)(ring);
}

IOGATE_EXPORT int io_uring_submit_and_wait(struct io_uring* ring, unsigned wait_nr) {
  fault_pending_sqes(ring);
  Guard guard;  // liburing may call its own exported submit: decide each SQE once
  return IOGATE_REAL(io_uring_submit_and_wait)(ring, wait_nr);
}

IOGATE_EXPORT int io_uring_submit_and_wait_timeout(struct io_uring* ring, struct io_uring_cqe** cqe_ptr,
                                                   unsigned wait_nr, struct __kernel_timespec* ts, sigset_t* sigmask) {
  fault_pending_sqes(ring);
  Guard guard;  // liburing may call its own exported submit: decide each SQE once
  return IOGATE_REAL(io_uring_submit_and_wait_timeout)(ring, cqe_ptr, wait_nr, ts, sigmask);
}

IOGATE_EXPORT int io_uring_submit_and_get_events(struct io_uring* ring) {
  fault_pending_sqes(ring);
  Guard guard;  // liburing may call its own exported submit: decide each SQE once
  return IOGATE_REAL(io_uring_submit_and_get_events)(ring);
}
