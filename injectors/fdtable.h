// Per-descriptor state of the shim: what kind of fd it is, its connection
// ordinal, per-class call counters and per-rule fire counters, and whether an
// injected reset made it dead. One slot per fd number below kMaxFd; fds above
// it are passed through untouched.
//
// Thread rules: slots are reset by the thread that creates or closes the fd
// (accept, socket, close, dup2); counters are atomics, safe from any thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "plan.h"

namespace iogate {

enum class FdKind : uint8_t { unknown = 0, other, stream, conn, listen, outgoing };

struct FdState {
  std::atomic<uint8_t> kind;
  std::atomic<uint8_t> dead;
  std::atomic<uint32_t> conn;
  std::atomic<uint64_t> calls[kCallClasses];
  std::atomic<uint64_t> ops[4];  // aio/uring requests per Op (any, recv, send, accept)
  std::atomic<uint32_t> fired[kMaxRules];
};

inline constexpr int kMaxFd = 65536;

// The slot of a TCP stream socket, classified lazily (fstat + SO_TYPE +
// SO_DOMAIN) and cached; nullptr for anything else. A connected socket this
// process did not number itself (inherited across exec, received over a Unix
// socket) gets the ordinal the accepting process registered for it.
FdState* stream_state(int fd);

// Forget what was known of `fd` (it was closed or replaced); with
// FdKind::conn it becomes the `conn`-th accepted connection.
void fd_reset(int fd, FdKind kind, uint32_t conn);

// Marks fd as a listening socket (accept was called on it).
void fd_mark_listener(int fd);
// listen, conn (accepted or connected TCP socket) or any (not a known TCP socket).
FdRole fd_role(int fd);

// The known connection ordinal of fd (0 if none), whether it is known to be
// a TCP stream socket, and whether it is known not to be one; none makes a
// syscall.
uint32_t fd_conn(int fd);
bool fd_known_stream(int fd);
bool fd_known_other(int fd);

// A socket the process connected itself (never numbered as a connection).
void fd_mark_outgoing(int fd);
// A TCP socket that reached a request without accept() (io_uring's accept):
// give it the next connection ordinal. No-op for numbered, outgoing or listening fds.
void fd_number_if_unnumbered(int fd);

// fd was just accepted: it becomes the next connection of the whole server
// (the ordinal is shared by every process of the server, shared.h), under
// its socket identity so that a process inheriting it finds the same number.
// Returns the ordinal.
uint32_t fd_accepted(int fd);

// The supervisor's tables (proc.h): an empty one, or a copy of a parent's
// (nullptr when no memory is left).
FdState* fd_table_new(const FdState* parent);
void fd_table_free(FdState* t);

}  // namespace iogate
