"""The readiness contract under heavy legal faults: servers that are told only
about changes (edge-triggered epoll, EPOLLONESHOT, SIGIO) still serve 50
clients correctly when recv() says EAGAIN half the time, send() moves 3 bytes
and waits report idle fds. Without the shim's owed events they would stall."""
import os
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
    clients = [Client(srv.port, f"c{i}", "echo") for i in range(50)]
    payloads = [rng.randbytes(2048) for _ in clients]
    exchange(clients, payloads, kind="bulk")
    for c in clients:
        c.close()
    srv.stop()
    faults = {r["fault"].split(":")[0] for r in trace.read(srv.trace_path) if r.get("fault")}
    assert {"recv.eagain", "send.partial"} <= faults, faults
