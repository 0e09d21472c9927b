"""Client scripts and oracles of the cases in cases.py. Each takes the case
context and raises CaseFailed when the server reacts in a way no correct
server may; returning normally means this script saw nothing wrong (the
runner then also checks that the server is still alive). Scripts work for
both wire protocols: expected replies come from the client's protocol model."""
import random

from iogate.client import exchange
from iogate.verdicts import CaseFailed


def eagain_keeps_connection(ctx):
    c = ctx.client()
    c.greet()
    for i in range(10):
        c.ask(b"^ab", f"round {i + 1}: the reply to '^ab'")
        c.ask(b"c$", f"round {i + 1}: the reply to 'c$' (the frame opened before must still be open)")


def partial_state_preserved(ctx):
    c = ctx.client()
    c.greet()
    c.ask(b"x^abc$y^z$", "the reply to 'x^abc$y^z$' read one byte per recv()")
    rng = random.Random(ctx.seed)
    data = bytes(rng.choice(b"^$abcxyz") for _ in range(300)) + b"$"
    c.ask(data, "the reply to 300 seeded random frame bytes")


def send_partial_resumes(ctx):
    rng = random.Random(ctx.seed)
    c = ctx.client()
    c.greet()
    payload = ctx.payload(rng, 256 * 1024)
    exchange([c], [payload], [c.model.reply(payload)], kind="bulk")


def recv_zero_closes(ctx):
    for i in range(5):
        c = ctx.client(f"client {i + 1}")
        c.greet()
        c.ask(b"^a$")
        c.close()  # orderly shutdown: the server's recv() returns 0
    ctx.wait_fds_back("after 5 clients closed their connections")


def et_drains(ctx):
    rng = random.Random(ctx.seed)
    clients = [ctx.client(f"client {i + 1}") for i in range(50)]
    for c in clients:
        c.greet()
    payloads = [ctx.payload(rng, 10 * 1024) for _ in clients]
    exchange(clients, payloads, [c.model.reply(p) for c, p in zip(clients, payloads)], kind="reply")
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
        elif call == "epoll_wait":
            for (ptid, pfd), what in list(pending.items()):
                if ptid == tid:
                    problems.append(f"fd {pfd}: {what}, then epoll_wait")
                    del pending[(ptid, pfd)]
            for efd, ev in r.get("events", []):
                if efd in et_fds and any(bit in ev for bit in ("EPOLLIN", "EPOLLHUP", "EPOLLERR")):
                    pending[(tid, efd)] = "no recv() at all after the event"
        elif call in ("recv", "read", "recvfrom") and (tid, fd) in pending:
            ret = r.get("ret", -1)
            if ret > 0 and ret == r.get("req"):
                pending[(tid, fd)] = f"the last recv() returned all {ret} bytes asked for"
            else:
                del pending[(tid, fd)]
    return problems


def peer_reset_others_served(ctx):
    c1 = ctx.client("client 1")
    c1.greet()
    c1.ask(b"^a", "client 1: the reply to '^a'")
    c2 = ctx.client("client 2")
    c3 = ctx.client("client 3")
    c2.send(b"^x")
    c2.reset()  # a real RST, mid-frame
    c1.ask(b"b$^c$", "client 1: the reply to 'b$^c$' after client 2 reset")
    c1.close()  # an iterative server moves on to the queued clients now
    c3.greet()
    c3.ask(b"^k", "client 3: the reply to '^k' after client 2 reset")
    c3.ask(b"m$", "client 3: the reply to 'm$'")


def recv_error_closes(ctx):
    c1 = ctx.client("client 1")
    c1.greet()
    # The shim resets connection 1 at its 2nd recv(): in the same drain as
    # the first read (edge-triggered), when blocking for the next bytes
    # (iterative), or when the next bytes arrive (level-triggered). The
    # reply to '^a$' may or may not get out first; the connection must end.
    try:
        c1.sock.sendall(b"^a$")  # a server that reads eagerly is reset before these bytes arrive
    except OSError:
        pass
    if c1.reply_or_end(b"b", "client 1: the reply to '^a$' or the end of the connection") == "reply":
        try:
            c1.sock.sendall(b"^c$")  # may already fail: the reset can have happened
        except OSError:
            pass
        c1.expect_end("client 1: the end of the connection the shim reset")
    c2 = ctx.client("client 2")
    c2.greet()
    c2.ask(b"^a$", "client 2: the reply to '^a$' after connection 1 was reset")
    c2.close()
    ctx.wait_fds_back("after the reset connection and client 2 ended")
