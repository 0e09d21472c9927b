"""The proof that the cases can fail: every mutant (one classic bug) FAILS
the case written for it (or gets the WARN its table entry states, for a bug
only a robustness fault shows), and the verdict carries that case's teaching."""
import dataclasses

import pytest

from iogate import catalogue, models
from iogate.outcome import describe
from iogate.runner import model_target, run_case
from iogate.verdicts import Verdict


def test_every_case_has_a_mutant():
    covered = {m.case for m in models.MUTANTS}
    missing = [c.id for c in catalogue.load() if c.id not in covered]
    assert not missing, f"cases no mutant proves able to fail: {missing}"


def test_every_mutant_names_a_real_case_and_model():
    ids = {c.id for c in catalogue.load()}
    for m in models.MUTANTS:
        assert m.case in ids, m.name
        assert m.base.name in {x.name for x in models.MODELS}, m.name
        assert m.binary.exists(), f"{m.binary} was not built"


@pytest.mark.parametrize("mutant", models.MUTANTS, ids=[m.name for m in models.MUTANTS])
def test_mutant_fails_its_case(mutant, tmp_path, iogate_tls):
    case = catalogue.find(mutant.case)
    target = model_target(mutant)
    if mutant.base.tls:  # a TLS mutant: judged under --tls, and its report names the TLS state it mishandled
        target.tls = iogate_tls
    # A mutant fails deterministically: the gate's confirming rerun of a FAIL (tested in
    # suites/gate/test_judge.py) would only double the suite's time.
    result = run_case(case, target, keep_dir=str(tmp_path), confirm=False)  # pytest cleans its tmp dirs
    assert result.verdict == Verdict(mutant.expect), (
        f"mutant {mutant.name} ({mutant.bug}) was not caught by {case.id}: "
        f"{result.verdict.value} {result.message}")
    report = describe(result, case)
    for text in (case.teaching.bug, case.teaching.symptom, case.teaching.fix, case.requirement.quote):
        assert text in report  # the failure teaches: the bug, the symptom, the fix, the rule
    if mutant.base.tls:  # ... and, under TLS, the TLS state the injected fault became inside OpenSSL
        assert result.tls_state and f"TLS state:   {result.tls_state}" in report, report


def test_every_pinned_na_of_a_model_is_needed():
    """models.expected_na() is what the conformance suite holds each N/A to:
    a model's own pinned N/A must name a real case that applies to it and
    that no profile rule already explains, so the residue stays small and
    every entry says something."""
    ids = {c.id for c in catalogue.load()}
    for m in models.MODELS:
        bare = dataclasses.replace(m, na=())
        for case_id, why in m.na:
            assert case_id in ids, f"{m.name}: pinned N/A for unknown case {case_id}"
            assert why, f"{m.name} x {case_id}: a pinned N/A says why"
            assert models.expected_na(bare, catalogue.find(case_id)) is None, \
                f"{m.name} x {case_id}: the profile rules already expect this N/A; drop the pin"
