"""Every fault of the table, seen from outside: what the server gets, what
the peer sees, and that the shim stays within what the kernel could do."""
import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from iogate import paths, trace
from iogate.client import Client, exchange

IOGATE = str(paths.ROOT / "iogate")


def records(srv, call=None):
    return [r for r in trace.read(srv.trace_path) if call is None or r["call"] == call]


def test_accept_emfile_leaves_the_connection_queued_and_the_server_recovers(iogate_server):
    srv = iogate_server("select", plan="accept.emfile:count=3")
    c = Client(srv.port)
    c.greet()  # served once the 3 injected EMFILEs are over: the connection was never dequeued
    c.ask(b"^ok$")
    srv.stop()
    acc = records(srv, "accept4") + records(srv, "accept")
    emfile = [r for r in acc if r["errno"] == "EMFILE"]
    assert len(emfile) == 3 and all(r["fault"] == "accept.emfile:count=3" for r in emfile)
    assert [r["conn"] for r in acc if r["ret"] >= 0] == [1]


def test_accept_econnaborted_aborts_a_real_connection_and_the_next_one_is_served(iogate_server):
    srv = iogate_server("epoll_et", plan="accept.econnaborted:count=1")
    with pytest.raises((ConnectionResetError, ConnectionAbortedError)):
        # the RST can even beat the end of connect() itself
        first = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        if first.recv(1) == b"":
            pytest.fail("EOF instead of RST")
    c = Client(srv.port)
    c.greet()
    c.ask(b"^x$")
    srv.stop()
    aborted = [r for r in records(srv) if r.get("errno") == "ECONNABORTED"]
    assert len(aborted) == 1 and aborted[0]["ret"] == -1


def test_accept_eagain_on_an_edge_triggered_listener_is_owed_an_event(iogate_server):
    srv = iogate_server("epoll_et", plan="accept.eagain:every=2")
    clients = [Client(srv.port, f"c{i}") for i in range(10)]
    for c in clients:
        c.greet()
    srv.stop()
    acc = records(srv, "accept4")
    assert any(r["fault"] for r in acc)
    assert sorted(r["conn"] for r in acc if r["ret"] >= 0) == list(range(1, 11))


def test_recv_eof_really_shuts_the_connection_down(iogate_server):
    # epoll_et stops its drain at a short read: the 2nd recv is the first of the 2nd request
    srv = iogate_server("epoll_et", plan="recv.eof:conn=1,after=1")
    c = Client(srv.port)
    c.greet()
    c.ask(b"^a$")
    c.sock.sendall(b"^b$")
    assert c.expect_end("EOF") == "EOF"  # a FIN, not a reset
    srv.stop()
    reads = [r for r in records(srv, "recv") if r["conn"] == 1]
    eof = [r for r in reads if r["fault"]]
    assert eof and eof[0]["ret"] == 0
    assert all(r["ret"] == 0 for r in reads[reads.index(eof[0]):])  # sticky: no queued byte leaks out


