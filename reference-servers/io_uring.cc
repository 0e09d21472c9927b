// Model: io_uring (liburing), completion-driven, one thread. The listener has
// one multishot accept in flight (re-armed whenever a CQE comes without
// IORING_CQE_F_MORE); each connection has at most one recv and exactly one
// send in flight at a time. Every SQE's user_data points at a per-operation
// record (Op: what it was and for which connection), so a CQE names its
// operation without a lookup.
// Sockets are BLOCKING (nonblocking=False): for a socket without O_NONBLOCK
// the kernel arms its internal poll and completes the recv/send when ready
// (IORING_FEAT_FAST_POLL); with O_NONBLOCK it would hand -EAGAIN back instead.
// The running kernel is checked at start-up (Linux >= 5.19 for multishot
// accept and IORING_ASYNC_CANCEL_FD/ANY; FAST_POLL, NODROP, EXT_ARG (the
// wait with a timeout); the opcodes used);
// the server exits 1 with one clear line when it lacks them.
//
// Man pages: io_uring(7), io_uring_setup(2) (IORING_FEAT_*), io_uring_enter(2)
// (EINTR), io_uring_prep_multishot_accept(3) ("IORING_CQE_F_MORE ... if not
// set, the application must re-arm"), io_uring_prep_recv(3),
// io_uring_prep_send(3), io_uring_prep_cancel(3), io_uring_prep_timeout(3),
// io_uring_wait_cqe(3), signalfd(2), accept(2), recv(2), send(2).
//
// Ownership: main() owns the ring, the listener and the signalfd; `Loop::live`
// owns every Conn: fd, Session, the 4096-byte read buffer, the reply strings
// and its two Op records. The kernel may write rbuf and read `sending` until
// the CQE of that operation arrives, so a Conn is closed and freed only when
// `inflight` (its operations without their final CQE) is 0: closing first
// submits one cancel for everything on its fd, then waits for the CQEs.
// New replies go to `owed`; `sending` is not touched while a send is in
// flight. Cancel requests carry a shared record that names no connection.
// Single-threaded (the kernel's io-wq threads are not ours).
//
// Errors (CQE res, classified by errclass with -res as errno):
//   accept: fd -> new connection; retry class, -ECANCELED -> nothing (re-arm
//           if the multishot ended);
//           out_of_fds -> cancel the accept, re-arm it after a 50 ms timeout
//           op; fatal -> perror, exit 1.
//   recv:   > 0 -> feed, recv again; 0 -> EOF: close once the replies are
//           sent; -EAGAIN/-EINTR -> resubmit; other < 0 (-ECONNRESET...) ->
//           close this connection only (after its in-flight ops completed).
//   send:   0 < res < len -> resubmit the remainder at its offset;
//           -EAGAIN/-EINTR -> resubmit; -EPIPE/-ECONNRESET/other -> close.
//   io_uring_wait_cqe: -EINTR -> wait again; other < 0 -> perror, exit 1.
// Back-pressure: no recv is submitted while a connection owes > 1 MiB.
// Shutdown: SIGTERM (blocked; a POLL_ADD on a signalfd) -> cancel every
// request (IORING_ASYNC_CANCEL_ANY), wait (bounded) for all CQEs, free, exit 0.
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>

#include "errclass.h"
#include "net.h"
#include "protocol.h"

namespace {

using iogate::IoClass;

constexpr std::size_t kReadPauseAt = 1u << 20;  // owed bytes that stop receiving

[[noreturn]] void die(const char* what, int err, const char* hint = "") {
  std::fprintf(stderr, "%s: %s%s\n", what, std::strerror(err), hint);
  std::exit(1);
}

struct Conn;
enum class Kind { accept, recv, send, cancel, timer, signal };
struct Op {  // what a CQE's user_data points at
  Kind kind;
  Conn* conn;  // recv/send only
};

struct Conn {
  Conn(int f, iogate::Protocol p) : fd(f), session(p) {}
  int fd;
  iogate::Session session;
  char rbuf[4096];
  std::string owed;     // replies not yet handed to a send
  std::string sending;  // the bytes of the send in flight, stable while it runs
  std::size_t sent = 0;  // first unsent byte of `sending`
  Op recv_op{Kind::recv, this}, send_op{Kind::send, this};
  int inflight = 0;  // its ops still without their final CQE
  bool receiving = false, sending_now = false, eof = false, closing = false, cancelled = false;
};

struct Loop {
  io_uring ring;
  iogate::Protocol proto;
  int listener = -1;
  Op accept_op{Kind::accept, nullptr}, cancel_op{Kind::cancel, nullptr};
  Op timer_op{Kind::timer, nullptr}, signal_op{Kind::signal, nullptr};
  __kernel_timespec back_off{0, 50 * 1000 * 1000};
  bool accept_armed = false, resting = false, stopping = false;
  long pending = 0;  // SQEs without their final CQE, all kinds
  std::unordered_map<Conn*, std::unique_ptr<Conn>> live;

