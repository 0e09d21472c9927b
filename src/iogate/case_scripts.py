"""Client scripts and oracles of the cases in cases.py. Each takes the case
context and raises CaseFailed when the server reacts in a way no correct
server may; returning normally means this script saw nothing wrong (the
runner then also checks that the server is still alive). Scripts speak
through the protocol adapter (iogate.protocols): requests come from
ctx.request(), every reply byte is judged by the client's model."""
import random
import select
import time

from . import procfs, tables
from .client import exchange
from .crowd import Crowd
from .verdicts import CaseFailed, Fragile, NotApplicable


def halves(req: bytes):
    cut = max(1, len(req) // 2)
    return req[:cut], req[cut:]


def eagain_keeps_connection(ctx):
    rng = random.Random(ctx.seed)
    c = ctx.client()
    c.greet()
    for i in range(10):
        first, rest = halves(ctx.request(rng, 8))
        c.ask(first, f"round {i + 1}: the reply to the first half of a request")
        c.ask(rest, f"round {i + 1}: the reply to the second half (the state of the first must still be there)")


def partial_state_preserved(ctx):
    rng = random.Random(ctx.seed)
    c = ctx.client()
    c.greet()
    c.ask(b"".join(ctx.request(rng, 6) for _ in range(3)), "the reply to 3 requests in one write, read 1 byte per recv()")
    c.ask(b"".join(ctx.request(rng, rng.randrange(3, 40)) for _ in range(10)), "the reply to 10 seeded random requests")


def send_partial_resumes(ctx):
    rng = random.Random(ctx.seed)
    c = ctx.client()
    c.greet()
    exchange([c], [ctx.request(rng, 256 * 1024)], kind="bulk")


def recv_zero_closes(ctx):
    rng = random.Random(ctx.seed)
    for i in range(5):
        c = ctx.client(f"client {i + 1}")
        c.greet()
        c.ask(ctx.request(rng, 4))
        c.close()  # orderly shutdown: the server's recv() returns 0
    ctx.wait_fds_back("after 5 clients closed their connections")


def et_drains(ctx):
    rng = random.Random(ctx.seed)
    clients = [ctx.client(f"client {i + 1}") for i in range(50)]
    for c in clients:
        c.greet()
    exchange(clients, [ctx.request(rng, 10 * 1024) for _ in clients], kind="reply")
    records = ctx.trace()
    elsewhere = read_elsewhere(records)
    if elsewhere:
        raise NotApplicable("the server reads connections on other threads than the one whose epoll wait reported "
                            f"them ({elsewhere}): its waits are not its reads' (a runtime scheduler such as Go's "
                            "netpoller), so the trace cannot tell whether a read waited for an edge before EAGAIN")
    undrained = undrained_reads(records)
    if undrained:
        raise CaseFailed("after an edge-triggered EPOLLIN event the server waited again without draining: "
                         + "; ".join(undrained[:3]))


def read_elsewhere(records):
    """The first read of a connection made by another thread than the one
    whose epoll wait last reported it, as "fd F: reported to thread A, read
    by thread B", or "" when every read follows its own thread's event (the
    premise of undrained_reads)."""
    reads = tables.class_calls()["recv"]
    last = {}  # (pid, fd) -> tid of the last epoll event reporting it (each process numbers its own fds)
    for r in records:
        call, tid, key = r.get("call"), r.get("tid"), (r.get("pid"), r.get("fd"))
        if tables.wait_mechanism().get(call) == "epoll":
            for efd, _ in r.get("events", []):
                last[(r.get("pid"), efd)] = tid
        elif call in reads and r.get("conn") and key in last and last[key] != tid:
            return f"fd {key[1]}: reported to thread {last[key]}, read by thread {tid}"
        elif call == "close":
            last.pop(key, None)
    return ""


def undrained_reads(records):
    """Trace predicate (edge-triggered registrations only): after epoll_wait
    reports fd readable, the recv() calls on fd before that thread's next
    epoll_wait must end with EAGAIN, a short count, 0 or an error."""
    et_fds = set()
    pending = {}  # (tid, fd) -> what the last read on it was
    problems = []
    reads = tables.class_calls()["recv"]
    for r in records:
        call, tid, fd = r.get("call"), r.get("tid"), r.get("fd")
        if call == "epoll_ctl" and r.get("op") in ("ADD", "MOD") and r.get("conn"):  # connections, not listeners
            (et_fds.add if "EPOLLET" in r.get("flags", "").split("|") else et_fds.discard)(fd)
        elif call == "close":
            et_fds.discard(fd)
            for key in [k for k in pending if k[1] == fd]:
                del pending[key]
        elif tables.wait_mechanism().get(call) == "epoll":
            for (ptid, pfd), what in list(pending.items()):
                if ptid == tid:
                    problems.append(f"fd {pfd}: {what}, then {call}")
                    del pending[(ptid, pfd)]
            for efd, ev in r.get("events", []):
                if efd in et_fds and any(bit in ev for bit in ("EPOLLIN", "EPOLLHUP", "EPOLLERR")):
                    pending[(tid, efd)] = "no recv() at all after the event"
        elif call in reads and (tid, fd) in pending:
            ret = r.get("ret", -1)
            if ret > 0 and ret == r.get("req"):
                pending[(tid, fd)] = f"the last recv() returned all {ret} bytes asked for"
            else:
                del pending[(tid, fd)]
    return problems


def peer_reset_others_served(ctx):
    rng = random.Random(ctx.seed)
    c1 = ctx.client("client 1")
    c1.greet()
    a1, b1 = halves(ctx.request(rng, 8))
    c1.ask(a1, "client 1: the reply to the first half of its request")
    c2 = ctx.client("client 2")
    c3 = ctx.client("client 3")
    c2.send_maybe(halves(ctx.request(rng, 8))[0])
    c2.reset()  # a real RST, mid-request
    c1.ask(b1 + ctx.request(rng, 6), "client 1: the rest of its replies after client 2 reset")
    c1.close()  # an iterative server moves on to the queued clients now
    c3.greet()
    a3, b3 = halves(ctx.request(rng, 8))
    c3.ask(a3, "client 3: the reply to the first half of its request after client 2 reset")
    c3.ask(b3, "client 3: the reply to the second half")


def recv_error_closes(ctx):
    rng = random.Random(ctx.seed)
    # The shim resets connection 1 at its 2nd recv(): in the same drain as
    # the first read (edge-triggered), when blocking for the next bytes
    # (iterative), or when the next bytes arrive (level-triggered). The
    # reply to the first request may or may not get out first; the
    # connection must end. A server that calls recv() without waiting (busy
    # poll) makes its 2nd recv() right after accept(): on a loaded machine
    # the RST can come before the client's connect() has returned, which is
    # that same end.
    c1 = ctx.client("client 1", may_be_reset=True)
    if c1 is not None and ctx.tls:
        # Under TLS the 2nd recv() of connection 1 is inside the handshake (OpenSSL reads a record's
        # header, then its body): the reset may come before the greeting, and before any reply.
        if ctx.greeting() and c1.reply_or_end("client 1: the greeting, or the end of the connection the shim "
                                              "reset during the TLS handshake") != "reply":
            c1 = None
    elif c1 is not None:
        c1.greet()
    if c1 is not None:
        c1.send_maybe(ctx.request(rng, 4))  # a server that reads eagerly is reset before these bytes arrive
        if c1.reply_or_end("client 1: the reply to its first request or the end of the connection") == "reply":
            c1.send_maybe(ctx.request(rng, 4))
            c1.expect_end("client 1: the end of the connection the shim reset")
    c2 = ctx.client("client 2")
    c2.greet()
    c2.ask(ctx.request(rng, 4), "client 2: the reply to its request after connection 1 was reset")
    c2.close()
    ctx.wait_fds_back("after the reset connection and client 2 ended")


# -- more receive-path cases ----------------------------------------------------

def coalesced_all_processed(ctx):
    rng = random.Random(ctx.seed)
    c = ctx.client()
    c.greet()
    c.ask(b"".join(ctx.request(rng, 4) for _ in range(3)), "the replies to 3 requests sent in one write")
    c.ask(b"".join(ctx.request(rng, rng.randrange(4, 60)) for _ in range(50)),
          "the replies to 50 requests sent in one write")
    c.one_connection("requests coalesced in one write are judged on one connection")


def eintr_retried(ctx):
    rng = random.Random(ctx.seed)
    for i in range(4):
        c = ctx.client(f"client {i + 1}")
        c.greet()
        for k in range(3):
            c.ask(ctx.request(rng, 8), f"client {i + 1}: reply {k + 1} (an EINTR must be retried, not fatal)")
        c.close()
    # No EINTR injected (the server catches no signal, V5): the judge makes the cell N/A (Case.hit).


def wait_eintr_continues(ctx):
    rng = random.Random(ctx.seed)
    for i in range(5):
        c = ctx.client(f"client {i + 1}")
        c.greet()
        c.ask(ctx.request(rng, 8), f"client {i + 1}: the reply after its wait calls were interrupted")
        c.close()
    # No wait call interrupted (no caught signal, V5, or a wait the shim does not see): N/A by the judge.


# -- edge-triggered and one-shot ------------------------------------------------

def et_accept_loops(ctx):
    rng = random.Random(ctx.seed)
    with ctx.paused():  # the burst queues up in the backlog: one edge for all 64
        clients = [ctx.client(f"client {i + 1}") for i in range(64)]
    exchange(clients, [ctx.request(rng, 6) for _ in clients], kind="reply")


def oneshot_rearmed(ctx):
    rng = random.Random(ctx.seed)
    c = ctx.client()
    c.greet()
    for i in range(20):
        first, rest = halves(ctx.request(rng, 10))
        c.ask(first, f"step {i + 1}: the reply to the first half (the fd must have been re-armed)")
        c.ask(rest, f"step {i + 1}: the reply to the second half")
    c.one_connection("re-arming is judged on one connection")


# -- send path ----------------------------------------------------------------------

def send_eagain_arms_writability(ctx):
    rng = random.Random(ctx.seed)
    c = ctx.client()
    c.greet()
    exchange([c], [ctx.request(rng, 256 * 1024)], kind="bulk")
    c.ask(ctx.request(rng, 8), "a small reply after the big one (the queue must not be stuck)")


def slow_reader_bounded(ctx):
    """The client sends without reading: the server must stop taking input
    (back-pressure) or keep its memory bounded, and lose no byte."""
    rng = random.Random(ctx.seed)
    c = ctx.client()
    c.greet()
    start_rss = ctx.server.rss_bytes()
    chunk = ctx.request(rng, 64 * 1024)
    sent, at, stalled_since = 0, 0, None  # at: where in chunk the next send starts (the stream is chunk repeated)
    c.sock.setblocking(False)
    writable = select.poll()  # poll, not select: with many cells at once a client's fd may be >= FD_SETSIZE
    writable.register(c.sock, select.POLLOUT)
    deadline = time.monotonic() + 20
    while sent < 64 * 1024 * 1024 and time.monotonic() < deadline:
        if not writable.poll(200):
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > 0.5:
                break  # the server stopped reading: back-pressure reached the client
            continue
        stalled_since = None
        try:
            n = c.sock.send(chunk[at:])  # after a short send, the rest first: whole requests, never a prefix
        except BlockingIOError:
            continue
        except OSError:
            break  # the server ended the connection: read_owed judges whether it announced it (HTTP) or not
        c.model.sent(chunk[at:at + n])
        sent += n
        at = (at + n) % len(chunk)
    c.sock.setblocking(True)
    grown = ctx.server.rss_bytes() - start_rss
    if grown > 48 * 1024 * 1024:
        raise CaseFailed(f"the client sent {sent >> 20} MiB without reading and the server's memory grew by "
                         f"{grown >> 20} MiB: its output queue is unbounded")
    c.read_owed(f"the {sent >> 20} MiB of replies owed once the client reads again", kind="bulk")


def lt_write_interest_dropped(ctx):
    rng = random.Random(ctx.seed)
    c = ctx.client()
    c.greet()
    c.ask(ctx.request(rng, 4096), "the reply whose first send() hit EAGAIN (write interest armed)")
    ctx.require_idle("with the reply sent and the client idle")


def greeting_once(ctx):  # needs a greeting (the case table): N/A before it runs for an adapter without one
    rng = random.Random(ctx.seed)
    c = ctx.client()
    c.greet()
    c.ask(ctx.request(rng, 6), "the first reply, after exactly one greeting")


def serialized_per_connection(ctx):
    rng = random.Random(ctx.seed)
    clients = [ctx.client(f"client {i + 1}") for i in range(32)]
    for c in clients:
        c.greet()
    probe = clients[0]  # two pipelined requests first: a server that ends every connection after one
    probe.ask(ctx.request(rng, 16) + ctx.request(rng, 16), "client 1: the replies to two pipelined requests")
    probe.one_connection("the order of pipelined requests is judged on one connection")
    exchange(clients, [b"".join(ctx.request(rng, rng.randrange(8, 200)) for _ in range(40)) for _ in clients],
             kind="bulk")
    for c in clients:
        c.one_connection("the order of pipelined requests is judged on one connection")


# -- accept path ---------------------------------------------------------------------

def emfile_no_spin(ctx):
    rng = random.Random(ctx.seed)
    held, queued = [], 0
    # More than the fd limit the server runs with, in each of its processes (apache2's and nginx's
    # children share the clients as the kernel hands them out); the loop ends early once accept()
    # met EMFILE and a few more wait in the queue.
    processes = len(procfs.group_members(ctx.server.proc.pid)) or 1
    for i in range(min(40 * processes, 160)):
        if not ctx.wait_queue_room():
            break  # the queue is full and stays full: the server takes no more (the state the case wants)
        try:
            c = ctx.client(f"held {i + 1}")
        except CaseFailed:
            break
        held.append(c)
        if not ctx.greeting():
            # Half a request: a server with TCP_DEFER_ACCEPT accepts a connection only once data came, and
            # one that closes after each answer (HTTP/1.0) keeps this one open while it waits for the rest.
            c.send_maybe(halves(ctx.request(rng, 32))[0])
        if queued or out_of_fds(ctx.trace()):
            queued += 1  # a few more wait in the queue; beyond a small backlog connect() itself would wait
            if queued > 2:
                break
    ctx.require_alive("once the connections outnumber its descriptors")
    if not ctx.wait_for(lambda: out_of_fds(ctx.trace()), "accept() failing with EMFILE"):
        ctx.not_applicable("the server never ran out of descriptors (no accept() failed with EMFILE/ENFILE): "
                           "it caps its connections below its limit, or its accepts are not traced")
    t0 = time.monotonic()
    ctx.require_idle("while accept() fails with EMFILE and connections wait in the queue", limit=0.2)
    t1 = time.monotonic()
    records = ctx.trace()
    burst = emfile_burst(records)
    if burst > EMFILE_IN_A_ROW:
        raise CaseFailed(f"accept() failed with EMFILE {burst} times in a row in one thread, each within "
                         f"{EMFILE_AT_ONCE_NS // 1_000_000} ms of the one before and no other call between them: "
                         f"the server retries at once instead of backing off")
    failed = [r for r in records if t0 * 1e9 <= r.get("ts", 0) <= t1 * 1e9 and out_of_fds([r])]
    if len(failed) > EMFILE_RETRIES_PER_S * (t1 - t0):
        raise CaseFailed(f"accept() failed with EMFILE {len(failed)} times in {t1 - t0:.1f}s while nothing "
                         f"changed ({len(failed) / (t1 - t0):.0f} per second): the server retries without "
                         f"backing off")
    for c in held:  # all of them: an iterative or pool server serves the queue in order
        c.close()
    # The server closes the held connections at its own pace: the late client
    # comes once every process of the server is below its limit again (bounded).
    ctx.wait_fds_below(ctx.server.limits.get("nofile", 32), "after the held clients left")
    for attempt in (1, 2):  # a server that accepts and closes with a reserved fd may still be catching up
        late = ctx.client("late client" if attempt == 1 else "late client, second try")
        try:
            late.greet()
            late.ask(ctx.request(rng, 6), "the late client's reply once descriptors were freed")
            return
        except CaseFailed as e:
            if attempt == 2 or "closed the connection" not in str(e) and "reset" not in str(e):
                raise


# A server that backs off retries accept() a few times a second at EMFILE
# (the reference servers: every 50 ms); one that retries in a loop, however
# little CPU each retry costs, does it hundreds of times a second.
EMFILE_RETRIES_PER_S = 100
# ... or many times in a row at once: CPython's asyncio retries `backlog`
# (100) times per wake-up, then waits a second, about 100 a second in all,
# right at the rate limit. So the case also counts the failures one thread
# makes in a row, with no other traced call between them and less than
# EMFILE_AT_ONCE_NS after the one before: a server that backs off sleeps
# (untraced) between retries, 50 ms for the reference servers. A loaded
# machine can only stretch those gaps, so it can turn this FAIL into a PASS,
# never the other way.
EMFILE_IN_A_ROW = 10
EMFILE_AT_ONCE_NS = 5_000_000


def emfile_burst(records) -> int:
    """The longest run of accept() calls failing with EMFILE/ENFILE that one
    thread made at once: no other traced call of that thread between them,
    each less than EMFILE_AT_ONCE_NS after the one before."""
    accepts, run, last, longest = tables.class_calls()["accept"], {}, {}, 0
    for r in records:
        if r.get("call") == "plan":
            continue
        key = (r.get("pid"), r.get("tid"))
        if r.get("call") in accepts and r.get("errno") in ("EMFILE", "ENFILE"):
            at_once = key in last and r.get("ts", 0) - last[key] < EMFILE_AT_ONCE_NS
            run[key] = run.get(key, 0) + 1 if at_once else 1
            last[key] = r.get("ts", 0)
            longest = max(longest, run[key])
        else:
            run[key] = 0
            last.pop(key, None)
    return longest


def out_of_fds(records):
    """The trace shows the server's accept() meeting its descriptor limit."""
    accepts = tables.class_calls()["accept"]
    return any(r.get("call") in accepts and r.get("errno") in ("EMFILE", "ENFILE") for r in records)


def econnaborted_continues(ctx):
    rng = random.Random(ctx.seed)
    first = ctx.client("client 1", may_be_reset=True)
    if first:
        if not ctx.greeting():  # a server with TCP_DEFER_ACCEPT (apache2) accepts only once data arrived
            first.send_maybe(ctx.request(rng, 6))
        first.reply_or_end("client 1: its connection, aborted by the shim while queued")
    c = ctx.client("client 2")
    c.greet()
    c.ask(ctx.request(rng, 6), "client 2: the reply after an accept() failed with ECONNABORTED")


def reset_before_accept(ctx):
    rng = random.Random(ctx.seed)
    with ctx.paused():  # the connection is made and reset while it waits in the accept queue
        gone = ctx.client("client 1")
        gone.send_maybe(ctx.request(rng, 6))
        gone.reset()
    c = ctx.client("client 2")
    c.greet()
    c.ask(ctx.request(rng, 6), "client 2: its reply after a queued connection was reset before accept()")
    c.close()
    ctx.wait_fds_back("after a connection reset while queued and client 2 left")


def many_clients(ctx):
    """1,100 clients at once. A server may apply back-pressure: leave clients
    queued, or refuse them (close before answering anything) at a cap; it
    must never crash, corrupt a reply, or drop a client it has started to
    answer, and the clients it queued or refused are served once others
    leave (crowd.py)."""
    import resource
    n = min(1100, ctx.profile.max_clients) if ctx.profile and ctx.profile.max_clients else 1100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < n + 256:
        ctx.not_applicable(f"the harness may open only {hard} descriptors, {n} clients need more")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, n + 256)), hard))
    rng = random.Random(ctx.seed)
    crowd = Crowd(ctx.server, ctx.protocol, [ctx.request(rng, 32) for _ in range(n)])
    crowd.run()


