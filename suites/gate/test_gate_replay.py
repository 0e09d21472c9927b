"""./iogate replay REPORT CASE: the same plan and seed, the same faults."""
import json
import os

import pytest

from gatehelp import binary, have, mutant_binary, run
from iogate import faultseq
from iogate.runner import compact_faults


@pytest.mark.skipif(not mutant_binary("select--exit-on-recv-error").exists(), reason="mutant not built")
def test_replay_of_a_failed_cell_fails_again_with_the_same_faults(tmp_path):
    scratch = tmp_path / "tmp"  # TMPDIR: nothing of the replay may stay there, failing or not
    scratch.mkdir()
    rep = tmp_path / "rep"
    g = run("gate", "--server-cmd", f"{mutant_binary('select--exit-on-recv-error')} --port {{port}}", "--model", "select",
            "--cases", "recv.error.closes", "--seed", "5", "--report", str(rep))
    assert g.returncode == 1
    out = run("replay", str(rep), "recv.error.closes", env={"TMPDIR": str(scratch)})
    assert out.returncode == 1, out.stdout + out.stderr
    assert "plan: recv.reset:conn=1,after=1;seed=5   seed: 5" in out.stdout
    assert "the same fault sequence on every connection" in out.stdout
    assert ">> " in out.stdout  # the replay's trace excerpt, the injected fault marked
    assert not list(scratch.iterdir()) and "files: not kept (--keep" in out.stdout
    kept = run("replay", str(rep / "report.json"), "recv.error.closes", "--keep", env={"TMPDIR": str(scratch)})
    assert kept.returncode == 1, kept.stdout + kept.stderr
    assert not list(scratch.iterdir())
    (where,) = [line[len("files: "):] for line in kept.stdout.splitlines() if line.startswith("files: ")]
    assert os.path.dirname(where) == str(rep) and os.path.basename(where).startswith("replay-recv.error.closes-")
    names = os.listdir(where)
    assert any(n.endswith(".trace.jsonl") for n in names) and any(n.endswith(".stderr") for n in names), names


@pytest.mark.skipif(not have("epoll_et"), reason="epoll_et is not built")
@pytest.mark.parametrize("case", ["fd.no-leak-after-close", "recv.partial.state-preserved", "recv.error.closes"])
def test_replay_of_a_passing_cell_injects_the_same_faults(case, tmp_path):
    g = run("gate", "--server-cmd", f"{binary('epoll_et')} --port {{port}}", "--model", "epoll_et",
            "--cases", case, "--report", str(tmp_path))
    assert g.returncode == 0, g.stdout + g.stderr
    faults = json.loads((tmp_path / "report.json").read_text())["results"][0]["faults"]
    assert faults
    out = run("replay", str(tmp_path / "report.json"), case)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "the same fault sequence on every connection" in out.stdout, out.stdout


def test_replay_of_an_unknown_cell_or_report_exits_2(tmp_path):
    assert run("replay", str(tmp_path), "recv.zero.closes").returncode == 2
    (tmp_path / "report.json").write_text('{"format": "something else"}')
    out = run("replay", str(tmp_path), "recv.zero.closes")
    assert out.returncode == 2 and "not an iogate report" in out.stderr


def _trace(n, differ_at=None):
    """n faults on connection 1 (recv.partial, shortened to 3), the one at
    position differ_at shortened to 4 instead."""
    return [{"call": "recv", "conn": 1, "fault": "recv.partial:max=3", "ret": 3,
             "shortened_to": 4 if i + 1 == differ_at else 3} for i in range(n)]


def test_replay_compares_every_fault_not_the_500_a_report_keeps():
    """Regression: the comparison cut both sides to the 500 faults a report
    keeps, so two runs with 20,000+ faults that differed after the 500th
    printed "the same"."""
    report, replay = _trace(2000), _trace(2000, differ_at=1500)
    kept_report, kept_replay = compact_faults(report), compact_faults(replay)
    assert kept_report == kept_replay  # what the report shows agrees
    same, lines = faultseq.compare(faultseq.digests(report), faultseq.digests(replay), kept_report, kept_replay)
    assert not same
    (line,) = lines
    assert "report 2000 faults, replay 2000" in line
    lo, hi = (int(v) for v in line.rsplit(" ", 1)[-1].split("-"))
    assert lo <= 1500 <= hi and hi - lo < 32, line  # located to its mark: at most 128 marks per connection
    same, lines = faultseq.compare(faultseq.digests(report), faultseq.digests(_trace(2000)), kept_report, kept_replay)
    assert same and lines == ["  connection 1: 2000 faults, the same"]


def test_replay_locates_a_difference_exactly_among_the_kept_faults_and_counts_an_extra_fault():
    a, b = _trace(300), _trace(300, differ_at=42)
    same, lines = faultseq.compare(faultseq.digests(a), faultseq.digests(b), a, b)
    assert not same and "first difference at fault 42: report [recv recv.partial:max=3 3], replay " \
        "[recv recv.partial:max=3 4]" in lines[0], lines
    longer = _trace(2001)
    same, lines = faultseq.compare(faultseq.digests(_trace(2000)), faultseq.digests(longer),
                                   compact_faults(_trace(2000)), compact_faults(longer))
    assert not same and "report 2000 faults, replay 2001" in lines[0] and "at fault 2001" in lines[0], lines
