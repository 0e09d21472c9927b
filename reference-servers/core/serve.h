// The connection loop of the blocking models that hand each connection to a
// thread or a process (threads, thread_pool, fork): the greeting, then recv()
// into the session and every reply sent whole, until the client finishes or
// is gone. What those models teach is how a connection gets its thread or
// process, not this loop, so it lives here once. blocking.cc keeps the same
// loop in its own file: there it is the lesson (the iterative server), and
// its mutants patch it.
#pragma once

#include "protocol.h"

namespace iogate {

// Serves one client on the blocking socket `fd` until it goes away: EINTR
// repeats the recv(), 0 and errors end the loop. Does not close `fd`.
void serve_blocking(int fd, Protocol proto);

}  // namespace iogate