def spurious_listener_no_block(ctx):
    rng = random.Random(ctx.seed)
    c = ctx.client()
    c.greet()
    for i in range(10):
        c.ask(ctx.request(rng, 8), f"request {i + 1} while the listener is reported ready with no connection "
                                   f"waiting (a blocking accept() would hang the loop)")


def accepted_nonblocking(ctx):
    spurious_conn_tolerated(ctx)
    problems = blocking_accepted(ctx.trace())
    if problems:
        # On Linux a TCP socket that one thread reads is reported readable only
        # with data, an EOF or an error queued: a blocking read after a report
        # hangs only under a spurious report, which select(2) BUGS warns of.
        raise Fragile("accepted sockets are read blocking by a thread that waits for readiness (a spurious "
                      "report would hang it): " + "; ".join(problems[:3]))


def blocking_accepted(records):
    """Trace predicate: each accepted fd that a readiness-loop thread (one
    that makes wait calls) reads is O_NONBLOCK (SOCK_NONBLOCK, fcntl F_SETFL
    O_NONBLOCK or ioctl FIONBIO) before that read. A worker thread or a
    forked child that reads its connection blocking, and never waits for
    readiness, is correct. Keys are (pid, fd): a forked child has its own."""
    waiters = {(r.get("pid"), r.get("tid")) for r in records if r.get("call") in tables.class_calls()["wait"]}
    reads, accepts = tables.class_calls()["recv"], tables.class_calls()["accept"]
    state, problems = {}, []
    for r in records:
        call, key = r.get("call"), (r.get("pid"), r.get("fd"))
        if call in accepts and r.get("ret", -1) >= 0:
            state[(r.get("pid"), r["ret"])] = bool(r.get("nonblock"))
        elif call == "fcntl" and r.get("cmd") == "F_SETFL" and key in state:
            state[key] = "O_NONBLOCK" in (r.get("flags") or "")
        elif call == "ioctl" and r.get("cmd") == "FIONBIO" and key in state:
            state[key] = bool(r.get("arg"))
        elif call in reads and key in state:
            if not state.pop(key) and (r.get("pid"), r.get("tid")) in waiters:
                problems.append(f"fd {key[1]} (connection {r.get('conn')}) read while blocking")
    return problems


