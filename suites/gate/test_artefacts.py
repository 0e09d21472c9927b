"""The caps of the files a failing cell keeps in the report directory
(artefacts.py), on synthetic files: no server runs."""
import json

from iogate import artefacts
from iogate.runner import Result
from iogate.verdicts import Verdict


def trace_file(path, n=20000, fault_at=12000):
    with open(path, "w") as f:
        for i in range(n):
            fault = f'"recv.reset:conn=1,i={i}"' if i == fault_at else "null"
            f.write(f'{{"i":{i},"call":"recv","ret":10,"fault":{fault},"pad":"{"x" * 40}"}}\n')
    return path


def test_a_trace_over_its_cap_keeps_head_the_first_fault_and_tail_with_markers(tmp_path):
    path = trace_file(tmp_path / "t.jsonl")
    cap = 64 * 1024
    data, note = artefacts.cut_trace(str(path), cap)
    assert len(data) <= cap
    records = [json.loads(line) for line in data.splitlines()]  # still JSON Lines
    kept = [r["i"] for r in records if "i" in r]
    markers = [r for r in records if "cut" in r]
    assert kept[0] == 0 and kept[-1] == 19999 and 12000 in kept and 11999 in kept and 12001 in kept
    assert len(markers) == 2  # head | cut | around the fault | cut | tail
    assert sum(m["cut"]["records"] for m in markers) == 20000 - len(kept)
    assert f"{20000 - len(kept)} of 20000 records cut" in note
    small, note = artefacts.cut_trace(str(trace_file(tmp_path / "s.jsonl", n=10, fault_at=3)), cap)
    assert small == (tmp_path / "s.jsonl").read_bytes() and note == ""


def test_output_over_its_cap_keeps_head_and_tail(tmp_path):
    path = tmp_path / "err"
    path.write_bytes(b"A" * 5000 + b"B" * 5000)
    data, note = artefacts.cut_output(str(path), 1000)
    assert len(data) <= 1000 and data.startswith(b"A") and data.endswith(b"B")
    assert b"bytes of 10000 cut" in data and "cut" in note


def cell(tmp_path, name, verdict=Verdict.FAIL):
    work = tmp_path / f"work-{name}"
    work.mkdir()
    err = work / "srv.stderr"
    err.write_text("boom\n")
    res = Result("my srv/1", name, verdict, evidence={"workdir": str(work), "stderr": "boom", "files": {
        "trace": str(trace_file(work / "srv.trace.jsonl")), "stderr": str(err)}})
    return res, work


def test_the_keeper_caps_the_directory_and_removes_every_work_directory(tmp_path):
    report = tmp_path / "rep"
    keeper = artefacts.Keeper(str(report), total=200 * 1024, trace_cap=128 * 1024, output_cap=1024)
    first, w1 = cell(tmp_path, "a.case")
    second, w2 = cell(tmp_path, "b.case")
    passed, w3 = cell(tmp_path, "c.case", Verdict.PASS)
    for res in (first, second, passed):
        keeper.take(res)
    assert not w1.exists() and not w2.exists() and not w3.exists()
    assert first.artefacts["trace"] == "cells/my_srv_1/a.case/trace.jsonl"
    assert first.artefacts["stderr"] == "cells/my_srv_1/a.case/stderr.txt" and first.artefacts["cut"]
    assert second.artefacts["trace"]  # what was left of the cap: a shorter cut
    assert (report / second.artefacts["trace"]).stat().st_size < (report / first.artefacts["trace"]).stat().st_size
    third, _ = cell(tmp_path, "d.case")
    keeper.take(third)
    assert third.artefacts == {"note": artefacts.CAP_REACHED}
    assert passed.artefacts == {} and "workdir" not in passed.evidence
    total = sum(p.stat().st_size for p in (report / "cells").rglob("*") if p.is_file())
    assert total <= 200 * 1024


def test_merge_rebases_the_artefact_paths(tmp_path):
    rep = {"results": [{"artefacts": {"trace": "cells/s/c/trace.jsonl", "note": "x"}}]}
    artefacts.rebase(rep, str(tmp_path / "shard1"), str(tmp_path / "merged"))
    assert rep["results"][0]["artefacts"]["trace"] == "../shard1/cells/s/c/trace.jsonl"
