"""Every call x fault row the fault table (injectors/faults.def, read from the
shim's tables) marks legal, checked through the real shim on a real loopback
connection, and every combination it does not mark refused at plan load."""
import json
import os
import subprocess

import pytest

from iogate import docs, paths, tables

CALLS = {cls: [c["name"] for c in tables.load()["calls"] if c["class"] == cls and c["faulted"]]
         for cls in (c["name"] for c in tables.classes())}  # the calls that carry a fault, per class
READS = {"aio_read", "uring_recv"}


def expect(cls, fault, call):
    """(plan, mode, expected fields) for one row, or None when the row is a
    reads-only fault on a write operation."""
    reading = cls == "recv" or call in READS
    if fault in ("reset", "eof") and not reading:
        return None
    plan = {"partial": f"{cls}.partial:max=3"}.get(fault, f"{cls}.{fault}:count=1")
    if fault == "eagain":
        return plan, "nb", {"ret": -1, "errno": "EAGAIN"} | ({"data": "requeued"} if cls == "accept" else {})
    if fault == "partial":
        return plan, "nb", {"ret": 3} | ({"data": "012"} if reading else {"peer": "data"})
    if fault == "eintr":
        return plan, "sig", {"ret": -1, "errno": "EINTR"} | ({"data": "requeued"} if cls == "accept" else {})
    if fault == "reset":
        return plan, "nb", {"ret": -1, "errno": "ECONNRESET", "peer": "RST"}
    if fault == "eof":
        return plan, "nb", {"ret": 0, "peer": "EOF"}
    if fault == "epipe":
        return plan, "nb", {"ret": -1, "errno": "EPIPE", "peer": "EOF"}
    if fault == "emfile":
        return plan, "nb", {"ret": -1, "errno": "EMFILE", "data": "requeued"}
    if fault == "econnaborted":
        return plan, "nb", {"ret": -1, "errno": "ECONNABORTED", "peer": "RST"}
    if fault == "spurious" and call == "aio_suspend":  # POSIX: no early return; the real timeout ends it
        return "wait.spurious:count=1,fd=conn", "nb", {"ret": -1, "errno": "EAGAIN", "ready_fd": -1}
    if fault == "spurious":
        return "wait.spurious:count=1,fd=conn", "nb", {"ret": 1, "data": "EAGAIN"}
    raise AssertionError(f"no expectation for {cls}.{fault}")


ROWS = []
for name, classes, _, _ in docs.fault_rows():
    for cls in classes:
        for call in CALLS[cls]:
            e = expect(cls, name, call)
            if e:
                ROWS.append(pytest.param(call, *e, id=f"{call}:{cls}.{name}"))


def probe(call, mode, plan):
    env = dict(os.environ, LD_PRELOAD=str(paths.SHIM), IOGATE_FAULTS=plan)
    out = subprocess.run([str(paths.BIN / "iogate-callprobe"), call, mode], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("call,plan,mode,want", ROWS)
def test_every_legal_call_and_fault_does_what_the_table_says(call, plan, mode, want):
    got = probe(call, mode, plan)
    if "spurious" in plan and "ready_fd" not in want:
        want = dict(want, ready_fd=got["conn"])  # the idle connection, not the listener
    assert {k: got[k] for k in want} == want, got


def test_without_faults_every_call_is_untouched():
    for calls in CALLS.values():
        for call in calls:
            got = probe(call, "nb", "")
            assert got["errno"] in ("", "EAGAIN") if call in CALLS["wait"] \
                else got["errno"] == "", got


def test_eintr_is_not_injected_where_no_signal_could_interrupt():
    assert probe("recv", "blk", "recv.eintr:count=1")["ret"] == 10   # no caught signal (V5)
    assert probe("recv", "nb", "recv.eintr:count=1")["ret"] == 10    # non-blocking never sleeps
    assert probe("select", "blk", "wait.eintr:count=1")["ret"] == 0  # select needs a caught signal
    assert probe("epoll_wait", "blk", "wait.eintr:count=1")["errno"] == "EINTR"  # epoll: always (SIGSTOP/CONT)
    # aio_suspend: only a caught signal ends it (its futex wait restarts after SIGSTOP/SIGCONT)
    assert (probe("aio_suspend", "blk", "wait.eintr:count=1")["errno"]) == "EAGAIN"  # its 200 ms timed out


def test_eagain_on_blocking_fds_becomes_what_the_kernel_can_do():
    assert probe("recv", "blk", "recv.eagain:count=1")["ret"] == 1  # a real 1-byte read (V1)
    assert probe("accept", "blk", "accept.eagain:count=1")["ret"] >= 0  # left alone


ILLEGAL = [(cls, f) for cls in CALLS for f, classes, _, _ in docs.fault_rows() if cls not in classes]


@pytest.mark.parametrize("cls,fault", ILLEGAL, ids=[f"{c}.{f}" for c, f in ILLEGAL])
def test_every_combination_the_table_does_not_allow_is_refused_at_load(cls, fault):
    env = dict(os.environ, LD_PRELOAD=str(paths.SHIM), IOGATE_FAULTS=f"{cls}.{fault}:count=1")
    out = subprocess.run(["true"], env=env, capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1
    assert f"unknown fault '{fault}' for {cls}" in out.stderr


WAITS = CALLS["wait"]


@pytest.mark.parametrize("call", WAITS)
def test_a_spurious_rule_with_nothing_to_report_never_ends_an_infinite_wait_with_0(call):
    # conn=9 names no connection: nothing can be reported. The kernel never
    # returns 0 from an infinite wait (libuv asserts it): the wait goes on
    # until the probe's SIGALRM (300 ms) ends it with EINTR.
    got = probe(call, "inf", "wait.spurious:count=1,conn=9")
    assert (got["ret"], got["errno"]) == (-1, "EINTR"), got
    assert got["elapsed_us"] >= 250000, got


@pytest.mark.parametrize("call", WAITS)
def test_a_spurious_rule_with_nothing_to_report_keeps_the_callers_finite_timeout(call):
    # 0 (aio_suspend: -1/EAGAIN) is legal only once the caller's 200 ms have passed, not before.
    got = probe(call, "nb", "wait.spurious:count=1,conn=9")
    assert (got["ret"], got["errno"]) == ((-1, "EAGAIN") if call == "aio_suspend" else (0, "")), got
    assert got["elapsed_us"] >= 200000, got
    assert probe(call, "nb", "")["elapsed_us"] >= 200000  # the probe's own timeout, without the shim's rule


def probe_under(backend, call, mode, plan):
    """The probe under `./iogate run --backend BACKEND` (the syscall backend stops its real system calls)."""
    out = subprocess.run([str(paths.ROOT / "iogate"), "run", "--backend", backend, "--faults", plan, "--",
                          str(paths.BIN / "iogate-callprobe"), call, mode], capture_output=True, text=True,
                         timeout=60, env=dict(os.environ, IOGATE_NO_BUILD="1"))
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend", ["preload", "syscall"])
@pytest.mark.parametrize("call", ["recv", "read", "send"])
def test_a_signal_the_thread_blocks_cannot_interrupt_its_call(backend, call):
    """V5 per thread: a worker that blocks every signal (and leaves them to a
    sigwait thread) never sees EINTR from the kernel, so it gets none from
    the gate; the same call with the signal unblocked does."""
    fault = "send.eintr" if call == "send" else "recv.eintr"
    assert probe_under(backend, call, "sig", f"{fault}:count=1")["errno"] == "EINTR"
    assert probe_under(backend, call, "sigblk", f"{fault}:count=1")["ret"] == 10
