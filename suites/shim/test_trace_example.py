"""docs/trace.md's "A real example" is a real trace: the command it names
is run here with the exchange it describes, and every record it shows has
exactly the fields the shim writes today for that call. A new or renamed
field fails this until the example is replaced by a run's records (the
failure prints them)."""
import json
import signal
import socket
import subprocess

import pytest

from iogate import paths, timeouts, trace
from iogate.server import shim_env

DOC = paths.ROOT / "docs" / "trace.md"
SERVER = paths.BIN / "iogate-epoll_et"


def shown_records():
    text = DOC.read_text()
    start = text.index("## A real example")
    body = text[text.index("```\n", start) + 4:]
    return [json.loads(line) for line in body[:body.index("```")].splitlines() if line.startswith("{")]


def example_run(tmp_path):
    """The example's exchange: read the greeting, send `^abc$`, read `bcd`,
    close; then the server is stopped and its trace read."""
    tr = tmp_path / "ex.jsonl"
    env = shim_env("recv.eagain:every=2;seed=1", tr)
    srv = subprocess.Popen([str(SERVER), "--port", "0"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        port = int(srv.stdout.readline().split()[-1])  # "listening on PORT"
        with socket.create_connection(("127.0.0.1", port), timeout=timeouts.timeout("reply")) as c:
            got = b""
            while not got:
                got = c.recv(16)
            c.sendall(b"^abc$")
            reply = b""
            while len(reply) < 3:
                chunk = c.recv(16)
                assert chunk, "the server closed before its reply"
                reply += chunk
            assert reply == b"bcd"
            c.shutdown(socket.SHUT_WR)
            assert c.recv(16) == b""  # the server closed its side (its close record may still be on its way)
        # The server is one thread: once it greets a second client, the first one's records are all written.
        with socket.create_connection(("127.0.0.1", port), timeout=timeouts.timeout("reply")) as c2:
            assert c2.recv(16)
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(timeout=timeouts.timeout("stop"))
        srv.stdout.close()
    recs = trace.read(tr)
    first_close = next(i for i, r in enumerate(recs) if r["call"] == "close")
    return recs[:first_close + 1]  # the example's exchange; the second client is not part of it


@pytest.mark.skipif(not SERVER.exists(), reason="epoll_et is not built")
def test_the_trace_example_has_the_fields_of_a_real_trace(tmp_path):
    real = example_run(tmp_path)
    paste = "docs/trace.md should show:\n" + "\n".join(json.dumps(r, separators=(",", ":")) for r in real)
    fields = {}  # call: the field sets its records have (a faulted record has more)
    for rec in real:
        fields.setdefault(rec["call"], set()).add(frozenset(rec))
    shown = shown_records()
    assert shown, "no records found in docs/trace.md's example"
    for rec in shown:
        assert rec["call"] in fields, (rec["call"], paste)
        assert frozenset(rec) in fields[rec["call"]], (rec["call"], sorted(rec), paste)
    # what the text walks through: the injected EAGAIN (a robustness fault: an EOF was queued), the event the
    # shim owed for it, the orderly close; in the real run as in the example
    for recs in (shown, real):
        faulted = [r for r in recs if r.get("fault")]
        assert [(r["call"], r["fault"], "robust" in r) for r in faulted] == [("recv", "recv.eagain:every=2", True)]
        assert any(r["call"] == "epoll_wait" and r["synthetic"] == 1 for r in recs)
        assert recs[-1]["call"] == "close" and any(r["call"] == "recv" and r["ret"] == 0 for r in recs)
