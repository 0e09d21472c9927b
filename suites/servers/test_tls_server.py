"""The TLS reference server (reference-servers/tls_epoll.cc) seen from a
Python ssl client, without the gate: the handshake, the seq greeting and
frames inside TLS, a request of many TLS records, several clients at once, a
client that stops reading; each under a fault plan of the shim that makes
OpenSSL meet the state it must handle (SSL_ERROR_WANT_READ from a read()
that says EAGAIN, SSL_ERROR_WANT_WRITE from a write() that says EAGAIN). Its
three mutants (reference-servers/mutants/tls_epoll--*.patch) fail the
scenario written for their bug, under the same plan the server passes.

The certificate is a throwaway: `openssl req -x509` into the test's tmp dir."""
import random
import select
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest

from iogate import paths
from iogate.timeouts import timeout

SERVER = "iogate-tls_epoll"


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    """(cert, key): a self-signed certificate for 127.0.0.1, valid one day."""
    if not shutil.which("openssl"):
        pytest.skip("no openssl command (Debian package openssl) to make a throwaway certificate")
    d = tmp_path_factory.mktemp("tls")
    c, k = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                    "-days", "1", "-keyout", str(k), "-out", str(c)], check=True, capture_output=True,
                   timeout=timeout("start"))
    return c, k


@pytest.fixture
def tls_server(iogate_server, cert):
    """tls_server(binary=SERVER, plan="") -> the server under the shim, ready (it listens)."""
    def start(binary=SERVER, plan=""):
        path = paths.BIN / binary
        assert path.exists(), f"{path} was not built"
        return iogate_server(f"{path} --port {{port}} --cert {cert[0]} --key {cert[1]}", plan=plan)
    return start


def connect(port, cert, rcvbuf=None):
    """A TLS client socket, handshake done. rcvbuf: a fixed SO_RCVBUF (no autotuning up to tcp_rmem's
    maximum), so that a client that does not read makes the server's writes block for real."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cert[0])  # the server's own certificate is the trust anchor
    ctx.check_hostname = False  # its CN is 127.0.0.1, and Python matches IP addresses by subjectAltName only
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: it sets the window
    raw.settimeout(timeout("reply"))
    raw.connect(("127.0.0.1", port))
    return ctx.wrap_socket(raw)


ALPHABET = bytes(range(0x41, 0x5b)) + bytes(range(0x61, 0x7b))  # A-Z a-z: no '^', no '$'
TO_BODY = bytes(ALPHABET[i % len(ALPHABET)] for i in range(256))
TO_REPLY = bytes((b + 1) % 256 for b in range(256))


def frame(rng, size):
    """A seq frame of `size` random bytes (none of them '^' or '$') and its reply."""
    body = rng.randbytes(size).translate(TO_BODY)
    return b"^" + body + b"$", body.translate(TO_REPLY)


def pump(sock, data, want, hold=None):
    """Send `data` while reading until `want` bytes came back (non-blocking
    TLS, select). hold: while hold() is true the client reads nothing (a
    client that does not read; hold() is asked whenever the client cannot
    send). Returns (bytes received, why it stopped early or "")."""
    sock.setblocking(False)
    sent, got, piece, reading = 0, bytearray(), b"", hold is None
    idle_since = time.monotonic()
    while len(got) < want:
        moved = False
        try:
            if sent < len(data):
                piece = piece or data[sent:sent + 16384]  # a retry after WantWrite repeats the same bytes
                try:
                    n = sock.send(piece)
                    sent, piece, moved = sent + n, piece[n:], True
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
            reading = reading or sent == len(data) or not hold()
            if reading:
                try:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return bytes(got), f"EOF after {len(got)} of {want} bytes"
                    got += chunk
                    moved = True
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
        except (ConnectionError, ssl.SSLError) as e:
            return bytes(got), f"{type(e).__name__} after {len(got)} of {want} bytes: {e}"
        if moved or sock.pending():
            idle_since = time.monotonic()
            continue
        # not reading: wake up now and then to ask hold() again (what it waits for is not on this socket)
        r, w, _ = select.select([sock] if reading else [], [sock] if sent < len(data) else [], [],
                                timeout("reply") if reading else 0.05)
        if not r and not w and time.monotonic() - idle_since >= timeout("reply"):
            return bytes(got), f"stalled: {len(got)} of {want} bytes, nothing more in {timeout('reply'):.0f}s"
    return bytes(got), ""


def writes_blocked(srv):
    """hold() of a client that does not read until the server's write() has said EAGAIN for real."""
    return lambda: not any(r.get("call") in ("write", "send") and r.get("errno") == "EAGAIN" and not r.get("fault")
                           for r in srv.trace_records())


def exchange(port, cert, request, reply, hold=None):
    """One client: handshake, then `request`; the greeting '*' then `reply` must come back."""
    with connect(port, cert, rcvbuf=64 * 1024 if hold else None) as s:
        got, why = pump(s, request, 1 + len(reply), hold)
        assert not why and got == b"*" + reply, why or "the reply differs from the seq model's"
        return s.version()


