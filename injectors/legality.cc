#include "legality.h"

namespace iogate {

const char* action_name(Action a) {
  switch (a) {
    case Action::pass: return "pass";
    case Action::shorten: return "shorten";
    case Action::would_block: return "would_block";
    case Action::interrupt: return "interrupt";
    case Action::reset: return "reset";
    case Action::eof: return "eof";
    case Action::epipe: return "epipe";
    case Action::emfile: return "emfile";
    case Action::abort_accept: return "abort_accept";
    case Action::spurious: return "spurious";
  }
  return "?";
}

Outcome legal_outcome(const Rule& r, const CallState& st) {
  Outcome o;
  const bool data = r.cls == CallClass::recv || r.cls == CallClass::send || r.cls == CallClass::aio ||
                    r.cls == CallClass::uring;
  // recv(2): a zero-length request may return 0 without meaning EOF; never fault it.
  if (data && st.len == 0) return o;
  switch (r.fault) {
    case Fault::partial:
      if (r.max < st.len) {
        o.action = Action::shorten;
        o.len = static_cast<std::size_t>(r.max);
      }
      return o;
    case Fault::eagain:
      if (st.nonblocking) {
        o.action = Action::would_block;
      } else if (r.cls != CallClass::accept && st.len > 1) {
        // V1: a blocking socket never returns EAGAIN; a short transfer is
        // what the kernel can do instead.
        o.action = Action::shorten;
        o.len = 1;
        o.note = "blocking socket: shortened to 1 byte instead of EAGAIN (V1)";
      } else if (r.cls == CallClass::accept) {
        o.note = "blocking listener: accept never returns EAGAIN, not injected (V1)";
      }
      return o;
    case Fault::eintr:
      if (r.cls != CallClass::wait && st.nonblocking) {
        o.note = "non-blocking call never sleeps: EINTR impossible, not injected (V5)";
      } else if (!st.interruptible) {
        o.note = "no caught signal could interrupt this call: EINTR impossible, not injected (V5)";
      } else {
        o.action = Action::interrupt;
      }
      return o;
    case Fault::reset: o.action = Action::reset; return o;
    case Fault::eof: o.action = Action::eof; return o;
    case Fault::epipe: o.action = Action::epipe; return o;
    case Fault::emfile: o.action = Action::emfile; return o;
    case Fault::econnaborted: o.action = Action::abort_accept; return o;
    case Fault::spurious: o.action = Action::spurious; return o;
  }
  return o;
}

}  // namespace iogate
