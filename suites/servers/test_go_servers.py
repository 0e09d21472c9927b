"""The servers the LD_PRELOAD shim cannot reach (reference-servers/go/ and
bin/iogate-static-epoll_et) work with plain sockets: the port line, the seq
greeting and frames, echo, HTTP, and SIGTERM. The gate's verdicts on them
need them to be correct first. A Go binary is absent without a go
toolchain (CMake skips it): its tests skip with that reason."""
import os
import re
import select
import signal
import socket
import struct
import subprocess
import time

import pytest

from iogate import models, paths
from iogate.timeouts import timeout

GO_MUTANTS = sorted(p.stem for p in models.MUTANT_DIR.glob("go_*--*.patch"))


@pytest.fixture
def start():
    """start(binary, *flags) -> (proc, port); every server is killed at teardown."""
    procs = []

    def run(name, *flags):
        binary = paths.BIN / name
        if not binary.exists():
            pytest.skip(f"{binary} was not built (the Go servers need a go toolchain at configure time)")
        proc = subprocess.Popen([str(binary), "--port", "0", *flags], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        procs.append(proc)
        return proc, port_line(proc)

    yield run
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def port_line(proc) -> int:
    """Reads 'listening on PORT\\n', bounded by the start timeout: the server is ready once it prints it."""
    line, deadline = b"", time.monotonic() + timeout("start")
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        assert left > 0 and select.select([proc.stdout], [], [], left)[0], f"no port line, got {line!r}"
        chunk = os.read(proc.stdout.fileno(), 64)
        assert chunk, f"exit {proc.wait()} before its port line ({line!r}): {proc.stderr.read()!r}"
        line += chunk
    m = re.fullmatch(rb"listening on (\d+)\n", line)
    assert m, line
    return int(m.group(1))


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout("reply"))
    return s


def read_exactly(sock, n) -> bytes:
    got = b""
    while len(got) < n:
        chunk = sock.recv(n - len(got))
        assert chunk, f"connection ended after {got!r}"
        got += chunk
    return got


def stopped(proc) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout("stop"))


def check_seq(port):
    with connect(port) as s:
        assert read_exactly(s, 1) == b"*"
        s.sendall(b"x^abc$y^z$")
        assert read_exactly(s, 4) == b"bcd{"
        s.sendall(b"^a")  # a frame split over two writes: its state must survive
        assert read_exactly(s, 1) == b"b"
        s.sendall(b"^$q^\xff$")  # '^' inside a frame is a byte (b+1 = '_'); 0xff wraps to 0
        assert read_exactly(s, 2) == b"_\x00"
        s.shutdown(socket.SHUT_WR)
        assert s.recv(16) == b"", "the server must close after the client's EOF, owing nothing"


@pytest.mark.parametrize("name", ["iogate-go_seq", "iogate-static-epoll_et"])
def test_seq_greeting_and_frames(start, name):
    proc, port = start(name)
    check_seq(port)
    code = stopped(proc)
    # Go exits 0; the C servers (the dynamic epoll_et too) die of SIGTERM's default action
    assert code == 0 or (name == "iogate-static-epoll_et" and code == -signal.SIGTERM), code


def test_go_seq_serves_clients_at_once(start):
    _, port = start("iogate-go_seq")
    with connect(port) as idle:
        assert read_exactly(idle, 1) == b"*"
        idle.sendall(b"^ab")  # mid-frame, left waiting
        assert read_exactly(idle, 2) == b"bc"
        check_seq(port)
        idle.sendall(b"c$")
        assert read_exactly(idle, 1) == b"d"


def test_go_seq_echo(start):
    proc, port = start("iogate-go_seq", "--protocol", "echo")
    data = bytes(range(256)) * 64
    with connect(port) as s:
        s.sendall(data)  # 16 KiB: several reads and writes, no greeting first
        assert read_exactly(s, len(data)) == data
    assert stopped(proc) == 0


def test_go_seq_refuses_a_bad_flag():
    binary = paths.BIN / "iogate-go_seq"
    if not binary.exists():
        pytest.skip(f"{binary} was not built (the Go servers need a go toolchain at configure time)")
    proc = subprocess.run([str(binary), "--protocol", "line"], capture_output=True, timeout=timeout("start"))
    assert proc.returncode == 2 and b"protocol" in proc.stderr


def test_go_http_answers_pipelined_gets(start):
    proc, port = start("iogate-go_http")
    with connect(port) as s:
        s.sendall(b"GET /?iogate=0a1b HTTP/1.1\r\nHost: x\r\n\r\nGET /?iogate=ff HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while got.count(b"HTTP/1.1 200 OK") < 2 or not got.endswith(b"ff"):
            chunk = s.recv(4096)
            assert chunk, f"connection ended after {got!r}"
            got += chunk
    first, second = got.split(b"HTTP/1.1 200 OK")[1:]
    assert b"Content-Length: 4\r\n" in first and first.endswith(b"\r\n\r\n0a1b")
    assert b"Content-Length: 2\r\n" in second and second.endswith(b"\r\n\r\nff")
    assert stopped(proc) == 0


def elf_segments(path):
    """The program header types of an ELF64 little-endian file."""
    with open(path, "rb") as f:
        head = f.read(64)
        assert head[:6] == b"\x7fELF\x02\x01", "not an ELF64 LSB file"
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return {struct.unpack_from("<I", table, i * phentsize)[0] for i in range(phnum)}


def test_static_twin_has_no_dynamic_section():
    binary = paths.BIN / "iogate-static-epoll_et"
    if not binary.exists():
        pytest.skip(f"{binary} was not built (plain builds only, not the sanitized tree)")
    PT_DYNAMIC, PT_INTERP = 2, 3
    assert not elf_segments(binary) & {PT_DYNAMIC, PT_INTERP}, "LD_PRELOAD could reach it"


@pytest.mark.parametrize("mutant", GO_MUTANTS)
def test_every_go_mutant_is_built_and_listens(start, mutant):
    proc, port = start(f"iogate-mutant-{mutant}")
    with connect(port) as s:
        assert read_exactly(s, 1) == b"*"