# ~59 KiB: three full 16 KiB TLS records and a fourth of 10 KiB. The server reads 4 KiB per SSL_read: the
# last record leaves the socket whole with 6 KiB of it still inside OpenSSL (SSL_pending).
REQUEST = 60000

# Plans the server meets through OpenSSL: every 2nd read() of a connection EAGAIN (SSL_ERROR_WANT_READ
# in the middle of a record and after the handshake), every 2nd write() EAGAIN (SSL_ERROR_WANT_WRITE:
# a pending write retried), both at once, reads cut to 100 bytes (records arrive in pieces).
PLANS = ["", "recv.eagain:every=2", "send.eagain:every=2", "recv.eagain:every=3;send.eagain:every=2",
         "recv.partial:max=100"]


@pytest.mark.parametrize("plan", PLANS, ids=[p or "no-faults" for p in PLANS])
def test_greeting_frames_and_a_request_of_many_records(tls_server, cert, plan):
    srv = tls_server(plan=plan)
    rng = random.Random(1)
    assert exchange(srv.port, cert, b"x^abc$y", b"bcd") in ("TLSv1.2", "TLSv1.3")
    # REQUEST bytes in one frame: several TLS records, each read 4 KiB per SSL_read
    exchange(srv.port, cert, *frame(rng, REQUEST))
    if plan:
        faults = {f.split(":")[0] for f in (r.get("fault") for r in srv.trace_records()) if f}
        assert {rule.split(":")[0] for rule in plan.split(";")} <= faults, f"the plan never hit: {faults}"
    assert srv.alive()


@pytest.mark.parametrize("plan", ["", "recv.eagain:every=2;send.eagain:every=2"], ids=["no-faults", "eagain"])
def test_twenty_clients_at_once(tls_server, cert, plan):
    srv = tls_server(plan=plan)
    rng = random.Random(2)
    frames = [frame(rng, rng.randrange(1, 40000)) for _ in range(20)]
    errors = []

    def one(request, reply):
        try:
            exchange(srv.port, cert, request, reply)
        except Exception as e:  # an exception in a thread is not the test's: keep it as an error
            errors.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=one, args=f) for f in frames]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_a_client_that_does_not_read_gets_every_byte(tls_server, cert):
    srv = tls_server()
    # 16 MiB: beyond the 4 MiB the server queues for one client and the socket buffers (a 64 KiB SO_RCVBUF)
    request, reply = frame(random.Random(3), 16 << 20)
    # it reads nothing until the server's write() said EAGAIN (SSL_ERROR_WANT_WRITE), then everything
    exchange(srv.port, cert, request, reply, hold=writes_blocked(srv))
    assert srv.alive()


def test_a_bad_certificate_path_is_one_line_and_exit_1(cert, tmp_path):
    out = subprocess.run([str(paths.BIN / SERVER), "--port", "0", "--cert", str(tmp_path / "none.pem"),
                          "--key", str(cert[1])], capture_output=True, text=True, timeout=timeout("start"))
    assert out.returncode == 1 and "cannot load the TLS certificate" in out.stderr, out.stderr
    out = subprocess.run([str(paths.BIN / SERVER), "--port", "0"], capture_output=True, text=True,
                         timeout=timeout("start"))
    assert out.returncode == 2 and "--cert FILE and --key FILE" in out.stderr, out.stderr


# Each mutant against the scenario its bug breaks, under the plan that shows it; the correct server
# passes the same scenario under the same plan first.
MUTANT_SCENARIOS = [
    # SSL_ERROR_WANT_READ closes the connection: the first drain ends in it, with or without faults
    ("tls_epoll--want-read-fatal", "recv.eagain:every=2", 100),
    # plaintext left in OpenSSL (SSL_pending) after the socket is empty: any record over 4 KiB
    ("tls_epoll--pending-ignored", "", REQUEST),
    # a WANT_WRITE retry with the grown, moved queue: 'bad write retry'. It needs input read between the
    # WANT_WRITE and its retry, growing the queue past its capacity: EAGAIN on every 3rd read stops the
    # drain with records still queued, EAGAIN on every 2nd write leaves a write pending
    ("tls_epoll--write-retry-moved", "recv.eagain:every=3;send.eagain:every=2", 1 << 20),
]


@pytest.mark.parametrize("mutant,plan,size", MUTANT_SCENARIOS, ids=[m[0] for m in MUTANT_SCENARIOS])
def test_each_tls_mutant_breaks_its_scenario(tls_server, cert, mutant, plan, size):
    request, reply = frame(random.Random(4), size)
    exchange(tls_server(plan=plan).port, cert, request, reply)  # the correct server, the same plan and request
    srv = tls_server(f"iogate-mutant-{mutant}", plan=plan)
    with connect(srv.port, cert) as s:
        got, why = pump(s, request, 1 + len(reply))
    assert why, f"{mutant} answered all {size} bytes: its bug did not show"
    assert got == (b"*" + reply)[:len(got)], "what came before the failure is still the seq model's"
