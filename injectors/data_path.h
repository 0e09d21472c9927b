// The decision path of one data call (recv/send class) on a TCP stream
// socket, shared by both backends (docs/backends.md): the preload shim runs
// it around the libc call it wraps, the syscall backend around the system
// call it stops at entry and exit.
//
//   data_enter: schedule -> legality -> what to do; an outcome that needs no
//               real call (EAGAIN, EINTR, reset, EOF, the sticky EOF of a
//               dead connection) is recorded and its side effects done here
//   the real call, with `len` or, for a short transfer, `d.out.len` bytes
//   data_exit:  the record of the real call and the readiness it owes
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include "fdtable.h"
#include "shim.h"

namespace iogate {

struct DataCall {
  DataCall(const char* n, CallClass k, uint32_t dr, int f, std::size_t l, int fl)
      : name(n), cls(k), dir(dr), fd(f), len(l), flags(fl) {}
  const char* name;  // the call's name in the trace
  CallClass cls;     // recv or send
  uint32_t dir;      // EPOLLIN (recv) or EPOLLOUT (send)
  int fd;
  std::size_t len;   // bytes asked for
  int flags;         // MSG_* flags (0 where the call has none)
  FdState* s = nullptr;
  uint32_t conn = 0;
  Decision d;
  bool recorded = false;  // data_enter wrote the record (an injected outcome)
};

enum class Next {
  none,       // not a TCP stream socket, or nothing to decide: the real call, untraced
  call,       // the real call with c.len bytes, then data_exit
  shortened,  // the real call with c.d.out.len bytes, then data_exit
  done,       // no real call: return *ret with errno *err
};

Next data_enter(DataCall& c, ssize_t* ret, int* err);
// After the real call of Next::call or Next::shortened (also the real call
// an epipe outcome makes after the shutdown: Next::call with c.recorded).
void data_exit(DataCall& c, ssize_t ret, int err);

}  // namespace iogate
