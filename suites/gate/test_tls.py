"""--tls: the clients speak TLS (a throwaway certificate per run, {cert} and
{key} in the server command), every case keeps its meaning or is N/A with
the reason (docs/protocols.md, "TLS").

The real servers: Debian's stunnel4 in front of the echo reference server
(ci/servers/stunnel4) and Debian's nginx with `listen ... ssl`
(ci/servers/nginx --tls): no false FAIL, no ERROR. A plain-TCP server under
--tls is a clear harness error (exit 2), and the usage errors are one line.
"""
import json
import shutil
import socket
import ssl
import threading

import pytest

from gatehelp import NGINX_CMD, SOCAT_ECHO, nginx, run, socat
from iogate import client as client_mod, paths, tls, tls_states
from iogate.verdicts import CaseFailed

STUNNEL_CMD = f"{paths.ROOT / 'ci' / 'servers' / 'stunnel4'} {{port}} {{cert}} {{key}}"
NGINX_TLS_CMD = NGINX_CMD + " --tls {cert} {key}"


def stunnel():
    return shutil.which("stunnel4")


def gate_report(tmp_path, *args):
    out = run("gate", *args, "--jobs", "2", "--report", str(tmp_path), "--junit", str(tmp_path / "junit.xml"))
    rep = json.loads((tmp_path / "report.json").read_text()) if (tmp_path / "report.json").exists() else None
    return out, rep


# -- the clients' TLS, against an in-process server --------------------------------------

@pytest.fixture
def material():
    with tls.Material() as m:
        yield m


