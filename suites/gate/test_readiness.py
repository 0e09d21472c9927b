"""Servers that never become ready (docs/containment.md): one clear line
each, with what was seen instead; readiness is the server's own listening
socket, never another process's on the same port."""
import socket
import sys

import pytest

from gatehelp import binary, have, ipv6, run
from iogate import server as server_mod
from iogate.verdicts import HarnessError

QUICK = {"IOGATE_TIMEOUT_SCALE": "0.2"}  # a server that never listens fails its start in 2 s, not 10


def listener(family, host, port_expr, extra=""):
    """A python3 -c server that listens at (host, port_expr) and sleeps."""
    return (f"{sys.executable} -c \"import socket, sys, time; s = socket.socket(socket.{family}); "
            f"s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); {extra}"
            f"s.bind(({host!r}, {port_expr})); s.listen(8); time.sleep(60)\" {{port}}")


def error_line(out):
    lines = [line for line in out.stdout.splitlines() if line.startswith("iogate gate: ERROR")]
    assert len(lines) == 1, out.stdout + out.stderr
    return lines[0]


def gate(cmd):
    out = run("gate", "--server-cmd", cmd, "--model", "epoll_et", "--cases", "recv.zero.closes", env=QUICK,
              timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    return error_line(out)



def test_a_server_listening_on_another_port_is_told_which():
    line = gate(listener("AF_INET", "127.0.0.1", "0"))
    assert "it listens on 127.0.0.1:" in line and "not on port" in line and "{port}" in line, line


@pytest.mark.skipif(not ipv6(), reason="no IPv6 loopback here")
def test_a_server_listening_only_on_ipv6_loopback_is_told_the_clients_cannot_reach_it():
    line = gate(listener("AF_INET6", "::1", "int(sys.argv[1])"))
    assert "it listens on [::1]:" in line and "127.0.0.1" in line and "only" in line, line


def test_a_server_listening_on_a_unix_socket_is_told_so(tmp_path):
    path = tmp_path / "srv.sock"
    line = gate(f"{sys.executable} -c \"import socket, time; s = socket.socket(socket.AF_UNIX); "
                f"s.bind({str(path)!r}); s.listen(8); time.sleep(60)\" {{port}}")
    assert f"the UNIX socket {path}" in line, line


def test_a_server_crashing_at_start_shows_its_status_and_stderr():
    line = gate("sh -c 'echo cannot open the config file >&2; exit 3' {port}")
    assert "exited before it listened" in line and "exited with 3" in line, line
    assert "cannot open the config file" in line


@pytest.fixture
def held_port(monkeypatch):
    """A port another process (this test) listens on, handed to the next server as its {port}."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    ports = [port]
    real = server_mod.free_port
    monkeypatch.setattr(server_mod, "free_port", lambda: ports.pop(0) if ports else real())
    yield port
    holder.close()


def test_another_process_listening_on_the_port_is_not_the_server_being_ready(held_port, monkeypatch):
    monkeypatch.setenv("IOGATE_TIMEOUT_SCALE", "0.2")
    srv = server_mod.Server("sleep 30 {port}")
    with pytest.raises(HarnessError) as e:
        srv.start()
    assert f"port {held_port} is held by another process" in str(e.value), e.value
    assert srv.proc.poll() is not None


@pytest.mark.skipif(not have("epoll_et"), reason="reference servers not built")
def test_a_server_that_lost_its_port_to_another_process_is_started_again_on_a_new_one(held_port):
    srv = server_mod.Server(f"{binary('epoll_et')} --port {{port}}")
    try:
        srv.start()
        assert srv.port != held_port and srv.alive()
    finally:
        srv.stop()
