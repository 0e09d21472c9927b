// errno handling as data: every reference server classifies the result of a
// recv()/send()/accept() through these functions instead of scattering
// `if (errno == ...)` chains. The table is unit-tested against the man pages.
//
//   recv(2): > 0 data, 0 orderly shutdown, -1 EAGAIN/EWOULDBLOCK "would block",
//            -1 EINTR "interrupted before any data", any other -1 an error.
#pragma once

#include <sys/types.h>

namespace iogate {

enum class IoClass {
  progress,     // > 0 bytes moved
  closed,       // recv() == 0: the peer shut down its sending side
  would_block,  // EAGAIN / EWOULDBLOCK: nothing now, wait for readiness
  retry,        // EINTR: a signal arrived first; repeat the same call
  peer_gone,    // ECONNRESET, EPIPE, ETIMEDOUT, ...: end this connection only
};

// Result of recv()/read() with the errno observed right after it.
IoClass classify_recv(ssize_t n, int err);
// Result of send()/write(); a 0 return on a non-empty send is treated as progress-less retry.
IoClass classify_send(ssize_t n, int err);

enum class AcceptClass {
  accepted,     // a new connection
  would_block,  // EAGAIN: the queue is empty (non-blocking listener)
  retry,        // EINTR, ECONNABORTED and the network errors accept(2) says to treat like EAGAIN
  out_of_fds,   // EMFILE / ENFILE / ENOBUFS / ENOMEM: back off, do not spin
  fatal,        // EBADF, EINVAL, ENOTSOCK, ...: the listener itself is broken
};

AcceptClass classify_accept(int fd, int err);

// Result of a readiness wait: select(2), poll(2), epoll_wait(2).
enum class WaitClass {
  ready,  // >= 0: that many fds (0 on timeout)
  retry,  // EINTR: signal(7), a handler interrupted the wait (never restarted); wait again
  fatal,  // EBADF, EINVAL, EFAULT, ENOMEM: the loop itself is broken
};

WaitClass classify_wait(int n, int err);

const char* io_class_name(IoClass c);
const char* accept_class_name(AcceptClass c);

}  // namespace iogate
