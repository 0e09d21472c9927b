"""The POSIX AIO reference server waits for its completions in aio_suspend
(reference-servers/posix_aio.cc), which the shim wraps (injectors/
shim_suspend.cc). Under the plans of the aio.* cases it passes through that
wrapper, and the trace shows the wrapper kept aio_suspend's contract: every
return of 0 names a listed request that completed (no early return, nothing
held back), the wait rules it carried never fired in a server that catches no
signal."""
import glob
import json

import pytest

from iogate import catalogue, models
from iogate.runner import model_target, run_case
from iogate.verdicts import Verdict

POSIX_AIO = models.model("posix_aio")


def trace_of(workdir):
    records = []
    for path in glob.glob(f"{workdir}/*.trace.jsonl"):
        with open(path, errors="replace") as f:
            records += [json.loads(line) for line in f if line.endswith("\n")]
    return records


@pytest.mark.parametrize("case_id", ["aio.partial.resubmits", "aio.error.closes", "wait.eintr.continues"])
def test_posix_aio_waits_in_aio_suspend_under_the_aio_plans(case_id, tmp_path):
    case = catalogue.find(case_id)
    result = run_case(case, model_target(POSIX_AIO), keep_dir=str(tmp_path))
    expected = Verdict.NA if models.expected_na(POSIX_AIO, case) else Verdict.PASS
    assert result.verdict == expected, result.message
    suspends = [r for r in trace_of(tmp_path) if r.get("call") == "aio_suspend"]
    assert suspends, "the server's waits went through the shim's aio_suspend"
    for r in suspends:
        if r["ret"] == 0:
            assert r["events"], f"aio_suspend returned 0 with no listed request complete: {r}"
        else:
            assert r["errno"] in ("EAGAIN", "EINTR"), r
    injected = [r for r in suspends if r.get("fault")]
    if expected == Verdict.NA:  # wait.eintr: no caught signal, so every chosen EINTR was refused (V5)
        assert not injected and any("EINTR impossible" in (r.get("note") or "") for r in suspends)