def spurious_conn_tolerated(ctx):
    rng = random.Random(ctx.seed)
    idle = ctx.client("idle client")
    idle.greet()
    busy = ctx.client("busy client")
    busy.greet()
    for i in range(20):
        busy.ask(ctx.request(rng, 8), f"busy client: request {i + 1} while an idle connection is reported ready")
    idle.ask(ctx.request(rng, 8), "idle client: its reply after the spurious reports")


# -- peers, signals, resources ----------------------------------------------------------

def sigpipe_ignored(ctx):
    rng = random.Random(ctx.seed)
    c1 = ctx.client("client 1", may_be_reset=True)
    if c1:
        if not ctx.greeting():  # the first send to it is the reply, else the greeting
            c1.send_maybe(ctx.request(rng, 6))  # the server's first send to it gets EPIPE (+ SIGPIPE)
        # With a greeting nothing is sent: bytes that reach the shut-down socket before the greeting's
        # send() make the kernel answer RST, and send() then fails with ECONNRESET, without SIGPIPE.
        c1.reply_or_end("client 1: whatever arrives before the shim shut its connection down")
    c2 = ctx.client("client 2")
    c2.greet()
    c2.ask(ctx.request(rng, 6), "client 2: the reply after a send() to client 1 failed with EPIPE")


