// The Reactor family's read path for a connection, once (reactor and
// multi_reactor; what differs between them is who owns the loop, not how a
// connection reads): one recv() per readiness event (level-triggered: the fd
// is reported again while data remains), the bytes through the session, the
// replies queued and flushed as far as the socket takes them.
#pragma once

#include "net.h"
#include "outbuf.h"
#include "protocol.h"

namespace iogate::reactor {

// false: close the connection (the peer is gone). Sets `eof` when the peer
// shut down its sending side: close once everything owed is sent.
// EAGAIN (a spurious report or an injected one) and EINTR change nothing.
bool read_once(int fd, Session& session, OutBuf& out, bool& eof);

}  // namespace iogate::reactor