def tls_echo_server(material, replies=None, close_notify=True):
    """A thread serving one TLS connection: echoes until the client's
    close_notify (or EOF), then sends `replies`, then closes (with its own
    close_notify when asked). Returns (port, thread, seen) where seen[0] says
    how the client ended its side."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(material.cert, material.key)
    lsock = socket.create_server(("127.0.0.1", 0))
    seen = []

    def serve():
        conn, _ = lsock.accept()
        lsock.close()
        try:
            s = ctx.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError):  # the client refused our certificate
            seen.append("no handshake")
            conn.close()
            return
        with s:
            while True:
                try:
                    data = s.recv(65536)
                except ssl.SSLEOFError:
                    seen.append("EOF without close_notify")
                    break
                if not data:
                    seen.append("close_notify")
                    break
                s.sendall(data)
            if replies:
                s.sendall(replies)
            if close_notify:
                try:
                    s.unwrap()
                except (OSError, ssl.SSLError):
                    pass
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return lsock.getsockname()[1], t, seen


def test_a_half_close_is_close_notify_and_the_replies_still_arrive(material):
    port, t, seen = tls_echo_server(material, replies=b"after the close_notify")
    c = client_mod.Client(port, "c", "echo", tls=material)
    c.ask(b"x" * 70000, "the echo of 70000 bytes (several TLS records)")
    c.sock.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        chunk = c.sock.recv(65536)
        if not chunk:
            break
        got += chunk
    t.join(5)
    assert seen == ["close_notify"]
    assert got == b"after the close_notify"
    c.close()


def test_bytes_sent_before_the_handshake_completes_go_out_after_it(material):
    port, t, _ = tls_echo_server(material)
    c = client_mod.Client(port, "c", "echo", tls=material)
    assert not c.sock.handshaken
    c.send(b"early")  # held by the client until the handshake completes, as a kernel buffer would
    c.read_owed("the echo of early")
    assert c.sock.handshaken
    c.close()
    t.join(5)


def test_decrypted_plaintext_is_pending_for_the_pollers(material):
    """A record read whole from the kernel but taken only in part: poll() on
    the fd cannot see the rest, pending() does, and the pump reads it before
    it waits (else it would wait for the reply timeout and fail)."""
    port, t, _ = tls_echo_server(material)
    c = client_mod.Client(port, "c", "echo", tls=material)
    c.handshake()
    c.send(b"y" * 16384)
    c.sock.settimeout(5)
    first = c.sock.recv(100)
    c.model.received(first)
    assert c.sock.pending() > 0
    client_mod.exchange([c], [b"z" * 1000])  # the rest of the y record, then the z's
    assert not c.model.owed()
    c.close()
    t.join(5)


def test_a_non_blocking_half_close_waits_for_the_handshake_then_is_close_notify(material):
    port, t, seen = tls_echo_server(material, replies=b"bye")
    s = tls.wrap(socket.create_connection(("127.0.0.1", port)), material, timeout=0.0)
    s.shutdown(socket.SHUT_WR)  # before the handshake: no bare FIN, it waits
    # (a fast server's reply may complete the handshake inside shutdown(): then the FIN may follow close_notify)
    assert s.handshaken or (not s._fin and s.wants_read_only())
    s.settimeout(5)
    assert s.do_handshake()
    s.setblocking(False)
    s.flush()  # the close_notify, then the FIN
    s.settimeout(5)
    got = b""
    while True:
        chunk = s.recv(100)
        if not chunk:
            break
        got += chunk
    t.join(5)
    assert seen == ["close_notify"] and got == b"bye" and s._fin
    s.close()


def test_a_non_blocking_send_is_retried_with_the_same_bytes(material):
    sock = socket.create_connection(("127.0.0.1", tls_echo_server(material)[0]))
    s = tls.wrap(sock, material, timeout=5)
    assert s.do_handshake()
    s._inflight = b"abc"  # a record of these bytes is still being written
    with pytest.raises(RuntimeError, match="same buffer and length"):
        s.send(b"xyz")
    s._inflight = None
    s.close()


def test_a_server_with_another_certificate_is_a_harness_error(tmp_path, material):
    with tls.Material() as other:
        port, t, _ = tls_echo_server(other)
        c = client_mod.Client(port, "c", "echo", tls=material)
        from iogate.verdicts import HarnessError
        with pytest.raises(HarnessError, match=r"not the gate's throwaway one.*\{cert\} and \{key\}"):
            c.handshake()
        c.close()


def test_a_plain_server_fails_the_handshake_with_its_reason(material):
    lsock = socket.create_server(("127.0.0.1", 0))

    def plain():
        conn, _ = lsock.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        conn.close()
    threading.Thread(target=plain, daemon=True).start()
    c = client_mod.Client(lsock.getsockname()[1], "c", "http", tls=material)
    with pytest.raises(CaseFailed, match="TLS handshake failed"):
        c.handshake()
    c.close()
    lsock.close()


def test_the_states_table_names_what_a_fault_becomes():
    text = tls_states.states_sentence([{"fault": "send.partial:max=7"}, {"fault": "recv.eagain:every=2"}], "edge")
    assert "partial TLS record write" in text and "same buffer and length" in text
    assert "SSL_ERROR_WANT_READ" in text and "SSL_pending" in text
    assert "plain TLS traffic" in tls_states.states_sentence([])


# -- the command line ---------------------------------------------------------------------

def test_cert_placeholders_without_tls_are_a_usage_error():
    out = run("gate", "--server-cmd", "x --port {port} --cert {cert} --key {key}")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "iogate gate: --server-cmd has {cert} and {key} but no --tls: only a TLS run makes a certificate and key"]
    out = run("run", "--faults", "seed=1", "--", "x", "{key}")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "{key}" in out.stderr


def test_tls_without_a_server_command_gates_the_tls_reference_servers(tmp_path):
    from iogate import models
    tls_models = [m.name for m in models.MODELS if m.tls and m.built]
    if not tls_models:
        pytest.skip("no TLS reference server is built")
    out, rep = gate_report(tmp_path, "--tls", "--cases", "recv.*,peer.half-close.*,greeting.*")
    assert out.returncode == 0, out.stdout + out.stderr
    assert [t["name"] for t in rep["targets"]] == tls_models
    assert {r["verdict"] for r in rep["results"]} <= {"PASS", "N/A"}
    plain = run("gate", "--cases", "recv.zero.closes")
    for name in tls_models:  # the plain gate names them with the reason
        assert f"{name} left out: it speaks TLS: it runs under --tls" in plain.stderr


def test_run_tls_hands_the_paths_and_removes_them(tmp_path):
    out = run("run", "--tls", "--faults", "seed=1", "--", "sh", "-c", "cat {cert} {key} > /dev/null && echo {cert}")
    assert out.returncode == 0, out.stderr
    cert = out.stdout.strip()
    assert cert.endswith("cert.pem") and not __import__("os").path.exists(cert)


def test_an_openssl_failure_is_one_line(tmp_path):
    fake = tmp_path / "openssl"
    fake.write_text("#!/bin/sh\necho 'req: broken on purpose' >&2\nexit 1\n")
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:{__import__('os').environ['PATH']}"}
    out = run("gate", "--tls", "--server-cmd", "x --port {port} {cert} {key}", env=env)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines()[-1] == ("iogate gate: openssl could not make the TLS certificate "
                                                   "(exit 1): req: broken on purpose")


@pytest.mark.skipif(not socat(), reason="socat is not installed (apt-get install socat; ci/debian-packages.txt)")
def test_a_plain_server_under_tls_is_a_clear_harness_error(tmp_path):
    out, rep = gate_report(tmp_path, "--server-cmd", SOCAT_ECHO, "--protocol", "echo", "--tls",
                           "--cases", "recv.*")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "TLS handshake failed" in out.stdout + out.stderr
    assert "does the server speak TLS on {port} with {cert} and {key}?" in out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert rep["tls"] is True and {r["verdict"] for r in rep["results"]} == {"ERROR"}


# -- real servers -------------------------------------------------------------------------

# The cases where TLS meets the fault (records cut, WANT_READ/WANT_WRITE, half-close, readiness): the whole
# catalogue on stunnel4 and nginx https is the real-world corpus's (ci/servers/corpus.tsv, bench/realworld).
TLS_CASES = "recv.*,send.partial.*,send.eagain.*,et.*,stream.*,peer.*,spurious.*,greeting.*,eintr.*"
# stunnel spends about 1 s per injected EAGAIN and spurious event (its poll() timeout, docs/realworld.md):
# those cases take 15-40 s each on it, so its quick check leaves them to the corpus
STUNNEL_CASES = TLS_CASES + ",!recv.eagain.*,!send.eagain.*,!spurious.*"


@pytest.mark.skipif(not stunnel(), reason="stunnel4 is not installed (apt-get install stunnel4; "
                                          "ci/debian-packages.txt)")
def test_stunnel4_in_front_of_the_echo_server_has_no_false_fail(tmp_path):
    out, rep = gate_report(tmp_path, "--server-cmd", STUNNEL_CMD, "--protocol", "echo", "--tls", "--cases",
                           STUNNEL_CASES)
    verdicts = {r["case"]: r["verdict"] for r in rep["results"]}
    bad = {r["case"]: r["message"] for r in rep["results"] if r["verdict"] in ("FAIL", "ERROR")}
    assert not bad, out.stdout + out.stderr
    assert out.returncode == 0, out.stdout + out.stderr
    assert rep["tls"] is True and all(r.get("tls") for r in rep["results"])
    assert verdicts["greeting.delivered-once"] == "N/A"
    assert sum(v == "PASS" for v in verdicts.values()) >= 8
    assert 'name="iogate.tls" value="true"' in (tmp_path / "junit.xml").read_text()
    assert "over TLS" in out.stderr


@pytest.mark.skipif(not nginx(), reason="nginx is not installed (apt-get install nginx; ci/debian-packages.txt)")
def test_nginx_https_has_no_false_fail(tmp_path):
    out, rep = gate_report(tmp_path, "--server-cmd", NGINX_TLS_CMD, "--protocol", "http", "--tls", "--cases", TLS_CASES)
    bad = {r["case"]: r["message"] for r in rep["results"] if r["verdict"] in ("FAIL", "ERROR")}
    assert not bad, out.stdout + out.stderr
    assert out.returncode == 0, out.stdout + out.stderr
    assert "detected the model of nginx: epoll(7), edge-triggered, non-blocking sockets" in out.stderr
    verdicts = {r["case"]: r["verdict"] for r in rep["results"]}
    assert sum(v == "PASS" for v in verdicts.values()) >= 8


def test_every_case_says_whether_it_applies_under_tls():
    from iogate import catalogue
    na = {c.id: c.tls_na for c in catalogue.load() if c.tls_na}
    assert set(na) == {"greeting.delivered-once", "aio.error.closes", "uring.cqe-error.closes-only-that"}
    assert "handshake" in na["greeting.delivered-once"]


def test_recv_error_closes_tolerates_a_reset_inside_the_handshake():
    """The script's client 1 takes the end of its connection during the TLS
    handshake as the end the plan gave it (not a missing greeting)."""
    import inspect
    from iogate import case_scripts
    assert "ctx.tls" in inspect.getsource(case_scripts.recv_error_closes)


def test_a_tls_report_replays_under_tls(tmp_path):
    from iogate import models
    if not any(m.tls and m.built for m in models.MODELS):
        pytest.skip("no TLS reference server is built")
    out, rep = gate_report(tmp_path, "--tls", "--cases", "recv.partial.state-preserved")
    assert out.returncode == 0 and rep["tls"], out.stdout + out.stderr
    assert all(r["replay"].endswith("--tls --cases recv.partial.state-preserved --seed 1") or "--tls" in r["replay"]
               for r in rep["results"])
    again = run("replay", str(tmp_path), "recv.partial.state-preserved")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "now: PASS" in again.stdout