def epipe_closes(ctx):
    sigpipe_ignored(ctx)
    ctx.close_clients()
    ctx.wait_fds_back("after send() failed with EPIPE on connection 1")
    ctx.require_idle("after send() failed with EPIPE on connection 1")


def half_close_answered(ctx):
    rng = random.Random(ctx.seed)
    c = ctx.client()
    c.greet()
    c.send(ctx.request(rng, 64) + ctx.request(rng, 64))
    c.shutdown_write()  # FIN: the client still reads
    c.read_owed("the replies owed for what was sent before the FIN")
    c.expect_end("the end of the connection after the owed replies")
    ctx.require_idle("after the half-closed connection ended")
    ctx.wait_fds_back("after the half-closed connection ended")


def early_eof_cleans_up(ctx):
    rng = random.Random(ctx.seed)
    c = ctx.client()
    c.greet()
    first, _ = halves(ctx.request(rng, 12))
    c.send(first)
    c.shutdown_write()  # EOF in the middle of a request
    c.read_owed("the replies owed for the bytes before the EOF")
    c.expect_end("the end of the connection after an EOF mid-request")
    ctx.wait_fds_back("after a client ended mid-request")


def mixed_endings_no_leak(ctx):
    rng = random.Random(ctx.seed)
    for i in range(12):
        c = ctx.client(f"client {i + 1}", may_be_reset=True)
        if c is None:
            continue
        c.send_maybe(ctx.request(rng, 6))
        if c.reply_or_end(f"client {i + 1}: its reply or the end the plan gave its connection") == "reply":
            c.send_maybe(ctx.request(rng, 6))
            c.reply_or_end(f"client {i + 1}: its second reply or the end")
        c.close()
    ctx.wait_fds_back("after 12 connections ended by EOF, reset, EPIPE, an aborted accept and orderly close")