  io_uring_sqe* sqe(Op* op) {
    io_uring_sqe* s;
    while ((s = io_uring_get_sqe(&ring)) == nullptr) io_uring_submit(&ring);  // SQ full: flush it
    io_uring_sqe_set_data(s, op);
    ++pending;
    return s;
  }
  void arm_accept() {
    io_uring_prep_multishot_accept(sqe(&accept_op), listener, nullptr, nullptr, SOCK_CLOEXEC);
    accept_armed = true;
  }
};

// Submits what the connection needs next; frees it once it is done.
void advance(Loop& l, Conn& c) {
  if (c.closing) {
    if (c.inflight == 0) {
      close(c.fd);
      l.live.erase(&c);
    } else if (!c.cancelled) {
      io_uring_prep_cancel_fd(l.sqe(&l.cancel_op), c.fd, IORING_ASYNC_CANCEL_ALL);
      c.cancelled = true;
    }
    return;
  }
  if (!c.sending_now) {
    if (c.sent == c.sending.size() && !c.owed.empty()) {
      c.sending.swap(c.owed);
      c.owed.clear();
      c.sent = 0;
    }
    if (c.sent < c.sending.size()) {
      io_uring_prep_send(l.sqe(&c.send_op), c.fd, c.sending.data() + c.sent, c.sending.size() - c.sent,
                         MSG_NOSIGNAL);
      c.sending_now = true;
      ++c.inflight;
    }
  }
  std::size_t owes = c.owed.size() + (c.sending.size() - c.sent);
  if (!c.receiving && !c.eof && owes <= kReadPauseAt) {
    io_uring_prep_recv(l.sqe(&c.recv_op), c.fd, c.rbuf, sizeof c.rbuf, 0);
    c.receiving = true;
    ++c.inflight;
  }
  if (c.eof && owes == 0) {
    c.closing = true;
    advance(l, c);
  }
}

void on_accept(Loop& l, int res, bool more) {
  if (!more) l.accept_armed = false;
  if (l.stopping || res == -ECANCELED) {  // the timer re-arms after a cancel
    if (res >= 0) close(res);              // accepted while stopping: never served
    return;
  }
  switch (iogate::classify_accept(res, res < 0 ? -res : 0)) {
    case iogate::AcceptClass::accepted: {
      auto owned = std::make_unique<Conn>(res, l.proto);
      Conn* c = owned.get();
      l.live.emplace(c, std::move(owned));
      c->owed.append(c->session.greeting());
      advance(l, *c);
      break;
    }
    case iogate::AcceptClass::would_block:
    case iogate::AcceptClass::retry:
      break;
    case iogate::AcceptClass::out_of_fds:
      if (!l.resting) {
        l.resting = true;
        io_uring_prep_timeout(l.sqe(&l.timer_op), &l.back_off, 0, 0);
      }
      if (l.accept_armed) io_uring_prep_cancel(l.sqe(&l.cancel_op), &l.accept_op, 0);
      break;
    case iogate::AcceptClass::fatal:
      die("io_uring accept", -res);
  }
  if (!l.accept_armed && !l.resting) l.arm_accept();
}

void on_io(Loop& l, Conn& c, bool is_recv, int res) {
  --c.inflight;
  (is_recv ? c.receiving : c.sending_now) = false;
  int err = res < 0 ? -res : 0;
  ssize_t n = res < 0 ? -1 : res;
  IoClass k = is_recv ? iogate::classify_recv(n, err) : iogate::classify_send(n, err);
  if (c.closing) k = IoClass::retry;  // cancelled or late: only the count matters
  if (k == IoClass::progress && is_recv) c.session.feed(c.rbuf, static_cast<std::size_t>(n), c.owed);
  if (k == IoClass::progress && !is_recv) c.sent += static_cast<std::size_t>(n);  // short: rest next
  if (k == IoClass::closed) c.eof = true;
  if (k == IoClass::peer_gone) c.closing = true;
  advance(l, c);  // retry, would_block: the same operation is submitted again
}

bool kernel_supports(io_uring& ring, const io_uring_params& p) {
  utsname u{};
  int major = 0, minor = 0;
  if (uname(&u) != 0 || std::sscanf(u.release, "%d.%d", &major, &minor) != 2 ||
      major * 1000 + minor < 5019) {
    std::fprintf(stderr, "io_uring: Linux %s is too old: multishot accept and cancel by fd need 5.19+\n",
                 u.release);
    return false;
  }
  const unsigned need = IORING_FEAT_FAST_POLL | IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG;
  if ((p.features & need) != need) {
    std::fprintf(stderr, "io_uring: the kernel lacks IORING_FEAT_FAST_POLL, _NODROP or _EXT_ARG\n");
    return false;
  }
  io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  bool ok = probe != nullptr;
  for (int op : {IORING_OP_ACCEPT, IORING_OP_RECV, IORING_OP_SEND, IORING_OP_ASYNC_CANCEL,
                 IORING_OP_TIMEOUT, IORING_OP_POLL_ADD})
    ok = ok && io_uring_opcode_supported(probe, op);
  if (probe) io_uring_free_probe(probe);
  if (!ok) std::fprintf(stderr, "io_uring: the kernel lacks an opcode this server uses\n");
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  iogate::ServerOptions opts = iogate::parse_options(argc, argv, "io_uring");
  iogate::ignore_sigpipe();
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, nullptr);
  // The ring and the signalfd exist before "listening on" (the fd baseline).
  Loop l;
  l.proto = opts.protocol;
  io_uring_params params{};
  int r = io_uring_queue_init_params(256, &l.ring, &params);
  if (r < 0) die("io_uring_setup", -r, " (no io_uring? see /proc/sys/kernel/io_uring_disabled)");
  if (!kernel_supports(l.ring, params)) return 1;
  int sigfd = signalfd(-1, &term, SFD_CLOEXEC);  // blocking: io_uring polls it
  if (sigfd < 0) die("signalfd", errno);
  io_uring_prep_poll_add(l.sqe(&l.signal_op), sigfd, POLLIN);
  l.listener = iogate::listen_on(opts, /*nonblocking=*/false);
  l.arm_accept();

