"""TLS for any protocol adapter (`--tls`, docs/protocols.md "TLS").

Ownership: a Material owns a private temporary directory (0700, scratch.mkdtemp)
holding the run's throwaway self-signed certificate and key, made by the
`openssl` command line straight into their final names (no predictable
temporary name is ever opened), and removes it in close(). A TlsSocket owns the TCP
socket under it (closing one closes the other). Threads: a TlsSocket is used
by one thread at a time (its client's).

The clients speak TLS with ssl.SSLObject over memory BIOs rather than
ssl.SSLSocket, because every case must keep its meaning through the layer:

* half-close: SSLSocket.shutdown() drops the TLS state, and its unwrap()
  reads (and throws away) an application record to wait for the peer's
  close_notify. Here shutdown(SHUT_WR) is TLS's own half-close: close_notify,
  then the TCP FIN; the replies owed still arrive and are decrypted (RFC 8446
  section 6.1: a close_notify closes the sender's write side only).
* non-blocking sends: send() returns n only once the records holding those
  n bytes are all in the kernel; until then it raises BlockingIOError, and
  the caller must retry with the same bytes (OpenSSL's SSL_write rule), as
  every caller of send() here does after a would-block.
* readability: plaintext already decrypted, or ciphertext already read from
  the kernel, is invisible to poll()/select() on the fd: pending() counts it,
  and the polling loops (client._pump, crowd) ask it before they wait.
* a reset stays a reset (SO_LINGER {1, 0}, no close_notify); close() is
  orderly: close_notify, then close().
* the handshake never blocks connect(): the ClientHello goes out at once
  (the kernel keeps it, as it keeps a request, for a server that has not
  accepted yet: queued, paused, past its descriptor limit) and the
  handshake completes at the first use; bytes sent before it completes
  wait in the client, as the kernel's buffer would keep them, and go out
  once it completes.

Verification: the client context trusts only the run's certificate and
checks that it names 127.0.0.1, so a handshake proves the server uses the
{cert} and {key} it was given (a server that ignores them fails with one
clear line instead of being judged on someone else's certificate).
"""
import os
import select
import shutil
import socket
import ssl
import struct
import subprocess
import time

from . import scratch, timeouts
from .verdicts import CaseFailed, HarnessError

HOST = "127.0.0.1"
PLACEHOLDERS = ("{cert}", "{key}")
RECORD = 16384  # the largest TLS plaintext record: one send() encrypts at most this much


class SetupError(Exception):
    """The run's certificate could not be made: one line, exit 2."""


def placeholders(command) -> list:
    """The TLS placeholders a command line holds."""
    return [p for p in PLACEHOLDERS if p in (command or "")]


class Material:
    """The run's throwaway certificate and key (EC P-256, one day, CN and
    subjectAltName 127.0.0.1), in a private temporary directory."""

    def __init__(self):
        self.dir = scratch.mkdtemp("tls-")  # inside a run's scratch during a run
        self.cert = os.path.join(self.dir, "cert.pem")
        self.key = os.path.join(self.dir, "key.pem")
        self._context = None
        argv = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1",
                "-keyout", self.key, "-out", self.cert]
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=timeouts.timeout("start"))
        except FileNotFoundError:
            self.close()
            raise SetupError("--tls needs the openssl command (Debian package openssl), which is not installed")
        except subprocess.TimeoutExpired:
            self.close()
            raise SetupError(f"openssl did not make the TLS certificate within {timeouts.timeout('start'):.0f}s")
        if done.returncode != 0:
            self.close()
            said = (done.stderr or b"").decode("utf-8", "replace").strip().splitlines()
            raise SetupError(f"openssl could not make the TLS certificate (exit {done.returncode}): "
                             f"{said[-1] if said else 'no message'}")
        # openssl wrote the final names itself: the directory is this Material's own (mkdtemp, 0700: nobody
        # else can plant a file or a link in it) and no server reads them before __init__ returns.

    def substitute(self, command: str) -> str:
        return command.replace("{cert}", self.cert).replace("{key}", self.key)

    def context(self) -> ssl.SSLContext:
        """The clients' context: TLS 1.2 or 1.3, trusting only this certificate."""
        if self._context is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
            ctx.load_verify_locations(self.cert)
            self._context = ctx
        return self._context

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class TlsFailed(CaseFailed):
    """The server's bytes are not a TLS stream a correct server sends (a bad
    record, an alert, a cut handshake): a FAIL of the cell, a clear harness
    error in the pre-flight."""


