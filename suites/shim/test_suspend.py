"""aio_suspend(3) under the shim (injectors/shim_suspend.cc), driven by
iogate-suspendprobe: one aio_read on a blocking loopback connection, waited
for with aio_suspend until it completes. The shim may end the wait with
EINTR only where glibc's could end (a caught signal the thread does not
block, without SA_RESTART unless there is a timeout; the call would sleep),
never returns early for nothing, never holds a completion back, and a
completed request shows the length its caller asked for."""
import json
import os
import subprocess

import pytest

from iogate import paths


def probe(handler, timeout_ms, send, plan, tmp_path=None):
    """(the probe's report, the aio_suspend records of its trace)."""
    env = dict(os.environ, LD_PRELOAD=str(paths.SHIM), IOGATE_FAULTS=plan)
    trace = tmp_path / "trace.jsonl" if tmp_path else None
    if trace:
        env["IOGATE_TRACE"] = str(trace)
    out = subprocess.run([str(paths.BIN / "iogate-suspendprobe"), handler, str(timeout_ms), str(send)], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    records = [json.loads(line) for line in trace.read_text().splitlines()] if trace else []
    return json.loads(out.stdout), [r for r in records if r["call"] == "aio_suspend"]


def outcomes(got):
    return [(ret, err) for ret, err, _ms, _nbytes in got["calls"]]


def test_injected_eintr_ends_each_chosen_wait_and_the_completion_still_comes(tmp_path):
    # No timeout: every wait not ended by the shim really sleeps until the peer sends (before the 4th).
    got, recs = probe("norestart", -1, 4, "wait.eintr:count=3", tmp_path)
    assert outcomes(got) == [(-1, "EINTR")] * 3 + [(0, "")], got
    assert (got["aio_error"], got["aio_return"], got["data"]) == ("", 10, "0123456789")
    assert [r.get("fault") for r in recs] == ["wait.eintr:count=3"] * 3 + [None]
    assert [r["errno"] for r in recs] == ["EINTR"] * 3 + [None]
    assert recs[-1]["events"] == [[got["server_fd"], "recv"]]  # the request found complete
    assert recs[-1]["timeout"] == -1 and recs[-1]["nitems"] == 1


def test_with_a_timeout_real_eagain_and_injected_eintr_alternate_as_planned():
    got, _ = probe("norestart", 100, 5, "wait.eintr:every=2")
    assert outcomes(got) == [(-1, "EAGAIN"), (-1, "EINTR"), (-1, "EAGAIN"), (-1, "EINTR"), (0, "")], got
    eagain_ms = [ms for _ret, err, ms, _n in got["calls"] if err == "EAGAIN"]
    assert all(ms >= 95 for ms in eagain_ms), got  # the caller's own timeout, never cut short
    assert all(ms < 50 for _ret, err, ms, _n in got["calls"] if err == "EINTR"), got  # before waiting


def test_sa_restart_without_a_timeout_restarts_so_no_eintr(tmp_path):
    # glibc's futex wait restarts after an SA_RESTART handler when it has no timeout
    got, recs = probe("restart", -1, -300, "wait.eintr:count=3", tmp_path)
    assert outcomes(got) == [(0, "")], got
    assert got["calls"][0][2] >= 250, got  # it slept until the completion
    assert "EINTR impossible" in recs[0]["note"]


def test_sa_restart_with_a_timeout_can_end_with_eintr():
    got, _ = probe("restart", 1000, -300, "wait.eintr:count=1")
    assert outcomes(got) == [(-1, "EINTR"), (0, "")], got


@pytest.mark.parametrize("handler", ["none", "blocked"])
def test_no_eintr_without_a_signal_that_could_reach_the_waiting_thread(handler, tmp_path):
    got, recs = probe(handler, -1, -300, "wait.eintr:count=3", tmp_path)
    assert outcomes(got) == [(0, "")], got
    assert recs[0]["fault"] is None and "EINTR impossible" in recs[0]["note"]


def test_no_eintr_when_a_listed_request_already_completed(tmp_path):
    got, recs = probe("norestart", -1, 0, "wait.eintr:count=1", tmp_path)
    assert outcomes(got) == [(0, "")], got
    assert "aio_suspend returns at once" in recs[0]["note"]


def test_no_eintr_with_a_zero_timeout_which_never_sleeps(tmp_path):
    got, recs = probe("norestart", 0, 3, "wait.eintr:count=1", tmp_path)
    assert set(outcomes(got)[:-1]) == {(-1, "EAGAIN")} and outcomes(got)[-1] == (0, ""), got
    assert [r["timeout"] for r in recs] == [0] * len(got["calls"])
    assert all("aio_suspend returns at once" in r["note"] for r in recs), recs


def test_a_spurious_rule_never_makes_aio_suspend_return_before_the_completion(tmp_path):
    got, recs = probe("norestart", -1, -300, "wait.spurious:count=1", tmp_path)
    assert outcomes(got) == [(0, "")], got
    assert got["calls"][0][2] >= 250, got
    assert "no spurious return" in recs[0]["note"]


def test_a_short_read_completes_through_aio_suspend_with_the_asked_length_shown(tmp_path):
    got, recs = probe("norestart", -1, -300, "aio.partial:max=3;wait.eintr:count=1", tmp_path)
    assert outcomes(got) == [(-1, "EINTR"), (0, "")], got
    assert got["calls"][-1][3] == 10, got  # aio_nbytes right after aio_suspend returned, before aio_error
    assert (got["aio_error"], got["aio_return"], got["data"]) == ("", 3, "012")
