"""The syscall backend from the user's side (docs/backends.md): the gate
picks it by itself for a program the LD_PRELOAD shim cannot reach, says so,
and judges it with the same faults; `iogate run` and a refused ptrace.
(Cell-by-cell agreement with the preload backend on the C models, and the
static twin's agreement with its dynamic model, are conformance cells:
suites/conformance/test_conformance.py.)"""
import json
import os
import socket
import subprocess
import xml.etree.ElementTree as ET

import pytest

from gatehelp import run
from iogate import paths, trace

GO_SEQ = paths.BIN / "iogate-go_seq"
GO_HTTP = paths.BIN / "iogate-go_http"
STATIC = paths.BIN / "iogate-static-epoll_et"
no_go = pytest.mark.skipif(not GO_SEQ.exists(), reason="no Go servers: golang-go is not installed")


@no_go
def test_the_gate_picks_the_syscall_backend_for_go_by_itself_and_names_it(tmp_path):
    out = run("gate", "--server-cmd", f"{GO_SEQ} --port {{port}}", "--cases",
              "recv.partial.state-preserved,send.partial.resumes-at-offset,recv.eagain.keeps-connection",
              "--report", str(tmp_path), "--junit", str(tmp_path / "junit.xml"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "the syscall backend (the warm-up saw no libc socket call" in out.stderr
    assert "a Go program (.go.buildinfo)" in out.stderr
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["targets"][0]["backend"] == "syscall" and rep["targets"][0]["detected"]["like"] == "go_seq"
    assert {r["verdict"] for r in rep["results"]} == {"PASS"}
    assert all(r["hit"] for r in rep["results"]), "each PASS exercised its fault"
    props = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite/properties/property")
    assert (props.get("name"), props.get("value")) == ("iogate.backend", "syscall")


def test_the_preload_backend_stays_the_choice_for_a_libc_server(tmp_path):
    out = run("gate", "--server-cmd", f"{paths.BIN / 'iogate-epoll_et'} --port {{port}}", "--cases",
              "recv.partial.state-preserved", "--report", str(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "the preload backend (the warm-up saw its libc socket calls)" in out.stderr
    assert json.loads((tmp_path / "report.json").read_text())["targets"][0]["backend"] == "preload"


@pytest.mark.skipif(not STATIC.exists(), reason="the static twin was not built")
def test_a_static_binary_is_judged_not_refused(tmp_path):
    out = run("gate", "--server-cmd", f"{STATIC} --port {{port}}", "--cases", "et.read.drains-until-eagain",
              "--report", str(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "detected the model of iogate-static-epoll_et: epoll(7), edge-triggered" in out.stderr
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["targets"][0]["backend"] == "syscall" and rep["results"][0]["verdict"] == "PASS"


@pytest.mark.skipif(not GO_HTTP.exists(), reason="no Go servers: golang-go is not installed")
def test_a_go_net_http_server_passes_the_http_cases_that_apply(tmp_path):
    out = run("gate", "--server-cmd", f"{GO_HTTP} --port {{port}}", "--protocol", "http", "--jobs", "2",
              "--report", str(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    rep = json.loads((tmp_path / "report.json").read_text())
    verdicts = {r["case"]: r["verdict"] for r in rep["results"]}
    assert set(verdicts.values()) <= {"PASS", "N/A"}, {c: v for c, v in verdicts.items() if v not in ("PASS", "N/A")}
    assert sum(v == "PASS" for v in verdicts.values()) >= 20, verdicts


def test_run_under_the_syscall_backend_faults_a_static_program(tmp_path):
    if not STATIC.exists():
        pytest.skip("the static twin was not built")
    path = tmp_path / "t.jsonl"
    proc = subprocess.Popen([str(paths.ROOT / "iogate"), "run", "--faults", "recv.partial:max=1", "--trace",
                             str(path), "--", str(STATIC), "--port", "0"], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, IOGATE_NO_BUILD="1"), start_new_session=True)
    try:
        port = int(proc.stdout.readline().split()[-1])  # the program kept the pid: its stdout is ours
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            assert s.recv(1) == b"*"
            s.sendall(b"^abc$")
            got = b""
            while len(got) < 3:
                got += s.recv(16)
            assert got == b"bcd"
    finally:
        proc.terminate()
        proc.wait(30)
    records = trace.read(str(path))
    assert records[0]["call"] == "plan" and records[0]["backend"] == "syscall"
    reads = [r for r in records if r.get("fault") == "recv.partial:max=1"]
    assert reads and all(r["ret"] <= 1 for r in reads)


def test_posix_aio_under_the_syscall_backend_is_its_workers_reads_and_writes(tmp_path):
    """docs/backends.md, "POSIX AIO": glibc's workers make the real read/write,
    which the supervisor faults as recv/send calls; aio_read, aio_write and
    aio_suspend (a futex wait) make no system call it stops."""
    path = tmp_path / "t.jsonl"
    plan = "recv.partial:max=3;aio.partial:max=1;wait.eintr:every=2"
    proc = subprocess.Popen([str(paths.ROOT / "iogate"), "run", "--backend", "syscall", "--faults", plan, "--trace",
                             str(path), "--", str(paths.BIN / "iogate-posix_aio"), "--port", "0"],
                            stdout=subprocess.PIPE, text=True, env=dict(os.environ, IOGATE_NO_BUILD="1"),
                            start_new_session=True)
    try:
        port = int(proc.stdout.readline().split()[-1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            assert s.recv(1) == b"*"
            s.sendall(b"^abcdef$")
            got = b""
            while len(got) < 6:
                got += s.recv(16)
            assert got == b"bcdefg"  # each aio_read completed with the worker's 3 bytes
    finally:
        proc.terminate()
        proc.wait(30)
    records = trace.read(str(path))
    assert records[0]["call"] == "plan" and records[0]["backend"] == "syscall"
    reads = [r for r in records if r.get("call") == "read" and r.get("conn") == 1]
    assert reads and all(r["fault"] == "recv.partial:max=3" and r["ret"] <= 3 for r in reads), reads
    assert all(r["tid"] != r["pid"] for r in reads), "read by glibc's AIO workers, not the main thread"
    assert not [r for r in records if str(r.get("call")).startswith("aio_")]


def test_a_refused_ptrace_is_one_line_and_status_2():
    # A process that is already traced cannot be seized by the supervisor.
    out = subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", str(paths.SYSCALL), "/bin/true"],
                         capture_output=True, text=True, timeout=60,
                         env={"IOGATE_FAULTS": "", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "iogate: the syscall backend cannot work here: ptrace refused (Operation not permitted)"]


@no_go
def test_a_gate_where_ptrace_is_refused_exits_2_with_the_reason():
    # Under strace every process of the gate is already traced: the supervisor cannot attach.
    out = subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", str(paths.ROOT / "iogate"), "gate",
                          "--server-cmd", f"{GO_SEQ} --port {{port}}", "--cases", "recv.partial.state-preserved"],
                         capture_output=True, text=True, timeout=300, env=dict(os.environ, IOGATE_NO_BUILD="1"))
    assert out.returncode == 2, out.stdout + out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("iogate gate: exit 2 (ERROR): iogate-go_seq could not be judged")
    assert last.endswith("iogate: the syscall backend cannot work here: ptrace refused (Operation not permitted)")