def fd_reuse_fresh_state(ctx):
    rng = random.Random(ctx.seed)
    a = ctx.client("client A")
    a.greet()
    a.send(halves(ctx.request(rng, 10))[0])  # mid-request (seq: inside a frame)
    a.read_owed("client A: the reply to the first half of its request")
    a.reset()
    b = ctx.client("client B")  # the kernel hands the server the same fd number
    b.greet()
    if ctx.noise():
        b.send(ctx.noise())  # e.g. seq: bytes outside a frame, owed nothing by a fresh connection
    b.ask(ctx.request(rng, 8), "client B: its first reply (nothing of client A's state may leak into it)")


def slowloris_others_served(ctx):
    rng = random.Random(ctx.seed)
    slow = [ctx.client(f"slow {i + 1}") for i in range(8)]
    for s in slow:
        s.send_maybe(halves(ctx.request(rng, 20))[0][:1])  # a request started and never finished
    normal = ctx.client("normal client")
    normal.greet()
    for i in range(5):  # each reply within the reply timeout: progress, not a wall-clock budget
        normal.ask(ctx.request(rng, 8), f"the normal client's reply {i + 1} while 8 clients stall mid-request")
        for s in slow:
            s.send_maybe(b"x")  # one more byte each, never the end


def big_message(ctx):
    rng = random.Random(ctx.seed)
    c = ctx.client()
    c.greet()
    exchange([c], [ctx.request(rng, 8 * 1024 * 1024)], kind="bulk")


