"""Every reference server against every case of the table: PASS, or the N/A
that models.expected_na() states for that cell (the case table's rule, the
profile's, or the model's own residue). A FAIL here means a reference server
is wrong, or the case (or the shim) is; an N/A nobody expected means a
reference server stopped being injectable, and fails too."""
import glob
import json

import pytest

from iogate import catalogue, judge, models
from iogate.outcome import describe
from iogate.runner import model_target, run_case
from iogate.verdicts import Verdict

CELLS = [(m, c) for m in models.MODELS if m.built for c in catalogue.load()]


def trace_of(workdir):
    records = []
    for path in glob.glob(f"{workdir}/*.trace.jsonl"):
        with open(path, errors="replace") as f:
            records += [json.loads(line) for line in f if line.endswith("\n")]
    return records


@pytest.mark.parametrize("model,case", CELLS, ids=[f"{m.name}:{c.id}" for m, c in CELLS])
def test_reference_server_passes(model, case, tmp_path):
    target = model_target(model)
    result = run_case(case, target, keep_dir=str(tmp_path))  # pytest cleans its tmp dirs
    expected = models.expected_na(model, case)
    if result.verdict == Verdict.NA:
        assert expected, f"an N/A that models.expected_na() does not expect: {result.message}"
        pytest.skip(f"{result.message} (expected: {expected})")
    assert result.verdict == Verdict.PASS, describe(result, case)
    assert expected is None, f"PASS where models.expected_na() expects N/A ({expected}): update the table"
    if case.plan:  # the PASS exercised the claim: the trace holds the fault on the call the case names
        hits = judge.hit_records(case.hit, trace_of(tmp_path))
        assert hits, f"PASS, but the trace shows no {'/'.join(case.hit.rules)} fault on {case.hit.what}"
        assert result.hit == {k: hits[0][k] for k in result.hit}, "the report's hit is not the trace's"
