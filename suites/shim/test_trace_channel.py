"""The sealed trace channel (trace_channel.h, docs/trace.md): a program that
closes every inherited descriptor, the way daemons do, and then opens its
own files never finds the shim's trace records in them, and the trace loses
none of its calls. Before the seal the trace fd was an ordinary low number:
the program closed it, got its number back for its log or its socket, and
the records went to the peer (then SIGPIPE after shutdown) or into the log."""
import socket
import subprocess
import threading

import pytest

from iogate import paths, trace
from iogate.server import shim_env

PROGRAM = paths.BIN / "iogate-fdhygiene"
REPLY = b"the peer's reply\n"


def peer():
    """A loopback peer outside the shim: records what it receives until the
    program half-closes, answers, closes."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    lsock.settimeout(30)
    got = []

    def serve():
        try:
            c, _ = lsock.accept()
        except OSError:
            return
        with c:
            c.settimeout(30)
            while True:
                b = c.recv(65536)
                if not b:
                    break
                got.append(b)
            c.sendall(REPLY)
        lsock.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return lsock.getsockname()[1], got, t


def run(mode, tmp_path, shim: bool):
    port, got, t = peer()
    log = tmp_path / f"{mode}-{'shim' if shim else 'plain'}.log"
    tr = tmp_path / f"{mode}.trace.jsonl"
    env = shim_env("seed=1", tr) if shim else None
    p = subprocess.run([str(PROGRAM), mode, str(port), str(log)], env=env, capture_output=True, timeout=60)
    t.join(30)
    records = trace.read(str(tr)) if shim else []
    return p.returncode, b"".join(got), log.read_bytes(), records, p.stderr


def calls(records):
    return [r["call"] for r in records if r.get("call") not in ("plan",)]


@pytest.mark.parametrize("mode", ["loop", "closefrom", "close_range", "raw", "dup2"])
def test_a_program_closing_its_inherited_descriptors_keeps_its_bytes_and_the_trace(mode, tmp_path):
    plain_rc, plain_peer, plain_log, _, _ = run(mode, tmp_path, shim=False)
    assert plain_rc == 0 and plain_peer == b"hello from the program\n"
    assert plain_log == b"log line 1\ngot: " + REPLY + b"log line 2\n"
    rc, got, log, records, err = run(mode, tmp_path, shim=True)
    assert rc == plain_rc, err
    assert got == plain_peer  # no trace record reached the program's connection
    assert log == plain_log   # nor its log
    _, _, _, reference, _ = run("none", tmp_path, shim=True)
    assert calls(records) == calls(reference)  # every call the program made is in the trace
    assert {"send", "recv", "close"} <= set(calls(records)), calls(records)
