// The decision path of accept/accept4 on a listening TCP socket, shared by
// both backends like data_path.h: accept_enter decides (EAGAIN, EINTR and
// EMFILE are injected without a call; ECONNABORTED takes a real queued
// connection through `take` and aborts it), accept_exit numbers the
// accepted connection, records the call and owes readiness.
#pragma once

#include <cstdint>

#include "shim.h"

namespace iogate {

struct AcceptCall {
  AcceptCall(const char* n, int l, int (*t)(void*), void* x) : name(n), lfd(l), take(t), ctx(x) {}
  const char* name;
  int lfd;
  int (*take)(void* ctx);  // a real accept on lfd: the new fd, or -1 with errno
  void* ctx;
  Decision d;
};

// 0: make the real call, then accept_exit; otherwise the errno to return
// (-1) without one, after accept_exit(c, -1, that errno).
int accept_enter(AcceptCall& c);
void accept_exit(AcceptCall& c, int r, int err);

// The records of descriptor set-up and end (both backends write them alike).
bool fcntl_traced(int cmd);  // F_SETFL, F_SETOWN, F_SETSIG, F_SETOWN_EX
void record_fcntl(const char* name, int fd, int cmd, long arg, int r, int err);
void record_fionbio(int fd, int arg, int r, int err);
void record_close(int fd, uint32_t conn, int r, int err);

}  // namespace iogate
