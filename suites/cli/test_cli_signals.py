"""A stop signal never cuts a report in half nor leaves a temporary file:
once the gate writes its reports, SIGINT/SIGTERM wait until every file is
whole (deferral.Held), then the run ends with exit 2. The signals are sent
in-process, at a chosen point of the writing (signal.raise_signal): no
timing involved."""
import os
import signal

import pytest

from gatehelp import alive
from iogate import atomic, catalogue, deferral, gate, processes, report_html
from iogate.runner import Result, Target
from iogate.verdicts import Verdict


def test_a_held_signal_reaches_the_previous_handler_once_the_work_is_done():
    seen = []
    old = signal.signal(signal.SIGTERM, lambda n, f: seen.append(("handler", n)))
    try:
        with deferral.Held():
            signal.raise_signal(signal.SIGTERM)
            seen.append("work finished")
        assert seen == ["work finished", ("handler", signal.SIGTERM)]
        with deferral.Held(drop=True):
            signal.raise_signal(signal.SIGTERM)
        assert len(seen) == 2  # dropped: a cleanup on the way out
    finally:
        signal.signal(signal.SIGTERM, old)


def test_a_signal_during_an_atomic_write_acts_once_the_file_is_in_place(tmp_path, monkeypatch):
    real_chmod = os.chmod

    def chmod_then_stop(path, mode):  # the moment the temporary file is complete but not yet renamed
        signal.raise_signal(signal.SIGTERM)
        real_chmod(path, mode)

    monkeypatch.setattr(atomic.os, "chmod", chmod_then_stop)
    target = tmp_path / "report.json"
    with pytest.raises(processes.Interrupted):
        with processes.Interruptible():
            atomic.write_text(target, "whole")
    assert target.read_text() == "whole"
    assert sorted(os.listdir(tmp_path)) == ["report.json"]  # no temporary file left behind


def test_a_signal_while_the_gate_writes_its_reports_waits_for_every_file_then_exit_2(tmp_path, monkeypatch):
    real_write = report_html.write

    def html_then_stop(report, path):  # SIGTERM between report.html and junit.xml
        real_write(report, path)
        signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(report_html, "write", html_then_stop)
    case = catalogue.find("recv.zero.closes")
    target = Target("srv", "srv --port {port}", None)
    res = Result("srv", case.id, Verdict.PASS, "", seed=1)
    opts = gate.Options(report=str(tmp_path / "rep"), junit=str(tmp_path / "junit.xml"))
    with processes.Interruptible():
        report, out = gate.report_of(opts, [(target, None)], [case], [(target, case)], {("srv", case.id): res},
                                     1.0, None, None)
    assert out.exit_code == 2 and out.reason.startswith("interrupted by SIGTERM while the reports were written")
    assert report["verdict"] == "PASS"  # the files hold the cells' own verdict
    assert sorted(os.listdir(tmp_path / "rep")) == ["report.html", "report.json"]
    assert sorted(os.listdir(tmp_path)) == ["junit.xml", "rep"]
    assert "<testcase" in (tmp_path / "junit.xml").read_text()


# -- a stop signal during the build -------------------------------------------------------------------------

FAKE_CMAKE = """#!/bin/sh
# cmake, as long as the build takes: a child of its own (a compiler), then both wait
sleep 600 &
echo "$$ $!" > "$IOGATE_TEST_FIFO"
wait
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_during_the_build_ends_cmake_and_its_children_with_one_line_and_exit_2(tmp_path, sig):
    import select
    import subprocess
    from gatehelp import ENV, IOGATE
    from iogate import timeouts
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "cmake").write_text(FAKE_CMAKE)
    (bin_dir / "cmake").chmod(0o755)
    fifo = tmp_path / "started"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    env = {k: v for k, v in ENV.items() if k != "IOGATE_NO_BUILD"}
    env.update(PATH=f"{bin_dir}:{env['PATH']}", IOGATE_BUILD_DIR=str(tmp_path / "build"), IOGATE_TEST_FIFO=str(fifo))
    gate = subprocess.Popen([IOGATE, "gate", "--cases", "recv.zero.closes"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    pids = []
    try:
        ready, _, _ = select.select([reader], [], [], timeouts.timeout("start") * 3)
        assert ready, "the build's cmake never started"
        pids = [int(p) for p in os.read(reader, 100).split()]
        assert len(pids) == 2 and all(alive(p) for p in pids)
        gate.send_signal(sig)
        out, err = gate.communicate(timeout=timeouts.timeout("stop") * 3)
        assert gate.returncode == 2, (gate.returncode, err)
        assert err.splitlines()[-1] == f"iogate: interrupted by {sig.name} during the build", err
        assert "Traceback" not in err and not out
        assert not [p for p in pids if alive(p)]  # cmake and the compiler it started are gone
    finally:
        for pid in pids:  # only on failure: what the old code left running
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if gate.poll() is None:
            gate.kill()
            gate.wait()
        os.close(reader)
