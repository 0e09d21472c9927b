"""--shard I/N splits the matrix deterministically; ./iogate merge joins the
shard reports (JSON, HTML, JUnit) with the exit status of the whole."""
import json

import pytest

from gatehelp import binary, have, run
from iogate import catalogue, matrix


def test_shards_partition_the_matrix():
    targets = matrix.reference_targets()
    cells = [(t, c) for t in targets for c in catalogue.load()]
    for n in (1, 2, 3, 7):
        parts = [matrix.shard_cells(cells, i, n) for i in range(1, n + 1)]
        keys = [(t.name, c.id) for part in parts for t, c in part]
        assert sorted(keys) == sorted((t.name, c.id) for t, c in cells)  # each cell exactly once
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
        assert parts == [matrix.shard_cells(cells, i, n) for i in range(1, n + 1)]  # deterministic


@pytest.mark.skipif(not have("epoll_et"), reason="epoll_et is not built")
def test_two_shards_merge_into_the_whole_matrix(tmp_path):
    cmd = f"{binary('epoll_et')} --port {{port}}"
    cases = "recv.zero.closes,recv.partial.state-preserved,recv.eagain.keeps-connection,eintr.retried,idle.no-spin"
    for i in (1, 2):
        out = run("gate", "--server-cmd", cmd, "--model", "epoll_et", "--cases", cases, "--shard", f"{i}/2",
                  "--report", str(tmp_path / f"s{i}"))
        assert out.returncode == 0, out.stdout + out.stderr
    one = json.loads((tmp_path / "s1" / "report.json").read_text())
    two = json.loads((tmp_path / "s2" / "report.json").read_text())
    assert (one["shard"]["index"], one["shard"]["count"], one["shard"]["cells"]) == (1, 2, 5)
    assert one["shard"]["matrix"] == two["shard"]["matrix"]  # the same matrix: merge checks it
    assert len(one["results"]) == 3 and len(two["results"]) == 2
    merged = run("merge", str(tmp_path / "all"), str(tmp_path / "s1"), str(tmp_path / "s2" / "report.json"))
    assert merged.returncode == 0, merged.stdout + merged.stderr
    rep = json.loads((tmp_path / "all" / "report.json").read_text())
    assert sorted(r["case"] for r in rep["results"]) == sorted(cases.split(","))
    assert rep["counts"] == {"PASS": 4, "WARN": 0, "FAIL": 0, "ERROR": 0, "N/A": 1}
    html = (tmp_path / "all" / "report.html").read_text()
    assert html.count('class="cell v-') == 5
    junitparser = pytest.importorskip("junitparser")
    xml = junitparser.JUnitXml.fromfile(str(tmp_path / "all" / "junit.xml"))
    assert sorted(tc.name for suite in xml for tc in suite) == sorted(cases.split(","))
    # A missing shard makes the merged gate incomplete: exit 2.
    half = run("merge", str(tmp_path / "half"), str(tmp_path / "s1"))
    assert half.returncode == 2 and "shards 2 of 2 are missing" in half.stdout


def test_merge_refuses_what_is_not_a_report(tmp_path):
    (tmp_path / "x.json").write_text("{}")
    out = run("merge", str(tmp_path / "out"), str(tmp_path / "x.json"))
    assert out.returncode == 2 and "not an iogate report" in out.stderr
