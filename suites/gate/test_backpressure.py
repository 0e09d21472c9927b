"""Regression: a correct server that applies back-pressure at a connection
cap (queues clients in the backlog, or refuses them before answering) is
not a FAIL of many.clients.served; a server that drops a client it began
to serve still is (the mutant epoll_lt--fixed-connection-table, in
suites/teaching)."""
import os

import pytest

import gatehelp

CAPPED = os.path.join(os.path.dirname(__file__), "servers", "capped_poll.py")


@pytest.mark.parametrize("mode", ["queue", "shed"])
def test_capped_poll_server_passes_many_clients(mode):
    r = gatehelp.run("gate", "--server-cmd", f"{CAPPED} --port {{port}} --cap 64 --mode {mode}",
                     "--protocol", "echo", "--cases", "many.clients.served", "--jobs", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "many.clients.served  PASS" in r.stdout


def test_defer_accept_server_passes_econnaborted():
    """Regression: the aborted client sent nothing, so a TCP_DEFER_ACCEPT
    listener never accepted it, and the shim aborted the next client instead."""
    r = gatehelp.run("gate", "--server-cmd", f"{CAPPED} --port {{port}} --defer-accept", "--protocol", "echo",
                     "--cases", "accept.econnaborted.continues", "--jobs", "1")
    assert r.returncode == 0, r.stdout + r.stderr
