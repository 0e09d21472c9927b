// Legality: turns a fault the schedule chose into an outcome the kernel could
// have produced for this call in this socket's state (catalogue rules V1, V2,
// V4, V8). IO-free: the caller supplies the socket's state; unit-tested.
#pragma once

#include <cstddef>
#include <cstdint>

#include "plan.h"

namespace iogate {

enum class Action : uint8_t {
  pass,         // no fault: call the kernel unchanged
  shorten,      // call the kernel with `len` bytes (a real short transfer, V4)
  would_block,  // return -1/EAGAIN without calling the kernel (V1, V2)
  reset,        // really reset the connection, return -1/ECONNRESET (V8)
};

struct Outcome {
  Action action = Action::pass;
  std::size_t len = 0;       // for shorten
  const char* note = nullptr;  // why the fault was changed, if it was
};

// len: the length the caller asked for; nonblocking: O_NONBLOCK on the open
// file description or MSG_DONTWAIT on the call.
Outcome legal_outcome(Fault f, uint64_t max, std::size_t len, bool nonblocking);

}  // namespace iogate
