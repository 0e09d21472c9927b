"""A stop signal never cuts a report in half nor leaves a temporary file:
once the gate writes its reports, SIGINT/SIGTERM wait until every file is
whole (deferral.Held), then the run ends with exit 2. The signals are sent
in-process, at a chosen point of the writing (signal.raise_signal): no
timing involved."""
import os
import signal

import pytest

from iogate import atomic, catalogue, deferral, gate, processes, report_html
from iogate.runner import Result, Target
from iogate.verdicts import Verdict


def test_the_held_signals_are_the_ones_that_stop_a_run():
    assert deferral.STOP_SIGNALS == processes.STOP_SIGNALS


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
