"""Regressions of the harness's own pace on servers written by others: a
small listen backlog (CPython's socketserver: 5) made the crowd's SYNs drop
and each client wait a second of retransmission; a growing trace was parsed
again on every poll; a stalled bulk read waited out its whole budget."""
import os
import socket

import gatehelp
from iogate import sockdiag, trace

CAPPED = os.path.join(os.path.dirname(__file__), "servers", "capped_poll.py")


def test_listen_queue_reads_the_kernels_accept_queue_and_backlog():
    with socket.socket() as lsock:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(3)
        port = lsock.getsockname()[1]
        assert sockdiag.listen_queue(port) == (0, 3)
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
        assert sockdiag.listen_queue(port) == (2, 3)
        assert sockdiag.queue_room(port) == 2  # a listener holds backlog + 1
        lsock.accept()[0].close()
        assert sockdiag.listen_queue(port) == (1, 3)
        for c in clients:
            c.close()
    assert sockdiag.listen_queue(port) is None
    assert sockdiag.queue_room(port) is None


def test_trace_tail_parses_only_what_was_appended_and_keeps_a_partial_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"call":"accept","ret":4}\n{"call":"re')
    tail = trace.Tail(str(path))
    assert [r["call"] for r in tail.read()] == ["accept"]
    with open(path, "ab") as f:
        f.write(b'ad","ret":3}\n{"call":"close"}')
    assert [r["call"] for r in tail.read()] == ["accept", "read"]
    assert [r["call"] for r in tail.read(final=True)] == ["accept", "read", "close"]
    path.write_bytes(b'{"call":"a"}\n{torn\n{"call":"b"}\n')
    assert [r["call"] for r in trace.read(str(path))] == ["a", "b"]


def test_small_backlog_slow_accepting_server_passes_many_clients():
    """1,100 clients against backlog 5 and 2 ms per accept: paced to the
    queue's room the crowd is served in seconds; with 128 SYNs at once it
    ran out of time (N/A) at the pace of SYN retransmission."""
    r = gatehelp.run("gate", "--server-cmd", f"{CAPPED} --port {{port}} --cap 4000 --backlog 5 --slow-accept 0.002",
                     "--protocol", "echo", "--cases", "many.clients.served", "--jobs", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "many.clients.served  PASS" in r.stdout


def test_a_bulk_read_with_no_byte_for_the_reply_timeout_is_a_stall(monkeypatch):
    """read_owed(kind="bulk") gave up only after the bulk budget (30 s):
    no byte for the reply timeout is the stall, as in exchange()."""
    from iogate import client as client_mod, timeouts
    from iogate.verdicts import CaseFailed
    monkeypatch.setitem(timeouts.BASE, "reply", 0.2)
    monkeypatch.setitem(timeouts.BASE, "bulk", 2.0)
    with socket.socket() as lsock:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        c = client_mod.Client(lsock.getsockname()[1], "client 1", "echo")
        c.model.sent(b"owed")
        try:
            c.read_owed("the echo", kind="bulk")
        except CaseFailed as e:
            assert "no byte of the echo came for" in str(e)
        else:
            raise AssertionError("a silent server was not a stall")
        finally:
            c.close()