def idle_no_spin(ctx):
    clients = [ctx.client(f"idle {i + 1}") for i in range(10)]
    for c in clients if ctx.serves_all_at_once else clients[:1]:  # the others wait in the queue
        c.greet()
    ctx.require_idle("with 10 idle connections open")


# -- completion-based models ---------------------------------------------------------------

def async_partial(ctx):
    rng = random.Random(ctx.seed)
    c = ctx.client()
    c.greet()
    exchange([c], [ctx.request(rng, 64 * 1024)], kind="bulk")
    # A server whose IO never went through aio_*/io_uring_submit* shortened nothing: the judge
    # finds no fault on the case's call (Case.hit) and the cell is N/A, never a PASS or a FAIL.


def async_errors_close(ctx):
    rng = random.Random(ctx.seed)
    for name in ("client 1", "client 2"):
        c = ctx.client(name)
        c.greet()
        c.ask(ctx.request(rng, 6), f"{name}: its first reply")
        c.send_maybe(ctx.request(rng, 6))
        c.reply_or_end(f"{name}: the end the plan gave its connection")
        c.close()
    c3 = ctx.client("client 3")
    c3.greet()
    c3.ask(ctx.request(rng, 6), "client 3: the reply after connections 1 and 2 ended by EOF and reset")
    c3.close()
    ctx.wait_fds_back("after two connections ended by an injected EOF and reset")


def sigio_overflow(ctx):
    rng = random.Random(ctx.seed)
    # A server may listen (and so look ready) before it arms O_ASYNC on the listener (the reference
    # server does): stopped in between, it queues no signal and the overflow never happens. One client
    # served first means its loop, and the listener's signal, are armed.
    first = ctx.client("client 0")
    first.greet()
    first.ask(ctx.request(rng, 16), "client 0: a reply before the server is stopped")
    with ctx.paused():  # 100 connects and requests while stopped: far more signals than RLIMIT_SIGPENDING
        clients = [ctx.client(f"client {i + 1}") for i in range(100)]
        for c in clients:
            req = ctx.request(rng, 64)
            c.send(req)
    exchange(clients, [b"" for _ in clients], kind="bulk")
