"""The case table: the single source of truth for every case.

It generates the pytest parameters (suites/conformance, suites/teaching),
`./iogate list`, `./iogate explain CASE`, the gate's columns and
docs/cases.md. Ids are stable and never reused.
"""
from . import case_scripts as s
from .catalogue import Case, Hit, Requirement, Teaching


def _all(profile):
    return True


def _waits(p):  # the server sleeps in a readiness call the shim sees
    return p.readiness in ("select", "poll", "epoll", "signal")


def _nonblocking_loop(p):  # non-blocking sockets driven by readiness or a busy loop
    return p.nonblocking and p.readiness in ("busy", "select", "poll", "epoll", "signal")


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
        hit=Hit(("recv.eagain",), "a recv() on a client's connection, returning EAGAIN"),
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
        hit=Hit(("recv.partial",), "a recv() of a request, cut to 1 byte"),
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
        hit=Hit(("send.partial",), "a send() of the reply, cut to 7 bytes"),
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
        hit=Hit(("recv.eagain",), "a recv() after an edge, returning EAGAIN"),
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
        applies=lambda p: p.readiness not in ("aio", "io_uring"),
        applies_text="every model but the completion-based ones (their form: aio.error.closes, "
                     "uring.cqe-error.closes-only-that)",
        plan="recv.reset:conn=1,after=1",
        hit=Hit(("recv.reset",), "the 2nd recv() of connection 1, failing with ECONNRESET"),
        script=s.recv_error_closes,
        oracle="the shim really resets connection 1 at its 2nd recv() (ECONNRESET, the peer sees "
               "RST): client 1 sees the end, client 2 is then served, fds back to baseline",
        accepted="close the connection at once; logging is optional",
        needs_fault=True,
        teaching=Teaching(
            bug="recv() errors other than EAGAIN/EINTR exit the server, or are ignored and the fd "
                "is kept.",
            symptom="the server dies (or leaks an fd and spins) when one peer's connection breaks.",
            fix="close that fd and free its state; keep serving the others; never retry the read."),
    ),
    Case(
        id="stream.coalesced.all-processed",
        summary="several requests arriving in one recv() are all answered",
        requirement=Requirement(
            "recv(2) DESCRIPTION",
            "The receive calls normally return any data available, up to the requested amount, rather "
            "than waiting for receipt of the full amount requested."),
        applies=_all,
        applies_text="every model",
        plan="",
        script=s.coalesced_all_processed,
        oracle="3, then 50 requests sent in one write: every reply, in order",
        accepted="any processing order inside the server, as long as every request is answered in order",
        teaching=Teaching(
            bug="the handler processes the first request of the buffer and drops the rest.",
            symptom="pipelined or fast clients lose replies; with edge-triggered or one-shot "
                    "notification the rest is never seen again.",
            fix="feed every byte of every read into the protocol state machine before waiting again."),
    ),
    Case(
        id="eintr.retried",
        summary="a blocking recv()/send()/accept() that fails with EINTR is retried",
        requirement=Requirement(
            "recv(2) ERRORS; signal(7) Interruption of system calls",
            "EINTR The receive was interrupted by delivery of a signal before any data was available."),
        applies=lambda p: not p.nonblocking,
        applies_text="models with blocking sockets; N/A at run time when the server catches no signal "
                     "(EINTR is then not kernel-possible, V5)",
        plan="recv.eintr:every=2;send.eintr:every=3;accept.eintr:every=2",
        hit=Hit(("recv.eintr", "send.eintr", "accept.eintr"),
                "a blocking recv(), send() or accept(), failing with EINTR"),
        script=s.eintr_retried,
        oracle="4 clients x 3 requests while every 2nd recv, 3rd send and 2nd accept is interrupted: every "
               "reply arrives, no connection is dropped",
        accepted="retry the same call at once, or go back to the loop and retry later",
        teaching=Teaching(
            bug="'if (n < 0) { close(fd); }' with no errno test, or an accept loop that exits on EINTR.",
            symptom="connections drop whenever a signal arrives (SIGCHLD, a timer, a debugger attaching).",
            fix="treat -1/EINTR as 'nothing happened yet': repeat the call with the same buffer and length."),
    ),
    Case(
        id="wait.eintr.continues",
        summary="the event loop survives EINTR from its wait call and loses no event",
        requirement=Requirement(
            "signal(7) Interruption of system calls; aio_suspend(3) ERRORS",
            "epoll_wait(2), epoll_pwait(2), poll(2), ppoll(2), select(2), pselect(2): these are never "
            "restarted after being interrupted by a signal handler, regardless of the use of SA_RESTART; "
            "they always fail with the error EINTR when interrupted by a signal handler. aio_suspend: "
            "EINTR The call was ended by signal (possibly the completion signal of one of the operations "
            "we were waiting for)."),
        applies=lambda p: _waits(p) or p.readiness == "aio",
        applies_text="readiness loops (select, poll, epoll, signal) and POSIX AIO loops (aio_suspend); N/A at "
                     "run time when no wait call could be interrupted (select/poll/aio_suspend without a "
                     "caught signal)",
        plan="wait.eintr:every=3",
        hit=Hit(("wait.eintr",), "the wait call, failing with EINTR"),
        script=s.wait_eintr_continues,
        oracle="5 clients served while every 3rd wait call fails with EINTR; the server stays up",
        accepted="wait again (recomputing the timeout), handling the signal's effect first if any",
        teaching=Teaching(
            bug="the loop treats -1 from epoll_wait/select/aio_suspend as fatal and exits, or uses a stale "
                "event array.",
            symptom="the server disappears when a debugger attaches, on SIGCHLD, SIGWINCH or a profiling timer.",
            fix="on -1/EINTR from the wait call, continue the loop; only other errors are fatal."),
    ),
    Case(
        id="et.accept.loops-until-eagain",
        summary="an edge-triggered listener accepts until EAGAIN",
        requirement=Requirement(
            "epoll(7) Level-triggered and edge-triggered; accept(2) ERRORS",
            "EAGAIN or EWOULDBLOCK The socket is marked nonblocking and no connections are present to be "
            "accepted."),
        applies=lambda p: p.trigger == "edge",
        applies_text="edge-triggered listeners (epoll EPOLLET, SIGIO)",
        plan="",
        script=s.et_accept_loops,
        oracle="64 clients connect while the server is stopped (SIGSTOP), so one edge announces them "
               "all: every one is served",
        accepted="accept until EAGAIN; or accept a bounded batch and keep the listener on a ready list",
        teaching=Teaching(
            bug="one accept() per edge-triggered event.",
            symptom="under a burst of connects some clients hang until a later connection makes a new edge.",
            fix="loop accept4(..., SOCK_NONBLOCK) until it fails with EAGAIN."),
    ),
    Case(
        id="oneshot.rearm-after-handling",
        summary="with EPOLLONESHOT the fd is re-armed after every handling, on every path",
        requirement=Requirement(
            "epoll_ctl(2) EPOLLONESHOT",
            "Requests one-shot notification for the associated file descriptor. This means that after an "
            "event notified for the file descriptor by epoll_wait(2), the file descriptor is disabled in "
            "the interest list and no other events will be reported by the epoll interface. The user must "
            "call epoll_ctl() with EPOLL_CTL_MOD to rearm the file descriptor with a new event mask."),
        applies=lambda p: p.trigger == "oneshot",
        applies_text="EPOLLONESHOT models",
        plan="recv.eagain:every=3;send.partial:max=1",
        hit=Hit(("recv.eagain",), "a worker's recv(), returning EAGAIN (the path that must re-arm too)"),
        script=s.oneshot_rearmed,
        oracle="20 steps of half requests, each answered, while recv() says EAGAIN every 3rd call and "
               "send() moves 1 byte",
        accepted="EPOLL_CTL_MOD with the full interest after the worker finished, or DEL + close",
        teaching=Teaching(
            bug="the fd is re-armed only on the 'data processed' path, not after EAGAIN or a short write; "
                "or re-armed with EPOLLIN only while output is pending.",
            symptom="a connection goes silent after a pause: no event is ever reported for it again.",
            fix="re-arm (EPOLL_CTL_MOD, EPOLLIN plus EPOLLOUT while output is owed) at the end of every "
                "handling path."),
    ),
    Case(
        id="send.eagain.arms-writability",
        summary="unsent bytes are kept on EAGAIN and sent when the socket is writable",
        requirement=Requirement(
            "send(2) ERRORS",
            "EAGAIN or EWOULDBLOCK The socket is marked nonblocking and the requested operation would "
            "block."),
        applies=_nonblocking_loop,
        applies_text="non-blocking models",
        plan="send.eagain:every=2",
        hit=Hit(("send.eagain",), "a send() of the reply, returning EAGAIN"),
        script=s.send_eagain_arms_writability,
        oracle="a 256 KiB reply, every 2nd send() EAGAIN, comes back byte-exact; a small reply after it too",
        accepted="queue the rest and wait for writability (EPOLLOUT, POLLOUT, writefds) or retry next pass",
        teaching=Teaching(
            bug="the unsent bytes are dropped on EAGAIN, or the server spins retrying send().",
            symptom="replies lose their tail under load, or the server burns a core while a client is slow.",
            fix="keep the output queue, register write interest, and send from the offset when writable."),
    ),
    Case(
        id="send.slow-reader.bounded",
        summary="a client that does not read neither loses bytes nor grows the server's memory without bound",
        requirement=Requirement(
            "send(2) DESCRIPTION",
            "When the message does not fit into the send buffer of the socket, send() normally blocks, "
            "unless the socket has been placed in nonblocking I/O mode."),
        applies=_all,
        applies_text="every model",
        plan="",
        script=s.slow_reader_bounded,
        oracle="the client sends up to 64 MiB without reading: the server's memory grows by at most 48 MiB; "
               "then every owed reply byte arrives, in order",
        accepted="stop reading that client while its output queue is full (back-pressure), block in send "
                 "(blocking models), or close it with a stated policy",
        teaching=Teaching(
            bug="an unbounded output queue: input keeps being read and answered into memory.",
            symptom="one client that stops reading makes the server run out of memory.",
            fix="stop reading a connection while its output queue is above a limit; resume when it drains."),
    ),
    Case(
        id="lt.epollout.disarmed-when-idle",
        summary="write interest is removed once the output queue is empty",
        requirement=Requirement(
            "epoll(7) Level-triggered and edge-triggered",
            "Since even with edge-triggered epoll, multiple events can be generated upon receipt of "
            "multiple chunks of data, ... the level-triggered interface ... is simply a faster poll(2)."),
        applies=lambda p: p.trigger == "level" and p.readiness in ("select", "poll", "epoll"),
        applies_text="level-triggered readiness loops (select, poll, epoll LT, reactors, libraries)",
        plan="send.eagain:count=1",
        hit=Hit(("send.eagain",), "a send() on a connection, returning EAGAIN (so write interest gets armed)"),
        script=s.lt_write_interest_dropped,
        oracle="after a reply whose first send() hit EAGAIN, the idle server uses under 5% of a core",
        accepted="drop EPOLLOUT/POLLOUT/writefds when the queue drains (edge-triggered may keep it)",
        teaching=Teaching(
            bug="EPOLLOUT (or POLLOUT, writefds) left armed after the last write.",
            symptom="a connected socket is always writable: the wait returns at once forever, 100% CPU.",
            fix="arm write interest only while output is owed; remove it when the queue is empty."),
    ),
    Case(
        id="greeting.delivered-once",
        summary="the greeting is sent exactly once, even when its first send() would block",
        requirement=Requirement(
            "DESIGN.md wire protocol seq; send(2) RETURN VALUE",
            "On accept the server sends one byte *."),
        applies=_all,
        applies_text="every model speaking a protocol with a greeting (seq)",
        plan="send.eagain:count=1",
        hit=Hit(("send.eagain",), "the greeting's send() (the first send on its connection), returning EAGAIN",
                first=True),
        needs=("greeting",),
        tls_na="under TLS the first send() of a connection is the server's handshake flight (ServerHello...), "
               "not the greeting: the fault this case needs never reaches the greeting's SSL_write",
        script=s.greeting_once,
        oracle="the first byte is '*', exactly one, then the first reply",
        accepted="queue the greeting like any other output",
        teaching=Teaching(
            bug="the greeting is sent fire-and-forget (its EAGAIN ignored) or re-sent on every event.",
            symptom="clients never get the greeting, or get it twice, when the socket buffer is busy.",
            fix="append the greeting to the connection's output queue at accept and flush it normally."),
    ),
    Case(
        id="conn.serialized.order-preserved",
        summary="one connection's input is handled by one thread at a time, replies in input order",
        requirement=Requirement(
            "tcp(7) DESCRIPTION; epoll(7) Q&A",
            "TCP guarantees that the data arrives in order ... (epoll: EPOLLONESHOT avoids several threads "
            "being woken for one fd)."),
        applies=lambda p: p.workers == "threads" and p.trigger in ("oneshot", "completion", "level") and
        p.readiness not in ("none",),
        applies_text="models that hand connections to worker threads (ONESHOT pools, proactors, multi-reactors, AIO)",
        plan="recv.partial:max=3;send.partial:max=5",
        hit=Hit(("recv.partial",), "a worker's recv(), cut to 3 bytes"),
        script=s.serialized_per_connection,
        oracle="32 clients each pipeline 40 requests while recv() moves 3 bytes and send() 5: every reply "
               "stream is exact and in order",
        accepted="ONESHOT + re-arm after the worker, a per-connection strand or lock, one write in flight",
        teaching=Teaching(
            bug="two workers handle consecutive chunks of one connection at once.",
            symptom="bytes of replies interleave or come out of order under load, rarely and unreproducibly.",
            fix="serialize per connection: EPOLLONESHOT and re-arm when done, or a per-connection queue."),
    ),
    Case(
        id="accept.emfile.no-spin",
        summary="out of descriptors, the server neither spins nor stops, and accepts again when fds free up",
        requirement=Requirement(
            "accept(2) ERRORS",
            "EMFILE The per-process limit on the number of open file descriptors has been reached."),
        applies=lambda p: p.readiness != "busy",
        applies_text="every model (a busy-poll server spins by design: N/A)",
        plan="",
        script=s.emfile_no_spin,
        oracle="with RLIMIT_NOFILE 32 and 40 clients connecting (each sending first when the protocol has no "
               "greeting), once accept() fails with EMFILE (else N/A): the server uses under 20% of a core and "
               "retries accept() at most 100 times a second; after the clients leave, a new client is served "
               "(a second try allowed)",
        accepted="reserve-fd trick, disabling the listener for a while, a back-off",
        teaching=Teaching(
            bug="accept() fails with EMFILE, the loop goes back to wait, the listener is still readable.",
            symptom="100% CPU (often a log line per iteration) exactly when the server is busiest.",
            fix="on EMFILE/ENFILE back off (stop watching the listener for a while) or accept-and-close "
                "with a reserved fd."),
        limits={"nofile": 32},
    ),
    Case(
        id="accept.econnaborted.continues",
        summary="a connection aborted while queued is skipped; the listener keeps working",
        requirement=Requirement(
            "accept(2) ERRORS",
            "ECONNABORTED A connection has been aborted."),
        applies=_all,
        applies_text="every model",
        plan="accept.econnaborted:count=1",
        hit=Hit(("accept.econnaborted",), "accept(), failing with ECONNABORTED for an aborted connection"),
        script=s.econnaborted_continues,
        oracle="the first connection is accepted and aborted by the shim (its client sees RST); the next "
               "client is served",
        accepted="log at most, then accept again",
        needs_fault=True,
        teaching=Teaching(
            bug="any accept error is fatal: the accept thread or the server exits, or the listener is closed.",
            symptom="the server silently stops accepting after one client gives up while queued.",
            fix="treat ECONNABORTED (and the network errors accept(2) lists) like EAGAIN: try again."),
    ),
    Case(
        id="accept.reset-before-accept.continues",
        summary="a client that connects and resets before it is accepted is skipped",
        requirement=Requirement(
            "accept(2) RETURN VALUE; recv(2) ERRORS",
            "Linux accept() passes already-pending network errors on the new socket as an error code from "
            "accept() ... ECONNRESET A connection was forcibly closed by a peer."),
        applies=_all,
        applies_text="every model",
        plan="",
        script=s.reset_before_accept,
        oracle="while the server is stopped a client connects, sends and resets; then another client is "
               "served and the fd count returns to baseline",
        accepted="accept() may return the dead connection (its first send or recv fails) or skip it",
        teaching=Teaching(
            bug="the first IO on a freshly accepted connection is assumed to succeed; its failure (the "
                "greeting's send) is fatal to the server.",
            symptom="a client that gives up while queued (a load balancer's health check, a port scan) "
                    "takes the server down.",
            fix="a new connection can already be dead: handle ECONNRESET/EPIPE on it like on any other."),
    ),
    Case(
        id="many.clients.served",
        summary="a server that claims concurrency serves 1,100 clients at once",
        requirement=Requirement(
            "select(2) NOTES; epoll(7)",
            "select() can monitor only file descriptors numbers that are less than FD_SETSIZE (1024) ... "
            "All modern applications should instead use poll(2) or epoll(7), which do not suffer this "
            "limitation."),
        applies=lambda p: p.concurrent and not p.bounded,
        applies_text="concurrent models (1,100 clients; a model with a hard limit, e.g. select's FD_SETSIZE, "
                     "is asked for what it states)",
        plan="",
        script=s.many_clients,
        oracle="1,100 clients (select: 1,000) connect at once and each sends a request: no crash, no wrong "
               "reply, no client dropped after the server began to answer it; clients it queues or refuses "
               "(closed before any reply byte) come again as the served ones leave and must all be served",
        accepted="any scheduling; back-pressure at a cap: leaving clients in the backlog, or closing them "
                 "before answering anything (nginx's worker_connections, a fixed poll table that stops "
                 "accepting)",
        teaching=Teaching(
            bug="a fixed-size connection table (or fd_set) indexed by fd: connections beyond it are dropped "
                "or corrupt memory.",
            symptom="the server works in tests and fails at the first traffic peak.",
            fix="size per-connection state dynamically; use poll or epoll, not select, beyond 1024 fds."),
    ),
    Case(
        id="accept.spurious.no-block",
        summary="a readiness report for the listener is not a promise that accept() succeeds",
        requirement=Requirement(
            "accept(2) NOTES",
            "There may not always be a connection waiting after a SIGIO is delivered or select(2), poll(2), "
            "or epoll(7) return a readability event ... To ensure that accept() never blocks, the passed "
            "socket sockfd needs to have the O_NONBLOCK flag set."),
        applies=_waits,
        applies_text="readiness loops (select, poll, epoll, signal)",
        plan="wait.spurious:every=2,fd=listen",
        hit=Hit(("wait.spurious",), "the wait call, reporting the idle listener ready"),
        script=s.spurious_listener_no_block,
        oracle="10 requests of a connected client answered while the listener is reported ready with no "
               "connection waiting",
        accepted="a non-blocking listener: EAGAIN from accept() goes back to the loop",
        teaching=Teaching(
            bug="a blocking listener inside a readiness loop.",
            symptom="the whole loop hangs in accept() until the next client arrives.",
            fix="make the listener O_NONBLOCK and treat EAGAIN from accept() as 'nothing now'."),
    ),
    Case(
        id="accept.nonblock-set-explicitly",
        summary="a readiness loop makes each accepted socket non-blocking itself",
        requirement=Requirement(
            "accept(2) NOTES",
            "On Linux, the new socket returned by accept() does not inherit file status flags such as "
            "O_NONBLOCK and O_ASYNC from the listening socket."),
        applies=_waits,
        applies_text="readiness loops (select, poll, epoll, signal)",
        plan="wait.spurious:every=2,fd=conn",
        hit=Hit(("wait.spurious",), "the wait call, reporting an idle connection ready"),
        script=s.accepted_nonblocking,
        oracle="a busy client is served while an idle connection is reported ready; and in the trace every "
               "accepted fd read by a thread that waits for readiness is O_NONBLOCK before that read (a worker "
               "thread or forked child reading blocking is correct); a blocking read after a readiness report "
               "hangs only under a spurious report, so that alone is a WARN",
        accepted="accept4(..., SOCK_NONBLOCK) or fcntl(F_SETFL, O_NONBLOCK) or ioctl(FIONBIO)",
        teaching=Teaching(
            bug="flags assumed inherited from the listener (a BSD habit).",
            symptom="one spurious readiness report or short read blocks the whole loop on one client.",
            fix="accept4(fd, ..., SOCK_NONBLOCK), or set O_NONBLOCK right after accept()."),
    ),
    Case(
        id="spurious.readiness.tolerated",
        summary="a readiness report for a connection that then yields EAGAIN is harmless",
        requirement=Requirement(
            "select(2) BUGS",
            "Under Linux, select() may report a socket file descriptor as \"ready for reading\", while "
            "nevertheless a subsequent read blocks."),
        applies=_waits,
        applies_text="readiness loops (select, poll, epoll, signal)",
        plan="wait.spurious:every=2,fd=conn",
        hit=Hit(("wait.spurious",), "the wait call, reporting an idle connection ready"),
        script=s.spurious_conn_tolerated,
        oracle="20 requests of a busy client answered while an idle connection is reported ready; the idle "
               "client is served after",
        accepted="non-blocking recv() -> EAGAIN -> back to waiting, state unchanged",
        teaching=Teaching(
            bug="blocking connection sockets in a readiness loop, or EAGAIN after readiness treated as an "
                "error or as end-of-file.",
            symptom="every client stalls behind one connection that was reported ready for nothing.",
            fix="non-blocking sockets; readiness is a hint, EAGAIN the truth."),
    ),
    Case(
        id="sigpipe.ignored",
        summary="writing to a connection the peer shut down does not kill the server",
        requirement=Requirement(
            "send(2) ERRORS",
            "EPIPE The local end has been shut down on a connection oriented socket. In this case, the "
            "process will also receive a SIGPIPE unless MSG_NOSIGNAL is set."),
        applies=_all,
        applies_text="every model",
        plan="send.epipe:conn=1",
        hit=Hit(("send.epipe",), "a send() on connection 1 after the shim shut it down, failing with EPIPE"),
        script=s.sigpipe_ignored,
        oracle="the server's first send() to connection 1 gets EPIPE with a real SIGPIPE; the server lives "
               "and serves client 2",
        accepted="SIGPIPE ignored or blocked, or MSG_NOSIGNAL on every send (write/writev cannot pass it)",
        needs_fault=True,
        teaching=Teaching(
            bug="the default SIGPIPE disposition left in place.",
            symptom="the server dies (signal 13) the moment a client disappears while a reply is being written.",
            fix="signal(SIGPIPE, SIG_IGN) at start-up (or MSG_NOSIGNAL), then handle EPIPE like any error."),
    ),
    Case(
        id="send.epipe.closes",
        summary="EPIPE from send() ends that connection: closed, no retry loop",
        requirement=Requirement(
            "send(2) ERRORS",
            "EPIPE The local end has been shut down on a connection oriented socket."),
        applies=_all,
        applies_text="every model",
        plan="send.epipe:conn=1",
        hit=Hit(("send.epipe",), "a send() on connection 1 after the shim shut it down, failing with EPIPE"),
        script=s.epipe_closes,
        oracle="after send() fails with EPIPE on connection 1: client 2 served, the fd count back at "
               "baseline, the idle server under 5% of a core",
        accepted="discard the output queue, close the fd, free the state",
        needs_fault=True,
        teaching=Teaching(
            bug="EPIPE treated like EAGAIN: write interest stays armed, or the send is retried forever.",
            symptom="a spinning core and a leaked fd per client that vanished mid-reply.",
            fix="EPIPE/ECONNRESET from send() mean the connection is over: close it."),
    ),
    Case(
        id="peer.half-close.no-spin",
        summary="after the client's FIN the server answers what it got, then finishes, without spinning",
        requirement=Requirement(
            "epoll_ctl(2) EPOLLRDHUP; recv(2) RETURN VALUE",
            "EPOLLRDHUP Stream socket peer closed connection, or shut down writing half of connection."),
        applies=_all,
        applies_text="every model",
        plan="",
        script=s.half_close_answered,
        oracle="a client sends 2 requests and shutdown(SHUT_WR): it reads both replies then EOF; the "
               "server goes idle and its fd count returns to baseline",
        accepted="flush the owed replies then close (closing without them is a protocol choice to document)",
        teaching=Teaching(
            bug="EOF never consumed on a level-triggered loop, or the fd kept after it.",
            symptom="100% CPU and sockets in CLOSE_WAIT after clients that half-close (e.g. `nc -N`).",
            fix="on recv() = 0: stop reading, flush what is owed, close."),
    ),
    Case(
        id="peer.early-eof.mid-frame.cleans-up",
        summary="EOF in the middle of a request is handled like any EOF",
        requirement=Requirement(
            "recv(2) RETURN VALUE",
            "When a stream socket peer has performed an orderly shutdown, the return value will be 0."),
        applies=_all,
        applies_text="every model",
        plan="",
        script=s.early_eof_cleans_up,
        oracle="half a request then FIN: the replies owed for those bytes, then EOF; fd count back at baseline",
        accepted="answer the bytes received, drop the incomplete request, close",
        teaching=Teaching(
            bug="the parser waits for the end of the request forever, or asserts on incomplete input.",
            symptom="descriptors leak (or the server crashes) when clients disconnect mid-message.",
            fix="EOF ends the connection whatever state the parser is in."),
    ),
    Case(
        id="fd.no-leak-after-close",
        summary="every connection's fd is released on every exit path",
        requirement=Requirement(
            "epoll(7) Q&A; accept(2) EMFILE",
            "Will closing a file descriptor cause it to be removed from all epoll interest lists? Yes, but "
            "... only when all file descriptors referring to the open file description are closed."),
        applies=_all,
        applies_text="every model",
        plan="recv.reset:conn=3;recv.eof:conn=5;send.epipe:conn=7;accept.econnaborted:count=1,after=8",
        hit=Hit(("recv.reset", "recv.eof", "send.epipe", "accept.econnaborted"),
                "an error path: a reset, an EOF, an EPIPE or an aborted accept"),
        script=s.mixed_endings_no_leak,
        oracle="12 connections ended by reset, EOF, EPIPE, an aborted accept and orderly close: the fd "
               "count returns to baseline",
        accepted="close at once or after flushing; any order",
        needs_fault=True,
        teaching=Teaching(
            bug="an error path that returns without close(), or shutdown() without close().",
            symptom="the fd count climbs with every failed connection until accept() says EMFILE.",
            fix="one close path per connection, reached from every ending (EOF, error, EPIPE, reset)."),
    ),
    Case(
        id="fd.reuse.fresh-state",
        summary="when a closed fd number is reused, no state leaks into the new connection",
        requirement=Requirement(
            "epoll(7) Possible pitfalls and ways to avoid them",
            "If using an event cache ... the file descriptor may be closed and then reused."),
        applies=_all,
        applies_text="every model (visible with protocols that keep state, seq)",
        plan="",
        script=s.fd_reuse_fresh_state,
        oracle="client A opens a request and resets; client B (same fd number) sends bytes outside any "
               "request and gets no reply for them, then its own reply",
        accepted="reset per-connection state at accept or close",
        teaching=Teaching(
            bug="per-connection state in an array indexed by fd, not cleared when the fd is closed.",
            symptom="a new client inherits a half-finished request of a client that left.",
            fix="create the connection's state at accept and destroy it at close."),
    ),
    Case(
        id="slowloris.other-clients-served",
        summary="clients that stall mid-request do not stop service for others",
        requirement=Requirement(
            "CVE-2007-6750 (Slowloris)",
            "Partial requests held open keep a server's workers busy."),
        applies=lambda p: p.concurrent and not p.bounded,
        applies_text="concurrent models without a fixed worker count (iterative and pool models: a known "
                     "limitation, N/A)",
        plan="",
        script=s.slowloris_others_served,
        oracle="8 clients start a request and never finish it; a normal client's 5 replies each come "
               "while they stall (within the reply timeout, stretched on a loaded machine)",
        accepted="normal latency for others; optional timeouts for the slow clients",
        teaching=Teaching(
            bug="a read loop that blocks until a whole request arrived, in a single-threaded server.",
            symptom="a handful of slow clients take the server down for everybody.",
            fix="never wait for a whole request: keep partial state and go back to the loop."),
    ),
    Case(
        id="big.message.no-overflow",
        summary="messages larger than any internal buffer are handled exactly",
        requirement=Requirement(
            "recv(2) DESCRIPTION",
            "The receive calls ... return any data available, up to the requested amount."),
        applies=_all,
        applies_text="every model",
        plan="recv.partial:max=4093",
        hit=Hit(("recv.partial",), "a recv() of the 8 MiB request, cut to 4093 bytes"),
        script=s.big_message,
        oracle="an 8 MiB request read 4093 bytes at a time comes back exact; the server lives",
        accepted="growing buffers or back-pressure",
        teaching=Teaching(
            bug="recv(fd, buf + used, sizeof buf, 0): the length not reduced by what is already there.",
            symptom="memory corruption or a crash on the first large message.",
            fix="recv(fd, buf + used, sizeof buf - used, 0), and grow or flush before the buffer is full."),
    ),
    Case(
        id="idle.no-spin",
        summary="with connections open and no traffic the server sleeps",
        requirement=Requirement(
            "epoll_wait(2) DESCRIPTION",
            "The call waits for events ... The timeout argument specifies the number of milliseconds that "
            "epoll_wait() will block."),
        applies=lambda p: p.readiness != "busy",
        applies_text="every model (busy poll spins by design: N/A)",
        plan="",
        script=s.idle_no_spin,
        oracle="10 idle connections: the server uses under 5% of a core",
        accepted="timers at a low rate",
        teaching=Teaching(
            bug="a zero timeout in the wait call, write interest always armed, a busy retry loop.",
            symptom="an idle server burns a core.",
            fix="block in the wait call; wake only for events or due timers."),
    ),
    Case(
        id="aio.partial.resubmits",
        summary="a completed aio_read/aio_write with fewer bytes than asked is handled like a short recv/send",
        requirement=Requirement(
            "aio_return(3) RETURN VALUE",
            "If the asynchronous I/O operation has completed, this function returns the value that would "
            "have been returned in case of a synchronous read(2), write(2), fsync(2), or fdatasync(2) call."),
        applies=lambda p: p.readiness == "aio",
        applies_text="POSIX AIO models",
        plan="aio.partial:max=5,op=recv;aio.partial:max=3,op=send",
        hit=Hit(("aio.partial",), "an aio_read() or aio_write(), cut short"),
        script=s.async_partial,
        oracle="a 64 KiB request, reads of at most 5 and writes of at most 3 bytes: the reply is exact",
        accepted="submit the next read; resubmit the rest of a write at the offset",
        needs_fault=True,
        teaching=Teaching(
            bug="aio_return is assumed equal to aio_nbytes.",
            symptom="replies lose their tail, or the short count is treated as an error.",
            fix="treat aio_return like send()'s count: advance the offset and resubmit the rest."),
    ),
    Case(
        id="aio.error.closes",
        summary="an AIO read that completes with 0 or ECONNRESET ends that connection only",
        requirement=Requirement(
            "aio_error(3) RETURN VALUE",
            "A positive error number, if the asynchronous I/O operation failed. This is the same value that "
            "would have been stored in the errno variable in the case of a synchronous read(2), write(2), "
            "fsync(2), or fdatasync(2) call."),
        applies=lambda p: p.readiness == "aio",
        applies_text="POSIX AIO models",
        plan="aio.eof:op=recv,conn=1,after=1;aio.reset:op=recv,conn=2,after=1",
        tls_na="its plan ends connections 1 and 2 at their 2nd read, which under TLS is inside the handshake "
               "(a record's header, then its body), while its script expects each first reply before that end",
        hit=Hit(("aio.eof", "aio.reset"), "an aio_read() of connection 1 or 2, ended by EOF or a reset"),
        script=s.async_errors_close,
        oracle="connection 1's 2nd read completes with 0, connection 2's with ECONNRESET: both closed, "
               "client 3 served, fd count back at baseline",
        accepted="cancel or finish the connection's other requests before freeing its buffers, then close",
        needs_fault=True,
        teaching=Teaching(
            bug="0 treated as 'retry' (a resubmit loop), or a buffer freed under an in-flight request.",
            symptom="a spinning server or a use-after-free when a client disconnects.",
            fix="0 or an error: stop submitting for that connection, wait for its requests, close."),
    ),
    Case(
        id="uring.short-recv.resubmits",
        summary="a recv CQE with 0 < res < len is a normal partial read",
        requirement=Requirement(
            "io_uring_prep_recv(3) DESCRIPTION",
            "This function prepares an async recv(2) request. See that man page for details."),
        applies=lambda p: p.readiness == "io_uring",
        applies_text="io_uring models",
        plan="uring.partial:max=1,op=recv",
        hit=Hit(("uring.partial",), "a recv SQE, cut to 1 byte"),
        script=s.async_partial,
        oracle="a 64 KiB request read 1 byte per recv SQE: the reply is exact",
        accepted="process res bytes and submit the next recv",
        needs_fault=True,
        teaching=Teaching(
            bug="the whole buffer is used regardless of res, or offsets advance by the requested length.",
            symptom="garbage or missing bytes whenever the network delivers less than a buffer.",
            fix="use exactly cqe->res bytes, then submit the next recv."),
    ),
    Case(
        id="uring.short-send.resubmits",
        summary="a send CQE with 0 < res < len requires sending the remainder",
        requirement=Requirement(
            "io_uring_prep_send(3) DESCRIPTION",
            "Note that using IOSQE_IO_LINK with this request type requires the setting of MSG_WAITALL in "
            "the flags argument, as a short send isn't a considered an error condition without that being set."),
        applies=lambda p: p.readiness == "io_uring",
        applies_text="io_uring models",
        plan="uring.partial:max=7,op=send",
        hit=Hit(("uring.partial",), "a send SQE, cut to 7 bytes"),
        script=s.async_partial,
        oracle="a 64 KiB reply sent 7 bytes per send SQE comes back exact",
        accepted="submit buf+res, len-res before any later send of that connection",
        needs_fault=True,
        teaching=Teaching(
            bug="the remainder of a short send is never sent, or a second send races the first.",
            symptom="truncated or interleaved replies under load.",
            fix="one send in flight per connection; on a short completion resubmit the rest."),
    ),
    Case(
        id="uring.cqe-error.closes-only-that",
        summary="recv CQEs with 0 or -ECONNRESET end that connection only",
        requirement=Requirement(
            "io_uring_enter(2) CQE ERRORS",
            "res ... will contain the result of the operation (the same as the return value of the "
            "corresponding system call, or the negated errno)."),
        applies=lambda p: p.readiness == "io_uring",
        applies_text="io_uring models",
        plan="uring.eof:op=recv,conn=1,after=1;uring.reset:op=recv,conn=2,after=1",
        tls_na="its plan ends connections 1 and 2 at their 2nd read, which under TLS is inside the handshake "
               "(a record's header, then its body), while its script expects each first reply before that end",
        hit=Hit(("uring.eof", "uring.reset"), "a recv SQE of connection 1 or 2, ended by EOF or a reset"),
        script=s.async_errors_close,
        oracle="connection 1's 2nd recv completes with 0, connection 2's with -ECONNRESET: both closed, "
               "client 3 served, fd count back at baseline",
        accepted="cancel the connection's other requests, wait for their CQEs, close",
        needs_fault=True,
        teaching=Teaching(
            bug="any negative res aborts the whole ring loop; buffers freed while a request still owns them.",
            symptom="one client's reset takes down the server, or corrupts another connection's buffer.",
            fix="per-connection handling of res <= 0, and buffers kept until their last CQE."),
    ),
    Case(
        id="sigio.queue-overflow.falls-back",
        summary="when the real-time signal queue overflows the server rescans its fds",
        requirement=Requirement(
            "fcntl(2) F_SETSIG",
            "If a nonzero value is given to F_SETSIG in a multithreaded process ... the kernel reverts to "
            "delivering SIGIO when the real-time signal queue limit is reached."),
        applies=lambda p: p.readiness == "signal",
        applies_text="signal-driven models",
        plan="",
        script=s.sigio_overflow,
        oracle="with RLIMIT_SIGPENDING 8, after one client was served, 100 clients connect and send while "
               "the server is stopped (the real-time queue overflows for sure): every one is served",
        accepted="on SIGIO drain the pending real-time signals and poll every fd, then resume",
        teaching=Teaching(
            bug="only the real-time signal is handled: SIGIO's default action kills the process, or the "
                "events of the overflow are lost.",
            symptom="under a burst the server dies or some clients hang forever.",
            fix="handle SIGIO too: treat it as 'events were lost' and scan every fd."),
        limits={"sigpending": 8},
    ),
]
