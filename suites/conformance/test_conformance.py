"""Every reference server against every case of the table: PASS, or N/A when
its profile excludes the case. A FAIL here means a reference server is wrong,
or the case (or the shim) is."""
import pytest

from iogate import catalogue, models
from iogate.outcome import describe
from iogate.runner import Target, run_case
from iogate.verdicts import Verdict

CELLS = [(m, c) for m in models.MODELS for c in catalogue.load()]


@pytest.mark.parametrize("model,case", CELLS, ids=[f"{m.name}:{c.id}" for m, c in CELLS])
def test_reference_server_passes(model, case, tmp_path):
    target = Target(model.name, model.command().replace("{port}", "0"), model.profile, model=model.name)
    result = run_case(case, target, keep_dir=str(tmp_path))  # pytest cleans its tmp dirs
    if result.verdict == Verdict.NA:
        pytest.skip(result.message)
    assert result.verdict == Verdict.PASS, describe(result, case)
