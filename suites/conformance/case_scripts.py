"""Client scripts and oracles of the cases in cases.py. Each takes the case
context and raises CaseFailed when the server reacts in a way no correct
server may; returning normally means this script saw nothing wrong (the
runner then also checks that the server is still alive). Scripts speak
through the protocol adapter (iogate.protocols): requests come from
ctx.request(), every reply byte is judged by the client's model."""
import random

from iogate.client import exchange
from iogate.verdicts import CaseFailed


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
    undrained = undrained_reads(ctx.trace())
    if undrained:
        raise CaseFailed("after an edge-triggered EPOLLIN event the server waited again without draining: "
                         + "; ".join(undrained[:3]))


def undrained_reads(records):
    """Trace predicate (edge-triggered registrations only): after epoll_wait
    reports fd readable, the recv() calls on fd before that thread's next
    epoll_wait must end with EAGAIN, a short count, 0 or an error."""
    et_fds = set()
    pending = {}  # (tid, fd) -> what the last read on it was
    problems = []
    for r in records:
        call, tid, fd = r.get("call"), r.get("tid"), r.get("fd")
        if call == "epoll_ctl" and r.get("op") in ("ADD", "MOD") and r.get("conn"):  # connections, not listeners
            (et_fds.add if "EPOLLET" in r.get("flags", "").split("|") else et_fds.discard)(fd)
        elif call == "close":
            et_fds.discard(fd)
            for key in [k for k in pending if k[1] == fd]:
                del pending[key]
        elif call in ("epoll_wait", "epoll_pwait", "epoll_pwait2"):
            for (ptid, pfd), what in list(pending.items()):
                if ptid == tid:
                    problems.append(f"fd {pfd}: {what}, then {call}")
                    del pending[(ptid, pfd)]
            for efd, ev in r.get("events", []):
                if efd in et_fds and any(bit in ev for bit in ("EPOLLIN", "EPOLLHUP", "EPOLLERR")):
                    pending[(tid, efd)] = "no recv() at all after the event"
        elif call in ("recv", "read", "recvfrom", "recvmsg", "readv") and (tid, fd) in pending:
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
    c1 = ctx.client("client 1")
    c1.greet()
    # The shim resets connection 1 at its 2nd recv(): in the same drain as
    # the first read (edge-triggered), when blocking for the next bytes
    # (iterative), or when the next bytes arrive (level-triggered). The
    # reply to the first request may or may not get out first; the
    # connection must end.
    c1.send_maybe(ctx.request(rng, 4))  # a server that reads eagerly is reset before these bytes arrive
    if c1.reply_or_end("client 1: the reply to its first request or the end of the connection") == "reply":
        c1.send_maybe(ctx.request(rng, 4))
        c1.expect_end("client 1: the end of the connection the shim reset")
    c2 = ctx.client("client 2")
    c2.greet()
    c2.ask(ctx.request(rng, 4), "client 2: the reply to its request after connection 1 was reset")
    c2.close()
    ctx.wait_fds_back("after the reset connection and client 2 ended")
