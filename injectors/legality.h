// Legality: turns a fault the schedule chose into an outcome the kernel could
// have produced for this call in this fd's state (catalogue rules V1..V10),
// and says which outcomes are robustness faults (V18: the kernel could not
// produce them in that state; the robustness table of faults.def).
// IO-free: the caller supplies the state; unit-tested.
#pragma once

#include <cstddef>
#include <cstdint>

#include "plan.h"

namespace iogate {

// Action (plan.h) is the Fault enum: what each does to a call, when legal:
//   pass          call the kernel unchanged
//   partial       call the kernel with `len` bytes (a real short transfer, V4)
//   eagain        -1/EAGAIN without calling the kernel (V1, V2)
//   eintr         -1/EINTR without calling the kernel (V5)
//   reset         really reset the connection, -1/ECONNRESET (V8)
//   eof           really shut the connection down, return 0 (V8)
//   epipe         really shut the connection down, then the real call: EPIPE + SIGPIPE (V9)
//   emfile        -1/EMFILE, the connection stays queued (V10)
//   econnaborted  accept a real connection, abort it (RST), -1/ECONNABORTED (V10)
//   spurious      report a registered, not ready fd ready (V6)


// The facts of a call's state the robustness table tests (IOGATE_S(name)).
#define IOGATE_STATE_BITS(X) \
  X(nonblocking) X(caught) X(timeout) X(waitall) X(epoll) X(no_sleep) X(shared_listener) X(readable)
#define IOGATE_STATE_ID(id) id,
enum class StateBit : uint8_t { IOGATE_STATE_BITS(IOGATE_STATE_ID) };
#undef IOGATE_STATE_ID
const char* state_bit_name(unsigned bit);  // the name of StateBit `bit` (0-based)
#define IOGATE_S(id) (1u << static_cast<unsigned>(::iogate::StateBit::id))

// What the caller knows about the call and its fd. The caller fills what the
// rule's fault needs; what it leaves out is false.
struct CallState {
  std::size_t len = 0;          // bytes asked for (data calls); 0 otherwise
  bool nonblocking = false;     // O_NONBLOCK on the file description, or MSG_DONTWAIT
  bool interruptible = false;   // V5: a signal could end this call with EINTR now
  bool caught = false;          // some signal has a handler (whatever its SA_RESTART)
  bool timeout = false;         // SO_RCVTIMEO (reading) or SO_SNDTIMEO (writing) is set
  bool waitall = false;         // MSG_WAITALL
  bool epoll = false;           // an epoll wait (not select/poll)
  bool no_sleep = false;        // a wait with timeout 0
  bool shared_listener = false; // wait.spurious: the fd reported is a listener another process may accept on
  bool readable = false;        // recv.eagain: data, an EOF or an error is queued (a read would not block);
                                // accept.econnaborted: a connection is queued on the listener
  bool completion = false;      // aio_suspend(3): a wait for completions, which names no fd and returns
                                // only on a completion, its timeout or a signal (no spurious return)
  Op op = Op::any;              // aio/uring: the operation
  unsigned bits() const;        // the IOGATE_S bits that hold
};

struct Outcome {
  Action action = Action::pass;
  std::size_t len = 0;          // for shorten
  const char* note = nullptr;   // why the fault was changed or dropped, if it was
  const char* robust = nullptr; // a robustness fault (V18): the reason, with its rule
  const char* robust_off = nullptr;  // the note when robust=off keeps it from being injected
};

// The legal outcome of rule r in state st, with `robust` set when it is a
// robustness fault. A spurious outcome is classified by the caller once it
// knows which fd it reports (robustness(CallClass::wait, Action::spurious, ...)).
Outcome legal_outcome(const Rule& r, const CallState& st);

// A row of the robustness table (faults.def).
struct RobustRow {
  const char* id;
  unsigned classes;   // IOGATE_C bits
  Action action;
  Op op;
  unsigned needs;     // IOGATE_S bits that must hold
  unsigned forbids;   // IOGATE_S bits that must not
  const char* reason;     // the trace's "robust" field
  const char* off_note;   // the trace's "note" when robust=off drops it
};

// The first row matching an outcome of class cls in state st, or nullptr:
// the outcome is kernel-possible.
const RobustRow* robustness(CallClass cls, Action a, const CallState& st);

}  // namespace iogate