  int stop_waits = 0;  // bounded shutdown: 1 s waits for the last CQEs
  while (l.pending > 0 && stop_waits < 5) {
    r = io_uring_submit(&l.ring);
    if (r < 0 && r != -EINTR && r != -EBUSY && r != -EAGAIN) die("io_uring_submit", -r);
    io_uring_cqe* cqe = nullptr;
    if (l.stopping) {
      __kernel_timespec second{1, 0};
      r = io_uring_wait_cqe_timeout(&l.ring, &cqe, &second);
      if (r == -ETIME) ++stop_waits;
    } else {
      r = io_uring_wait_cqe(&l.ring, &cqe);
    }
    if (r == -EINTR || r == -ETIME) continue;  // EINTR: a signal ended the wait; wait again
    if (r < 0) die("io_uring_wait_cqe", -r);
    while (io_uring_peek_cqe(&l.ring, &cqe) == 0) {
      auto* op = static_cast<Op*>(io_uring_cqe_get_data(cqe));
      const int res = cqe->res;
      const bool more = cqe->flags & IORING_CQE_F_MORE;
      io_uring_cqe_seen(&l.ring, cqe);
      if (!more) --l.pending;
      switch (op->kind) {
        case Kind::accept:
          on_accept(l, res, more);
          break;
        case Kind::recv:
        case Kind::send:
          on_io(l, *op->conn, op->kind == Kind::recv, res);
          break;
        case Kind::cancel:  // -ENOENT, -EALREADY: the targets complete by themselves
          break;
        case Kind::timer:  // -ETIME: the back-off is over
          l.resting = false;
          if (!l.accept_armed && !l.stopping) l.arm_accept();
          break;
        case Kind::signal:  // SIGTERM is pending (or the poll was cancelled at stop)
          if (l.stopping) break;
          l.stopping = true;
          io_uring_prep_cancel(l.sqe(&l.cancel_op), nullptr, IORING_ASYNC_CANCEL_ANY);
          for (auto& [c, owned] : l.live) c->closing = c->cancelled = true;
          break;
      }
    }
  }
  io_uring_queue_exit(&l.ring);  // first: the kernel drops what is left, then buffers go
  for (auto& [c, owned] : l.live) close(c->fd);
  l.live.clear();
  close(l.listener);
  close(sigfd);
  return 0;
}