def _ssl_reason(e) -> str:
    return getattr(e, "reason", None) or getattr(e, "strerror", None) or str(e)


class TlsSocket:
    """A TLS client connection with the socket methods the clients use
    (send, sendall, recv, shutdown, setsockopt, getsockopt, settimeout,
    setblocking, fileno, close), plus pending(), wants_write(), flush()."""

    def __init__(self, raw: socket.socket, context: ssl.SSLContext, timeout=None):
        self._raw = raw
        raw.setblocking(False)  # every wait is this class's own poll(), bounded by its timeout
        self._timeout = timeout
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._in, self._out, server_hostname=HOST)
        self.handshaken = False
        self.stage = "the TLS handshake"  # where the connection is, for failure messages
        self._wire = b""            # ciphertext not yet in the kernel
        self._inflight = None       # plaintext whose records are in _wire: send() returns its length once out
        self._early = bytearray()   # plaintext handed over before the handshake completed
        self._shut_wanted = False   # shutdown(SHUT_WR) asked: close_notify, then FIN, once the rest is out
        self._notified = False      # close_notify written to _wire
        self._fin = False           # the TCP FIN sent
        self._abort = False         # SO_LINGER {1, 0}: close() resets, no close_notify
        self._eof = None            # how the server ended its side: "close_notify" | "EOF"
        self._raw_eof = False
        self._buffered = b""        # plaintext taken out of the BIO before a close_notify was written
        try:  # the ClientHello goes out now (nothing is read here: what the server answers is judged at use)
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        self._wire += self._out.read()
        self._write_some(None)

    # -- the socket interface ---------------------------------------------------------
    def fileno(self):
        return self._raw.fileno()

    def settimeout(self, t):
        self._timeout = t

    def gettimeout(self):
        return self._timeout

    def setblocking(self, flag):
        self._timeout = None if flag else 0.0

    def getpeername(self):
        return self._raw.getpeername()

    def getsockname(self):
        return self._raw.getsockname()

    def getsockopt(self, *args):
        return self._raw.getsockopt(*args)

    def setsockopt(self, level, name, value):
        if level == socket.SOL_SOCKET and name == socket.SO_LINGER and isinstance(value, bytes) \
                and struct.unpack("ii", value) == (1, 0):
            self._abort = True  # the client resets: a reset stays a reset under TLS
        return self._raw.setsockopt(level, name, value)

    def pending(self) -> int:
        """Bytes this connection holds that poll() on its fd cannot see:
        decrypted plaintext (SSL_pending) and ciphertext already read from
        the kernel; an end already read counts too."""
        if self._eof:
            return 1
        return len(self._buffered) + self._tls.pending() + self._in.pending

    def wants_write(self) -> bool:
        """Ciphertext (or a close_notify, a FIN) waits for the socket to be
        writable: arm write interest for it."""
        return bool(self._wire) or (self.handshaken and (bool(self._early) or self._shut_wanted and not self._fin))

    def wants_read_only(self) -> bool:
        """The handshake waits for the server's bytes: nothing to write yet."""
        return not self.handshaken and not self._wire

    def flush(self):
        """Non-blocking: move what waits (ciphertext, close_notify, FIN) on."""
        if not self.handshaken:
            self._handshake(None, wait=False)
        self._progress()
        self._write_some(None)

    def send(self, data, flags=0):
        deadline = self._deadline()
        if self._inflight is not None:  # the retry of a send that would have blocked: the same bytes
            n = len(self._inflight)
            if bytes(memoryview(data)[:n]) != self._inflight:
                raise RuntimeError("a TLS send was retried with other bytes than the one that would block "
                                   "(SSL_write's rule: the same buffer and length)")
            self._write_some(deadline, all_of_it=True)
            if self._wire:
                raise BlockingIOError("TLS record still being written")
            self._inflight = None
            self._progress()
            return n
        if not self.handshaken:
            self._handshake(deadline if self._timeout != 0 else 0.0, wait=False)
            if not self.handshaken:
                if self._timeout == 0:
                    raise BlockingIOError("TLS handshake in progress")
                self._early += bytes(data)  # held until the handshake completes, as a kernel buffer would
                return len(data)
        chunk = bytes(memoryview(data)[:RECORD])
        if not chunk:
            return 0
        self._progress()
        if self._wire:  # earlier data (held before the handshake) goes first
            self._write_some(deadline, all_of_it=True)
            if self._wire:
                raise BlockingIOError("earlier TLS records still being written")
        self._tls.write(chunk)
        self._wire += self._out.read()
        self._inflight = chunk  # until its records are all in the kernel (a timeout below leaves it too)
        self._write_some(deadline, all_of_it=True)
        if self._wire:
            raise BlockingIOError("TLS record partly written: retry with the same bytes")
        self._inflight = None
        return len(chunk)

    def sendall(self, data, flags=0):
        view = memoryview(bytes(data))
        while view:
            try:
                n = self.send(view)
            except BlockingIOError:
                if self._timeout == 0:
                    raise
                continue  # blocking: send() waited until its deadline; the retry resumes the same record
            view = view[n:]

    def recv(self, n, flags=0):
        deadline = self._deadline()
        while True:
            if not self.handshaken:
                self._handshake(deadline, wait=True)
                if not self.handshaken:  # the connection ended during the handshake
                    return b""
            self._progress()
            if self._wire:
                self._write_quietly()  # never block a read on a write
            if self._eof:
                return b""
            got = self._read_plain(n)
            if got is not None:
                return got
            if self._raw_eof:  # the TCP end, and nothing the BIO holds makes a record
                self._eof = self._eof or "EOF"
                return b""
            if not self._read_raw():
                self._wait(deadline, write=bool(self._wire))

    def shutdown(self, how):
        """SHUT_WR (or SHUT_RDWR): TLS's half-close, close_notify then the
        FIN, after whatever is still to be written; the reading side stays."""
        if how == socket.SHUT_RD:
            return self._raw.shutdown(how)
        self._shut_wanted = True
        if self._timeout != 0:
            deadline = self._deadline()
            try:
                if not self.handshaken:
                    self._handshake(deadline, wait=True)
                self._progress()
                self._write_some(deadline, all_of_it=True)
                self._progress()
            except socket.timeout:  # a server that stalls: the half-close waits (deferred), reads judge the stall
                return
        else:
            self.flush()  # non-blocking: the rest follows from flush() (wants_write() says when)
        if self._timeout != 0 and not self.handshaken and not self._fin:  # the handshake ended: the FIN alone
            self._fin = True
            self._raw.shutdown(socket.SHUT_WR)
        if how == socket.SHUT_RDWR:
            self._raw.shutdown(socket.SHUT_RD)

    def close(self):
        if self._raw.fileno() < 0:
            return
        if not self._abort and self.handshaken and self._inflight is None and not self._notified:
            try:  # orderly: close_notify, best effort (the server may be gone)
                self._notify()
                self._write_some(None)
            except (OSError, ssl.SSLError):
                pass
        self._raw.close()

    # -- inside --------------------------------------------------------------------------
    def _deadline(self):
        t = self._timeout
        return None if t is None else time.monotonic() + t

    def _wait(self, deadline, write=False):
        """poll() until the socket is readable (or writable, when asked):
        BlockingIOError for a non-blocking socket, socket.timeout at the deadline."""
        if self._timeout == 0:
            raise BlockingIOError("TLS: would block")
        p = select.poll()
        p.register(self._raw, select.POLLIN | (select.POLLOUT if write else 0))
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not p.poll(None if left is None else left * 1000):
            raise socket.timeout("timed out")

    def _read_raw(self) -> bool:
        """What the kernel holds now into the BIO; False when it held nothing."""
        try:
            data = self._raw.recv(65536)
        except (BlockingIOError, InterruptedError):
            return False
        if data:
            self._in.write(data)
        else:
            self._raw_eof = True
            self._in.write_eof()
        return True

    def _write_some(self, deadline, all_of_it=False):
        """Write ciphertext to the kernel: what it takes now, or (all_of_it,
        a blocking socket) everything, waiting for writability until the deadline."""
        while self._wire:
            try:
                n = self._raw.send(self._wire)
            except (BlockingIOError, InterruptedError):
                n = 0
            self._wire = self._wire[n:]
            if not self._wire:
                break
            if not all_of_it or self._timeout == 0:
                return
            p = select.poll()
            p.register(self._raw, select.POLLOUT)
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not p.poll(None if left is None else left * 1000):
                raise socket.timeout("timed out")
        if not self._wire and self._notified and self._shut_wanted and not self._fin:
            self._fin = True
            self._raw.shutdown(socket.SHUT_WR)

    def _write_quietly(self):
        """Non-blocking write on a read path: a connection the server has
        closed or reset for writing is not this read's failure (the read
        itself then meets the EOF or the reset, as recv() would)."""
        try:
            self._write_some(None)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self._wire = b""

    def _notify(self):
        """close_notify into _wire. SSLObject.unwrap() writes it, then tries
        to read the server's: the memory BIO is empty by then (the caller read
        what it held), so that read finds nothing and throws nothing away."""
        self._notified = True
        self.stage = "after the client's close_notify"
        try:
            self._tls.unwrap()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        except ssl.SSLError:
            pass
        self._wire += self._out.read()

    def _progress(self):
        """After the handshake: the early plaintext becomes records; an asked
        half-close becomes close_notify once nothing else waits."""
        if not self.handshaken:
            return
        if self._early and self._inflight is None:
            self._tls.write(bytes(self._early))
            self._early = bytearray()
            self._wire += self._out.read()
        if self._shut_wanted and not self._notified and not self._early and self._inflight is None:
            # what the server already sent stays readable: take it out of the BIO before unwrap()
            self._buffered += self._drain_bio()
            self._notify()

    def _drain_bio(self) -> bytes:
        out = bytearray()
        while self._in.pending or self._tls.pending():
            try:
                piece = self._tls.read(65536)
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break
            except ssl.SSLError as e:
                raise TlsFailed(f"the server's TLS records are not valid: {_ssl_reason(e)} ({self.stage})")
            if not piece:
                break
            out += piece
        return bytes(out)

    def _read_plain(self, n):
        """Plaintext from what the BIO holds, or None (more ciphertext needed);
        b"" at the server's end (close_notify, or the TCP end without one)."""
        held = self._buffered
        if held:
            self._buffered = held[n:]
            return held[:n]
        try:
            data = self._tls.read(n)
        except ssl.SSLWantReadError:
            return None
        except ssl.SSLZeroReturnError:
            self._eof = "close_notify"
            return b""
        except ssl.SSLEOFError:
            self._eof = "EOF"  # the TCP end without close_notify (a ragged EOF): still the end
            return b""
        except ssl.SSLError as e:
            raise TlsFailed(f"the server's TLS records are not valid: {_ssl_reason(e)} ({self.stage})")
        if not data:
            self._eof = "close_notify"
        return data

    def _handshake(self, deadline, wait: bool):
        """Drive the handshake: complete it, or (wait=False) as far as the
        socket allows now. An end of the connection during it leaves
        handshaken False and _eof set."""
        while not self.handshaken:
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                self._wire += self._out.read()
                self._write_quietly()
                if self._raw_eof:
                    self._eof = "EOF"
                    self.stage = "the TLS handshake (the server closed the connection during it)"
                    return
                if self._read_raw():
                    continue
                if not wait:
                    return
                self._wait(deadline, write=bool(self._wire))
                continue
            except ssl.SSLCertVerificationError as e:
                raise HarnessError(f"the server's TLS certificate is not the gate's throwaway one "
                                   f"({e.verify_message}): does --server-cmd pass {{cert}} and {{key}}?")
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
                self._eof = "EOF"
                self.stage = "the TLS handshake (the server closed the connection during it)"
                return
            except ssl.SSLError as e:
                raise TlsFailed(f"the TLS handshake failed: {_ssl_reason(e)} (the server's answer to the "
                                f"ClientHello is not a TLS server's)")
            self.handshaken = True
            self.stage = "after the TLS handshake"
            self._wire += self._out.read()
            self._progress()
            self._write_quietly()

    def do_handshake(self) -> bool:
        """Complete the handshake (blocking, bounded by the socket's timeout):
        False when the server ended the connection during it."""
        if not self.handshaken:
            self._handshake(self._deadline(), wait=True)
        return self.handshaken


def wrap(raw: socket.socket, material: Material, timeout=None) -> TlsSocket:
    return TlsSocket(raw, material.context(), timeout)


# -- what an injected fault becomes inside OpenSSL --------------------------------------------
