"""The gate's exit status and report.json's exit_code come from one place
(outcome.py) and agree, whatever the run: the matrix runs on fake cells
(no server). The first test failed before outcome.py: an interrupted run
with a FAIL exited 2 while its report.json said 1."""
import json

import pytest

from iogate import catalogue, cli, gate
from iogate.runner import Result
from iogate.verdicts import Verdict

P, F, E, N, W = Verdict.PASS, Verdict.FAIL, Verdict.ERROR, Verdict.NA, Verdict.WARN


def fake_gate(monkeypatch, tmp_path, verdicts, interrupted=None, extra=()):
    """Run `gate.conformance` over the first len(verdicts) cases of the
    catalogue with those verdicts; returns (exit status, report.json)."""
    ids = [c.id for c in catalogue.load()[:len(verdicts)]]
    monkeypatch.setattr(gate, "prepare_external", lambda target, opts: (None, None))

    def run_cells(cells, opts, progress=None):
        results = {(t.name, c.id): Result(t.name, c.id, v, f"{v.value} here", plan="recv.eagain:every=2;seed=1",
                                          seed=1, replay=f"./iogate gate --cases {c.id} --seed 1")
                   for (t, c), v in zip(cells, verdicts)}
        if interrupted:  # only the finished cells are reported
            results = dict(list(results.items())[:-1])
        return results, 0.5, interrupted

    monkeypatch.setattr(gate, "run_cells", run_cells)
    args = cli.parser().parse_args(["gate", "--server-cmd", "srv --port {port}", "--model", "blocking",
                                    "--cases", ",".join(ids), "--report", str(tmp_path), *extra])
    args.argv = []
    rc = gate.conformance(gate.Options.from_args(args))
    return rc, json.loads((tmp_path / "report.json").read_text())


def test_an_interrupted_run_with_a_failure_exits_2_and_its_report_says_2(monkeypatch, tmp_path):
    rc, rep = fake_gate(monkeypatch, tmp_path, [F, P, P], interrupted="SIGINT")
    assert rep["interrupted"] and rep["counts"]["FAIL"] == 1
    assert rc == 2 and rep["exit_code"] == 2
    assert rep["exit_reason"].startswith("interrupted by SIGINT after 2 of 3 cells")


@pytest.mark.parametrize("verdicts, strict, want", [
    ([P, P], False, 0), ([P, W], False, 0), ([P, W], True, 1), ([W, W], False, 0), ([P, F], False, 1),
    ([P, E], False, 2), ([F, E], False, 1), ([N, N], False, 2), ([W, E], True, 1), ([W, F, P], False, 1),
])
def test_the_gate_and_its_report_agree(monkeypatch, tmp_path, capsys, verdicts, strict, want):
    rc, rep = fake_gate(monkeypatch, tmp_path, verdicts, extra=["--strict"] if strict else [])
    assert rc == rep["exit_code"] == want, rep["exit_reason"]
    assert rep["strict"] is strict
    err = capsys.readouterr().err
    assert f"iogate gate: exit {want} ({rep['verdict']}): {rep['exit_reason']}" in err


def test_warnings_follow_failures_in_the_recap_with_reason_and_replay(monkeypatch, tmp_path, capsys):
    rc, rep = fake_gate(monkeypatch, tmp_path, [W, F, P])
    out = capsys.readouterr().out
    assert rc == 1
    assert 0 < out.index("\nfailures:\n") < out.index("\nwarnings:\n") < out.index("\nFAIL: ")
    warned = out[out.index("\nwarnings:\n"):]
    case = rep["results"][0]["case"]
    assert f"WARN  srv × {case}" in warned and "WARN here" in warned and "only a warning" in warned
    assert f"replay: ./iogate gate --cases {case} --seed 1" in warned
    assert f"WARN: {case} (robustness faults only; --strict makes a WARN fail)" in out
    table_row = next(line for line in out.splitlines() if line.startswith(case + " "))
    assert table_row.split()[1] == "WARN"
