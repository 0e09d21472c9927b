#include "async_path.h"

#include <dlfcn.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "real.h"
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

}  // namespace

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

bool UringBatch::fault(struct io_uring_sqe* sqe) {
  const Op op = uring_op(sqe);
  if (op == Op::any || (sqe->flags & IOSQE_FIXED_FILE)) return false;
  if (op == Op::recv && (sqe->ioprio & IORING_RECV_MULTISHOT)) return false;  // armed once, completes many times
  FdState* s = nullptr;
  const size_t len = sqe->len;
  const int fd = sqe->fd;
  Decision d = decide_async(CallClass::uring, op, fd, len, &s);
  if (!s) return false;
  bool changed = false;
  if (d.out.action == Action::partial) {
    sqe->len = static_cast<unsigned>(d.out.len);
    changed = true;
  }
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
      end_.emplace_back(fd, d.out.action);
      s->dead.store(1, std::memory_order_relaxed);
      changed = true;
    } else {
      end_connection(fd, s, d.out.action);  // before 6.10: at once (may hit this batch's sends)
    }
  }
  if (d.rule && d.out.action != Action::pass)
    trace_request(op == Op::recv ? "uring_recv" : "uring_send", fd, s, len, -1, 0, d);
  return changed;
}

void UringBatch::after_submit() {
  for (const auto& [fd, action] : end_) {
    FdState* s = stream_state(fd);
    if (s) end_connection(fd, s, action);
  }
  end_.clear();
}

}  // namespace iogate
