#include "data_path.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>

#include "signals.h"
#include "trace.h"

namespace iogate {

namespace {

CallState data_state(const Rule& r, void* p) {
  const auto* c = static_cast<DataCall*>(p);
  const bool reading = c->cls == CallClass::recv;
  CallState st;
  st.len = c->len;
  st.waitall = reading && (c->flags & MSG_WAITALL);
  const bool may_shorten = r.fault == Fault::eagain || r.fault == Fault::partial;
  if (may_shorten || r.fault == Fault::eintr) st.nonblocking = fd_nonblocking(c->fd, c->flags);
  if (r.fault == Fault::eagain && reading && st.nonblocking) {  // V18: would the kernel say EAGAIN now?
    st.readable = poll_now(c->fd, POLLIN) != 0;
  }
  if (r.fault == Fault::eintr && !st.nonblocking)
    st.interruptible = caught_signal_could_interrupt(socket_has_timeout(c->fd, reading));
  // V4: what could cut a blocking transfer short (the robustness table's
  // facts), asked only when this call will really be shortened
  const bool shortens = r.fault == Fault::partial ? c->len > r.max : c->len > 1;
  if (may_shorten && shortens && !st.nonblocking && (!reading || st.waitall)) {
    st.timeout = socket_has_timeout(c->fd, reading);
    st.caught = caught_signal_could_interrupt(true);
  }
  return st;
}

void record(const DataCall& c, ssize_t ret, int err) {
  if (!trace_on()) return;
  const int saved = errno;
  const Decision& d = c.d;
  TraceLine t(c.name);
  t.num("fd", c.fd).num("conn", c.conn).num("req", static_cast<long long>(c.len)).num("ret", ret).err(err);
  t.str("fault", d.rule && d.out.action != Action::pass ? d.rule->text.c_str() : nullptr);
  if (d.out.action == Action::partial) t.num("shortened_to", static_cast<long long>(d.out.len));
  if (d.out.action != Action::pass && d.out.robust) t.str("robust", d.out.robust);
  if (d.note) t.str("note", d.note);
  t.emit();
  errno = saved;
}

Next injected(DataCall& c, ssize_t r, int e, ssize_t* ret, int* err) {
  record(c, r, e);
  c.recorded = true;
  *ret = r;
  *err = e;
  return Next::done;
}

}  // namespace

Next data_enter(DataCall& c, ssize_t* ret, int* err) {
  if (!class_has_rules(c.cls) && !trace_on()) return Next::none;
  c.s = stream_state(c.fd);
  if (!c.s) return Next::none;
  c.conn = c.s->conn.load(std::memory_order_relaxed);
  if (c.cls == CallClass::recv && c.s->dead.load(std::memory_order_relaxed)) {
    // After an injected reset or EOF every read reports end of file, as the
    // kernel does after a real RST or FIN (V8); nothing queued leaks through.
    c.d.note = "connection ended earlier by the shim (sticky)";
    return injected(c, 0, 0, ret, err);
  }
  if (c.len > 0 && class_has_rules(c.cls)) {
    const uint64_t idx = c.s->calls[static_cast<unsigned>(c.cls)].fetch_add(1, std::memory_order_relaxed) + 1;
    c.d = decide(c.cls, Op::any, c.conn, idx, c.s->fired, data_state, &c);
  }
  // An injected outcome is recorded before it becomes visible to the peer.
  switch (c.d.out.action) {
    case Action::pass: return Next::call;
    case Action::partial: return Next::shortened;
    case Action::eagain:
      injected(c, -1, EAGAIN, ret, err);
      owe_readiness(c.fd, c.dir);
      return Next::done;
    case Action::eintr: return injected(c, -1, EINTR, ret, err);
    case Action::reset:
      c.s->dead.store(1, std::memory_order_relaxed);
      injected(c, -1, ECONNRESET, ret, err);
      really_reset(c.fd);
      owe_readiness_always(c.fd, EPOLLIN);
      return Next::done;
    case Action::eof:
      c.s->dead.store(1, std::memory_order_relaxed);
      injected(c, 0, 0, ret, err);
      really_shutdown(c.fd);
      owe_readiness_always(c.fd, EPOLLIN);
      return Next::done;
    case Action::epipe:
      // After a real shutdown the kernel itself answers EPIPE and raises
      // SIGPIPE (unless MSG_NOSIGNAL): recorded first, the signal may kill.
      c.s->dead.store(1, std::memory_order_relaxed);
      record(c, -1, EPIPE);
      c.recorded = true;
      really_shutdown(c.fd);
      owe_readiness_always(c.fd, EPOLLIN);
      return Next::call;
    case Action::emfile:        // accept and wait actions: the legality rules
    case Action::econnaborted:  // never give them to a data call; listed so
    case Action::spurious:      // that a new action is a -Wswitch error here
      return Next::call;
  }
  return Next::call;
}

void data_exit(DataCall& c, ssize_t ret, int err) {
  if (c.recorded) return;
  record(c, ret, err);
  if (c.d.out.action == Action::partial && ret == static_cast<ssize_t>(c.d.out.len)) owe_readiness(c.fd, c.dir);
}

}  // namespace iogate
