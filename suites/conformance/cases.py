"""The case table: the single source of truth for every case.

It generates the pytest parameters (suites/conformance, suites/teaching),
`./iogate list`, `./iogate explain CASE`, the gate's columns and
docs/cases.md. Ids are stable and never reused.
"""
from iogate.catalogue import Case, Requirement, Teaching

import case_scripts as s


def _all(profile):
    return True


CASES = [
    Case(
        id="recv.eagain.keeps-connection",
        summary="recv() = -1/EAGAIN means 'nothing now': the connection and its frame state stay",
        requirement=Requirement(
            "recv(2) RETURN VALUE, ERRORS",
            "If no messages are available at the socket, the receive calls wait for a message to arrive, "
            "unless the socket is nonblocking (see fcntl(2)), in which case the value -1 is returned and "
            "errno is set to EAGAIN or EWOULDBLOCK."),
        applies=lambda p: p.nonblocking,
        applies_text="servers with non-blocking sockets (a blocking socket never returns EAGAIN: N/A)",
        plan="recv.eagain:every=2",
        script=s.eagain_keeps_connection,
        oracle="10 rounds of '^ab' -> 'bc', 'c$' -> 'd' on one connection, every 2nd recv() EAGAIN: "
               "every reply arrives and the connection is never closed",
        accepted="go back to the readiness wait (or the next fd) and read again later; EAGAIN and "
                 "EWOULDBLOCK both accepted",
        teaching=Teaching(
            bug="EAGAIN is treated like an error or like end-of-file ('if (n <= 0) close(fd)' or "
                "'if (n < 0) close(fd)').",
            symptom="the client is disconnected at the first moment its data is not there yet, which "
                    "on a loaded network is any moment.",
            fix="classify recv()'s result: > 0 data, 0 orderly close, -1 with EAGAIN/EWOULDBLOCK 'wait "
                "again', -1 with EINTR 'retry', any other -1 'close this connection'."),
    ),
    Case(
        id="recv.partial.state-preserved",
        summary="protocol state survives arbitrary read boundaries, down to 1 byte per recv()",
        requirement=Requirement(
            "recv(2) DESCRIPTION",
            "The receive calls normally return any data available, up to the requested amount, rather "
            "than waiting for receipt of the full amount requested."),
        applies=_all,
        applies_text="every model",
        plan="recv.partial:max=1",
        script=s.partial_state_preserved,
        oracle="'x^abc$y^z$' sent in one write and read one byte per recv() gives exactly 'bcd{'; "
               "300 seeded random frame bytes give the reply of the Python model",
        accepted="any chunking inside the server, as long as the reply bytes are identical",
        teaching=Teaching(
            bug="the parser assumes one recv() is one message: the frame state lives in the read "
                "handler and is reset on every call.",
            symptom="replies go missing or appear for bytes outside a frame whenever TCP splits a "
                    "message differently (small MTU, slow links, a busy peer).",
            fix="keep per-connection protocol state (here: inside/outside a frame) in the connection "
                "object and feed every chunk into the same state machine."),
    ),
    Case(
        id="send.partial.resumes-at-offset",
        summary="a short send() is continued from the first unsent byte, nothing lost or repeated",
        requirement=Requirement(
            "send(2) RETURN VALUE",
            "On success, these calls return the number of bytes sent."),
        applies=_all,
        applies_text="every model (on blocking sockets a short send is a robustness fault, V4)",
        plan="send.partial:max=7",
        script=s.send_partial_resumes,
        oracle="a 256 KiB seeded echo, every send() moving at most 7 bytes, comes back byte-exact",
        accepted="resend buf+offset at once (blocking) or when writable (non-blocking)",
        teaching=Teaching(
            bug="send()'s return value is ignored (the tail is silently lost) or the retry starts "
                "again at offset 0 (the prefix is duplicated).",
            symptom="large replies arrive truncated or corrupted only under load, when the socket "
                    "buffer is full.",
            fix="keep (buffer, offset) per connection; after send() returns n, advance the offset by n "
                "and send buf+offset, len-offset until nothing is left."),
    ),
    Case(
        id="recv.zero.closes",
        summary="recv() = 0 is the orderly shutdown: the server closes that connection",
        requirement=Requirement(
            "recv(2) RETURN VALUE",
            "When a stream socket peer has performed an orderly shutdown, the return value will be 0 "
            "(the traditional \"end-of-file\" return)."),
        applies=_all,
        applies_text="every model",
        plan="",
        script=s.recv_zero_closes,
        oracle="5 clients each exchange '^a$' -> 'b' and close: the server's fd count "
               "(/proc/PID/fd) returns to its start-up baseline",
        accepted="close at once, or after flushing the replies owed",
        teaching=Teaching(
            bug="on recv() = 0 the loop ends (or the fd leaves the interest set) without close(fd).",
            symptom="sockets pile up in CLOSE_WAIT and the server eventually fails accept() with "
                    "EMFILE: 'Too many open files'.",
            fix="on 0: stop reading, flush what is owed, close(fd) and free the connection's state."),
    ),
    Case(
        id="et.read.drains-until-eagain",
        summary="after an edge-triggered read event the server reads until EAGAIN",
        requirement=Requirement(
            "epoll(7) Level-triggered and edge-triggered",
            "The suggested way to use epoll as an edge-triggered (EPOLLET) interface is as follows: "
            "with nonblocking file descriptors; and by waiting for an event only after read(2) or "
            "write(2) return EAGAIN."),
        applies=lambda p: p.trigger == "edge",
        applies_text="edge-triggered models (level-triggered and blocking models: N/A)",
        plan="recv.eagain:every=2",
        script=s.et_drains,
        oracle="50 concurrent clients each echo 10 KB (server buffer 4 KB) with every 2nd recv() "
               "EAGAIN: every reply complete; and in the trace, after each EPOLLIN event the recv() "
               "calls on that fd end with EAGAIN, a short count, 0 or an error before the next wait",
        accepted="read until EAGAIN; stop on a short read (epoll(7) allows it for stream sockets); "
                 "or keep the fd on a user-space ready list",
        teaching=Teaching(
            bug="one recv() per EPOLLIN edge (the level-triggered habit) with EPOLLET.",
            symptom="the rest of a burst stays in the kernel; no new edge comes, so the client waits "
                    "forever for the rest of its reply.",
            fix="loop recv() until it returns -1/EAGAIN (or a short count), then wait again."),
    ),
    Case(
        id="peer.reset.only-that-connection",
        summary="a real RST from one client affects only that client",
        requirement=Requirement(
            "recv(2) ERRORS",
            "ECONNRESET ... A connection was forcibly closed by a peer."),
        applies=_all,
        applies_text="every model (an iterative server serves the next queued client)",
        plan="",
        script=s.peer_reset_others_served,
        oracle="client 1 mid-frame, client 2 sends '^x' and resets (SO_LINGER {1,0}), client 3 "
               "waiting: client 1 finishes its frame and client 3 is served",
        accepted="close the reset connection (after recv() or send() fails), keep everything else",
        teaching=Teaching(
            bug="a per-connection error is handled as fatal for the server (perror + exit, an "
                "uncaught exception) or shared state is cleared by one connection's error path.",
            symptom="one client that disappears (a closed laptop, a killed process) takes the server "
                    "down for everybody.",
            fix="on ECONNRESET/EPIPE from recv()/send(): close that fd, free that connection, go on."),
    ),
    Case(
        id="recv.error.closes",
        summary="recv() = -1 with ECONNRESET ends that connection only",
        requirement=Requirement(
            "recv(2) RETURN VALUE",
            "These calls return the number of bytes received, or -1 if an error occurred."),
        applies=_all,
        applies_text="every model",
        plan="recv.reset:conn=1,after=1",
        script=s.recv_error_closes,
        oracle="the shim really resets connection 1 at its 2nd recv() (ECONNRESET, the peer sees "
               "RST): client 1 sees the end, client 2 is then served, fds back to baseline",
        accepted="close the connection at once; logging is optional",
        teaching=Teaching(
            bug="recv() errors other than EAGAIN/EINTR exit the server, or are ignored and the fd "
                "is kept.",
            symptom="the server dies (or leaks an fd and spins) when one peer's connection breaks.",
            fix="close that fd and free its state; keep serving the others; never retry the read."),
    ),
]
