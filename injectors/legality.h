// Legality: turns a fault the schedule chose into an outcome the kernel could
// have produced for this call in this fd's state (catalogue rules V1..V10).
// IO-free: the caller supplies the state; unit-tested.
#pragma once

#include <cstddef>
#include <cstdint>

#include "plan.h"

namespace iogate {

enum class Action : uint8_t {
  pass,         // no fault: call the kernel unchanged
  shorten,      // call the kernel with `len` bytes (a real short transfer, V4)
  would_block,  // -1/EAGAIN without calling the kernel (V1, V2)
  interrupt,    // -1/EINTR without calling the kernel (V5)
  reset,        // really reset the connection, -1/ECONNRESET (V8)
  eof,          // really shut the connection down, return 0 (V8)
  epipe,        // really shut the connection down, then the real call: EPIPE + SIGPIPE (V9)
  emfile,       // -1/EMFILE, the connection stays queued (V10)
  abort_accept, // accept a real connection, abort it (RST), -1/ECONNABORTED (V10)
  spurious,     // report a registered, not ready fd ready (V6)
};

const char* action_name(Action a);

// What the caller knows about the call and its fd.
struct CallState {
  std::size_t len = 0;          // bytes asked for (data calls); 0 otherwise
  bool nonblocking = false;     // O_NONBLOCK on the file description, or MSG_DONTWAIT
  bool interruptible = false;   // V5: a signal could end this call with EINTR now
};

struct Outcome {
  Action action = Action::pass;
  std::size_t len = 0;          // for shorten
  const char* note = nullptr;   // why the fault was changed or dropped, if it was
};

Outcome legal_outcome(const Rule& r, const CallState& st);

}  // namespace iogate