def test_send_epipe_raises_sigpipe_for_a_server_that_does_not_ignore_it(tmp_path):
    server = tmp_path / "srv.py"
    server.write_text(textwrap.dedent("""
        import signal, socket, sys
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)   # the classic bug: default disposition
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
        print(s.getsockname()[1], flush=True)
        c, _ = s.accept()
        c.send(b"hello")
        print("survived", flush=True)
    """))
    tr = tmp_path / "t.jsonl"
    proc = subprocess.Popen([IOGATE, "run", "--faults", "send.epipe:conn=1", "--trace", str(tr), "--",
                             sys.executable, str(server)], stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        assert c.recv(10) == b""  # the real shutdown is a FIN to the peer
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode in (-signal.SIGPIPE, 128 + signal.SIGPIPE), (proc.returncode, out)
    assert "survived" not in out
    sends = [r for r in trace.read(tr) if r["call"] == "send"]
    assert sends[0]["errno"] == "EPIPE" and sends[0]["fault"] == "send.epipe:conn=1"


def test_send_epipe_is_survived_by_a_server_that_ignores_sigpipe(iogate_server):
    srv = iogate_server("select", plan="send.epipe:conn=1")
    c = Client(srv.port)
    assert c.reply_or_end("the greeting or the end") in ("EOF", "RST")
    c2 = Client(srv.port, "c2")
    c2.greet()
    c2.ask(b"^z$")
    assert srv.alive()


def test_wait_eintr_is_injected_on_epoll_and_the_loop_goes_on(iogate_server):
    srv = iogate_server("epoll_et", plan="wait.eintr:every=3")
    for i in range(5):
        c = Client(srv.port, f"c{i}")
        c.greet()
        c.ask(b"^abc$")
        c.close()
    srv.stop()
    waits = records(srv, "epoll_wait")
    assert sum(1 for r in waits if r["errno"] == "EINTR") >= 3


def test_wait_eintr_is_not_injected_into_select_without_a_caught_signal(iogate_server):
    srv = iogate_server("select", plan="wait.eintr:every=2")
    c = Client(srv.port)
    c.greet()
    c.ask(b"^abc$")
    srv.stop()
    waits = records(srv, "select")
    assert not any(r["errno"] == "EINTR" for r in waits)
    assert any("EINTR impossible" in (r.get("note") or "") for r in waits)


@pytest.mark.parametrize("model", ["select", "poll", "epoll_et", "epoll_lt"])
def test_spurious_readiness_names_an_idle_registered_connection_and_is_harmless(iogate_server, model):
    if model in ("poll", "epoll_lt") and not (paths.BIN / f"iogate-{model}").exists():
        pytest.skip(f"{model} not built yet")
    srv = iogate_server(model, plan="wait.spurious:every=2,fd=conn")
    idle = Client(srv.port, "idle")
    idle.greet()
    busy = Client(srv.port, "busy")
    busy.greet()
    for i in range(20):
        busy.ask(b"^hello$")
    idle.ask(b"^still here$")
    srv.stop()
    spur = [r for r in records(srv) if r.get("spurious_fd") is not None]
    assert spur, "no spurious report was made"
    conn_fds = {r["ret"] for r in records(srv) if r["call"] in ("accept", "accept4") and r["ret"] >= 0}
    assert {r["spurious_fd"] for r in spur} <= conn_fds
    # the server's next read of a spuriously reported fd gets the kernel's own EAGAIN
    assert any(r["call"] in ("recv", "read") and r["errno"] == "EAGAIN" and not r["fault"] for r in records(srv))


CLIENT_MSG = textwrap.dedent("""
    import socket, sys
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    sizes, total = [], 0
    while total < 1000:
        data, anc, flags, addr = s.recvmsg(1000)
        if not data:
            break
        sizes.append(len(data)); total += len(data)
    sent = s.sendmsg([b"a" * 500, b"b" * 500])
    print(total, max(sizes), sent)
""")


def test_recvmsg_and_sendmsg_are_shortened_by_trimming_the_iovec(tmp_path):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    script = tmp_path / "c.py"
    script.write_text(CLIENT_MSG)
    tr = tmp_path / "t.jsonl"
    proc = subprocess.Popen([IOGATE, "run", "--faults", "recv.partial:max=3;send.partial:max=7", "--trace", str(tr),
                             "--", sys.executable, str(script), str(srv.getsockname()[1])],
                            stdout=subprocess.PIPE, text=True)
    conn, _ = srv.accept()
    conn.sendall(bytes(1000))
    out, _ = proc.communicate(timeout=60)
    conn.close()
    srv.close()
    total, biggest, sent = out.split()
    assert (total, biggest, sent) == ("1000", "3", "7")
    calls = {r["call"] for r in trace.read(tr) if r.get("fault")}
    assert calls == {"recvmsg", "sendmsg"}


def test_recv_eintr_needs_a_caught_signal_and_python_retries_it(tmp_path):
    # CPython installs a SIGINT handler without SA_RESTART: EINTR is legal on
    # its blocking sockets, and PEP 475 makes socket.recv retry it.
    port_srv = socket.socket()
    port_srv.bind(("127.0.0.1", 0))
    port_srv.listen()
    script = tmp_path / "c.py"
    script.write_text("import socket,sys\ns=socket.create_connection(('127.0.0.1',int(sys.argv[1])))\n"
                      "n=0\nwhile True:\n  b=s.recv(100)\n  if not b: break\n  n+=len(b)\nprint(n)\n")
    tr = tmp_path / "t.jsonl"
    proc = subprocess.Popen([IOGATE, "run", "--faults", "recv.eintr:every=2", "--trace", str(tr), "--",
                             sys.executable, str(script), str(port_srv.getsockname()[1])],
                            stdout=subprocess.PIPE, text=True)
    conn, _ = port_srv.accept()
    conn.sendall(bytes(300))
    conn.close()
    out, _ = proc.communicate(timeout=60)
    port_srv.close()
    assert out.strip() == "300"
    assert any(r.get("errno") == "EINTR" and r.get("fault") for r in trace.read(tr))


def test_libfiu_control_switches_a_point_off_on_a_running_server(iogate_server, tmp_path, monkeypatch):
    base = str(tmp_path / "fiu")
    monkeypatch.setenv("IOGATE_FIU_CTRL", base)
    srv = iogate_server("epoll_et", plan="recv.partial:max=1")
    c = Client(srv.port)
    c.greet()
    c.ask(b"^abcd$")
    out = subprocess.run(["fiu-ctrl", "-f", base, "-c", "disable name=iogate/recv/partial", str(srv.proc.pid)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    n = len(records(srv))
    c.ask(b"^efgh$")
    srv.stop()
    after = [r for r in records(srv)[n:] if r["call"] == "recv"]
    before = [r for r in records(srv)[:n] if r["call"] == "recv" and r["fault"]]
    assert before, "the point was never on"
    assert after and not any(r["fault"] for r in after)


def echo_3000(srv):
    c = Client(srv.port, protocol="echo")
    exchange([c], [os.urandom(3000)], kind="reply")
    exchange([c], [b"x"], kind="reply")  # the server has written its records of the 3000 by now
    c.close()
    srv.stop()
    return [r for r in records(srv) if r["call"] in ("send", "write")]


def test_a_short_send_on_a_blocking_socket_is_marked_robust_and_robust_off_drops_it(iogate_server):
    # The blocking server catches no signal and sets no SO_SNDTIMEO: the kernel
    # would never cut its send short (signal(7)); V18 makes that a robustness fault.
    sends = echo_3000(iogate_server("blocking", plan="send.partial:max=7", protocol="echo"))
    faulted = [r for r in sends if r["fault"]]
    assert faulted and all(r["robust"].startswith("V4: short send on a blocking socket") for r in faulted)
    assert not any("robust" in r for r in sends if not r["fault"])
    srv = iogate_server("blocking", plan="send.partial:max=7;robust=off", protocol="echo")
    sends = echo_3000(srv)
    assert sends and not any(r["fault"] or "robust" in r for r in sends)
    assert all(r["note"].startswith("robust=off: not injected (V4: short send") for r in sends if r["req"] > 7)
    assert sum(r["ret"] for r in sends) >= 3000
    assert records(srv, "plan")[0]["robust_faults"] == "off"


def test_a_short_send_on_a_non_blocking_socket_is_kernel_possible(iogate_server):
    sends = echo_3000(iogate_server("epoll_et", plan="send.partial:max=7", protocol="echo"))
    faulted = [r for r in sends if r["fault"]]
    assert faulted and not any("robust" in r for r in faulted)


def test_spurious_readiness_of_a_tcp_socket_is_robust_and_robust_off_reports_none(tmp_path):
    # select over a blocking connection and a non-blocking one that this process
    # alone reads: Linux (tcp_poll) reports neither without data, EOF or an error
    # queued, so both are robustness faults and robust=off reports none.
    script = tmp_path / "w.py"
    script.write_text(textwrap.dedent("""
        import select, socket, sys
        lst = socket.socket(); lst.bind(("127.0.0.1", 0)); lst.listen()
        peers = [socket.create_connection(lst.getsockname()) for _ in range(2)]
        blk, _ = lst.accept()
        nb, _ = lst.accept(); nb.setblocking(False)
        out = []
        for _ in range(int(sys.argv[1])):
            r, _, _ = select.select([blk, nb], [], [], 0.05)
            out.append("blk" if blk in r else "nb" if nb in r else "-")
        print(blk.fileno(), nb.fileno(), " ".join(out))
    """))
    result = {}
    for robust in ("on", "off"):
        tr = tmp_path / f"{robust}.jsonl"
        out = subprocess.run([IOGATE, "run", "--faults", f"wait.spurious:p=1,count=20;robust={robust}", "--trace",
                              str(tr), "--", sys.executable, str(script), "20"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        blk_fd, nb_fd, *_ = out.stdout.split()
        spur = [r for r in trace.read(tr) if r.get("spurious_fd") is not None]
        result[robust] = {(r["spurious_fd"], r.get("robust", "")[:3]) for r in spur}
        assert all(r["spurious_fd"] in (int(blk_fd), int(nb_fd)) for r in spur)
    blk, nb = int(blk_fd), int(nb_fd)
    assert result["on"] == {(blk, "V6:"), (nb, "V6:")}  # both chosen, both marked
    assert result["off"] == set()
