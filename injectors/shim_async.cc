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

#include <dlfcn.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "fdtable.h"
#include "real.h"
#include "shim.h"
#include "signals.h"
#include "trace.h"

namespace iogate {
namespace {

struct AsyncCtx {
  int fd;
  size_t len;
  Op op;
};

CallState async_state(const Rule& r, void* p) {
  const auto* c = static_cast<AsyncCtx*>(p);
  CallState st;
  st.len = c->len;
  st.op = c->op;
  if (r.fault == Fault::partial && c->op == Op::send) {  // what could cut a blocking write short (V4, V12)
    st.nonblocking = fd_nonblocking(c->fd, 0);
    if (!st.nonblocking) st.timeout = socket_has_timeout(c->fd, false);
  }
  return st;
}

// Decides one asynchronous request on fd. Requests count per operation
// (op=recv, op=send) on their connection. A socket the process did not get
// from accept() or connect() (io_uring's own accept) is numbered when its
// first request is seen.
Decision decide_async(CallClass cls, Op op, int fd, size_t len, FdState** state) {
  Decision d;
  FdState* s = stream_state(fd);
  *state = s;
  if (!s || !class_has_rules(cls)) return d;
  fd_number_if_unnumbered(fd);
  const uint64_t idx = s->ops[static_cast<unsigned>(op)].fetch_add(1, std::memory_order_relaxed) + 1;
  AsyncCtx ctx{fd, len, op};
  return decide(cls, op, s->conn.load(std::memory_order_relaxed), idx, s->fired, async_state, &ctx);
}

// Ends a connection for real for an injected reset or EOF (V8).
void end_connection(int fd, FdState* s, Action a) {
  s->dead.store(1, std::memory_order_relaxed);
  if (a == Action::reset) {
    really_reset(fd);  // tcp_disconnect also purges the receive queue
  } else {
    // The kernel still returns queued bytes after shutdown(): discard them
    // first, so a read completes with 0 like the injected EOF says.
    char scratch[16384];
    for (int i = 0; i < 256 && IOGATE_REAL(recv)(fd, scratch, sizeof scratch, MSG_DONTWAIT) > 0; ++i) {
    }
    really_shutdown(fd);
  }
  owe_readiness_always(fd, EPOLLIN);
}

void trace_request(const char* name, int fd, FdState* s, size_t len, long long ret, int err, const Decision& d) {
  if (!trace_on()) return;
  TraceLine t(name);
  t.num("fd", fd).num("conn", s ? s->conn.load(std::memory_order_relaxed) : 0).num("req", static_cast<long long>(len));
  t.num("ret", ret).err(err).str("fault", d.rule && d.out.action != Action::pass ? d.rule->text.c_str() : nullptr);
  if (d.out.action == Action::partial) t.num("shortened_to", static_cast<long long>(d.out.len));
  if (d.out.action != Action::pass && d.out.robust) t.str("robust", d.out.robust);
  if (d.note) t.str("note", d.note);
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

// IORING_NOP_INJECT_RESULT (Linux 6.10): a NOP completes with the result in
// sqe->len. Probed once, as liburing's test/nop-flags.c does: 42 must come back.
constexpr uint32_t kNopInjectResult = 1u << 0;

bool nop_inject_supported() {
  static std::once_flag once;
  static bool supported = false;
  std::call_once(once, [] {
    using Init = int (*)(unsigned, struct io_uring*, unsigned);
    using GetSqe = struct io_uring_sqe* (*)(struct io_uring*);
    using GetCqe = int (*)(struct io_uring*, struct io_uring_cqe**, unsigned, unsigned, sigset_t*);
    using Exit = void (*)(struct io_uring*);
    auto init = reinterpret_cast<Init>(dlsym(RTLD_DEFAULT, "io_uring_queue_init"));
    auto get_sqe = reinterpret_cast<GetSqe>(dlsym(RTLD_DEFAULT, "io_uring_get_sqe"));
    auto get_cqe = reinterpret_cast<GetCqe>(dlsym(RTLD_DEFAULT, "__io_uring_get_cqe"));
    auto fini = reinterpret_cast<Exit>(dlsym(RTLD_DEFAULT, "io_uring_queue_exit"));
    struct io_uring ring;
    if (!init || !get_sqe || !get_cqe || !fini || init(2, &ring, 0) < 0) return;
    struct io_uring_sqe* sqe = get_sqe(&ring);
    std::memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_NOP;
    sqe->rw_flags = kNopInjectResult;
    sqe->len = 42;
    struct io_uring_cqe* cqe = nullptr;
    if (IOGATE_REAL(io_uring_submit)(&ring) == 1 && get_cqe(&ring, &cqe, 0, 1, nullptr) == 0 && cqe)
      supported = cqe->res == 42;
    fini(&ring);
  });
  return supported;
}

// Connections to end for real once the batch they were faulted in has been
// submitted: earlier SQEs of that batch (a reply's send) go out first.
thread_local std::vector<std::pair<int, Action>>* t_after_submit;

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
    const int fd = sqe->fd;
    Decision d = decide_async(CallClass::uring, op, fd, len, &s);
    if (!s) continue;
    if (d.out.action == Action::partial) sqe->len = static_cast<unsigned>(d.out.len);
    if (d.out.action == Action::reset || d.out.action == Action::eof) {
      if (nop_inject_supported()) {
        // The recv completes through the ring with the kernel's answer to a
        // reset or EOF; the connection itself is ended after this submit.
        const uint8_t keep = sqe->flags & static_cast<uint8_t>(~IOSQE_BUFFER_SELECT);
        const uint64_t user_data = sqe->user_data;
        std::memset(sqe, 0, sizeof *sqe);
        sqe->opcode = IORING_OP_NOP;
        sqe->flags = keep;
        sqe->rw_flags = kNopInjectResult;
        sqe->len = static_cast<unsigned>(d.out.action == Action::reset ? -ECONNRESET : 0);
        sqe->user_data = user_data;
        if (!t_after_submit) t_after_submit = new std::vector<std::pair<int, Action>>();
        t_after_submit->emplace_back(fd, d.out.action);
        s->dead.store(1, std::memory_order_relaxed);
      } else {
        end_connection(fd, s, d.out.action);  // before 6.10: at once (may hit this batch's sends)
      }
    }
    if (d.rule && d.out.action != Action::pass)
      trace_request(op == Op::recv ? "uring_recv" : "uring_send", fd, s, len, -1, 0, d);
  }
  errno = err;
}

// Ends the connections faulted in the batch just submitted.
int after_submit(int r) {
  if (!t_after_submit || t_after_submit->empty()) return r;
  const int err = errno;
  Guard guard;
  for (const auto& [fd, action] : *t_after_submit) {
    FdState* s = stream_state(fd);
    if (s) end_connection(fd, s, action);
  }
  t_after_submit->clear();
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
