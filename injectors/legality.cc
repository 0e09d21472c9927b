#include "legality.h"

namespace iogate {

const char* state_bit_name(unsigned bit) {
#define IOGATE_STATE_NAME(id) #id,
  static constexpr const char* kNames[] = {IOGATE_STATE_BITS(IOGATE_STATE_NAME)};
#undef IOGATE_STATE_NAME
  return bit < sizeof kNames / sizeof kNames[0] ? kNames[bit] : nullptr;
}

namespace {
constexpr RobustRow kRobust[] = {
#define IOGATE_ROBUST(id, classes, action, op, needs, forbids, reason) \
  {#id, classes, Action::action, Op::op, needs, forbids, reason, "robust=off: not injected (" reason ")"},
#include "faults.def"
};

Outcome classified(Outcome o, CallClass cls, const CallState& st) {
  if (o.action == Action::pass || o.action == Action::spurious) return o;
  if (const RobustRow* row = robustness(cls, o.action, st)) {
    o.robust = row->reason;
    o.robust_off = row->off_note;
  }
  return o;
}

Outcome outcome_of(const Rule& r, const CallState& st);
}  // namespace

unsigned CallState::bits() const {
  unsigned b = 0;
  if (nonblocking) b |= IOGATE_S(nonblocking);
  if (caught) b |= IOGATE_S(caught);
  if (timeout) b |= IOGATE_S(timeout);
  if (waitall) b |= IOGATE_S(waitall);
  if (epoll) b |= IOGATE_S(epoll);
  if (no_sleep) b |= IOGATE_S(no_sleep);
  if (shared_listener) b |= IOGATE_S(shared_listener);
  if (readable) b |= IOGATE_S(readable);
  return b;
}

const RobustRow* robustness(CallClass cls, Action a, const CallState& st) {
  const unsigned bits = st.bits();
  for (const RobustRow& row : kRobust) {
    if (!(row.classes & (1u << static_cast<unsigned>(cls))) || row.action != a) continue;
    if (row.op != Op::any && row.op != st.op) continue;
    if ((bits & row.needs) == row.needs && (bits & row.forbids) == 0) return &row;
  }
  return nullptr;
}

Outcome legal_outcome(const Rule& r, const CallState& st) { return classified(outcome_of(r, st), r.cls, st); }

namespace {
Outcome outcome_of(const Rule& r, const CallState& st) {
  Outcome o;
  const bool data = r.cls == CallClass::recv || r.cls == CallClass::send || r.cls == CallClass::aio ||
                    r.cls == CallClass::uring;
  // recv(2): a zero-length request may return 0 without meaning EOF; never fault it.
  if (data && st.len == 0) return o;
  switch (r.fault) {
    case Fault::partial:
      if (r.max < st.len) {
        o.action = Action::partial;
        o.len = static_cast<std::size_t>(r.max);
      }
      return o;
    case Fault::eagain:
      if (st.nonblocking) {
        o.action = Action::eagain;
      } else if (r.cls != CallClass::accept && st.len > 1) {
        // V1: a blocking socket never returns EAGAIN; a short transfer is
        // what the kernel can do instead.
        o.action = Action::partial;
        o.len = 1;
        o.note = "blocking socket: shortened to 1 byte instead of EAGAIN (V1)";
      } else if (r.cls == CallClass::accept) {
        o.note = "blocking listener: accept never returns EAGAIN, not injected (V1)";
      }
      return o;
    case Fault::eintr:
      if (r.cls != CallClass::wait && st.nonblocking) {
        o.note = "non-blocking call never sleeps: EINTR impossible, not injected (V5)";
      } else if (st.completion && st.no_sleep) {
        o.note = "aio_suspend returns at once (timeout 0, or a listed request is no longer in progress): "
                 "EINTR impossible, not injected (V5)";
      } else if (!st.interruptible) {
        o.note = "no caught signal could interrupt this call: EINTR impossible, not injected (V5)";
      } else {
        o.action = Action::eintr;
      }
      return o;
    case Fault::spurious:
      if (st.completion) {
        o.note = "aio_suspend returns only when a listed request completed, its timeout expired or a signal "
                 "came: no spurious return, not injected (V6)";
        return o;
      }
      o.action = r.fault;
      return o;
    case Fault::reset:
    case Fault::eof:
    case Fault::epipe:
    case Fault::emfile:
      o.action = r.fault;
      return o;
    case Fault::pass:
      return o;
    case Fault::econnaborted:
      // V10: the kernel reports ECONNABORTED for a connection it dequeued; a
      // non-blocking listener with nothing queued answers EAGAIN instead.
      if (st.nonblocking && !st.readable) {
        o.note = "nothing queued on the non-blocking listener: no connection to abort, not injected (V10)";
      } else {
        o.action = Action::econnaborted;
      }
      return o;
  }
  return o;
}
}  // namespace

}  // namespace iogate
