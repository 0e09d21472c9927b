"""The readiness contract under heavy legal faults: servers that are told only
about changes (edge-triggered epoll, EPOLLONESHOT, SIGIO) still serve 50
clients correctly when recv() says EAGAIN half the time, send() moves 3 bytes
and waits report idle fds. Without the shim's owed events they would stall."""
import random

import pytest

from iogate import models, trace
from iogate.client import Client, exchange

HEAVY = "recv.eagain:p=0.5;send.partial:max=3;wait.spurious:p=0.3;seed=11"
CHANGE_DRIVEN = [m for m in models.MODELS if m.profile.trigger in ("edge", "oneshot") or m.profile.readiness == "signal"]


@pytest.mark.parametrize("model", CHANGE_DRIVEN, ids=[m.name for m in CHANGE_DRIVEN])
def test_fifty_clients_are_served_under_heavy_faults(iogate_server, model):
    srv = iogate_server(model.name, plan=HEAVY, protocol="echo")
    rng = random.Random(11)
    tls = getattr(srv, "tls", None)  # a TLS model's clients speak TLS
    clients = [Client(srv.port, f"c{i}", "echo", tls=tls) for i in range(50)]
    payloads = [rng.randbytes(2048) for _ in clients]
    exchange(clients, payloads, kind="bulk")
    for c in clients:
        c.close()
    srv.stop()
    faults = {r["fault"].split(":")[0] for r in trace.read(srv.trace_path) if r.get("fault")}
    assert {"recv.eagain", "send.partial"} <= faults, faults


SIGNAL_DRIVEN = [m for m in models.MODELS if m.profile.readiness == "signal"]


@pytest.mark.parametrize("model", SIGNAL_DRIVEN, ids=[m.name for m in SIGNAL_DRIVEN])
def test_libfiu_control_thread_never_takes_the_servers_signals(iogate_server, model, tmp_path, monkeypatch):
    # The control thread is started with every signal blocked: if it could take
    # the server's real-time IO signals, sigwaitinfo in the server would miss them.
    monkeypatch.setenv("IOGATE_FIU_CTRL", str(tmp_path / "fiu"))
    srv = iogate_server(model.name, plan="recv.partial:max=3", protocol="echo")
    clients = [Client(srv.port, f"c{i}", "echo", tls=getattr(srv, "tls", None)) for i in range(20)]
    rng = random.Random(3)
    exchange(clients, [rng.randbytes(4096) for _ in clients], kind="reply")
    status = open(f"/proc/{srv.proc.pid}/status").read()
    assert int(status.split("Threads:")[1].split()[0]) >= 2, "libfiu's control thread did not start"
    for c in clients:
        c.close()
