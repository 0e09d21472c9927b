"""JUnit as CI dashboards read it (report_junit.py), on a constructed run
with every grade over two servers (no server runs): suites, classnames,
properties, transcripts, WARN apart from FAIL, times and counts; checked
with junitparser, and a merge of its shards gives the same file."""
import xml.etree.ElementTree as ET

import pytest

from iogate import __version__, catalogue, report_junit, reports
from iogate.runner import Result, Target
from iogate.verdicts import Verdict

junitparser = pytest.importorskip("junitparser")

P, F, E, N, W = Verdict.PASS, Verdict.FAIL, Verdict.ERROR, Verdict.NA, Verdict.WARN
SAID = [{"t": 0.01, "client": "client 1", "dir": "send", "n": 4, "calls": 1, "data": "^ab$", "note": None},
        {"t": 0.02, "client": "client 1", "dir": "recv", "n": 2, "calls": 3, "data": "ab", "note": None},
        {"t": 0.03, "client": "client 2", "dir": "error", "n": 0, "calls": 1, "data": "", "note": "reset"}]
TIMES = {P: 1.2344, F: 2.5, E: 0.25, N: 0.0, W: 1.0006}


def run(strict=False, shard=None, pick=None):
    ids = [c.id for c in catalogue.load()[:5]]
    targets = [Target("nginx", "env X=1 ./ci/servers/nginx {port}", None, protocol_flag=False, model="epoll_lt"),
               Target("srv2", "./srv2 --port {port}", None, protocol_flag=False)]
    results = []
    for t in targets:
        for cid, v in zip(ids, (P, F, E, N, W)):
            results.append(Result(t.name, cid, v, f"{v.value}: the reason\nsecond line" if v != P else "",
                                  plan="recv.partial:max=3;seed=7", seed=7, protocol="echo", seconds=TIMES[v],
                                  transcript=SAID if v != N else [], replay="./iogate gate ...",
                                  evidence={"stderr": "srv: boom \x1b[31mred\x1b[0m"} if v in (F, E, W) else {}))
    if pick:
        results = pick(results)
    rep = reports.build([(t, None) for t in targets], [catalogue.find(i) for i in ids], results, protocol="echo",
                        seed=7, strict=strict, shard=shard, seconds=3.0, started="2030-01-02T03:04:05+00:00",
                        planned=len(results))
    return rep


def written(rep, tmp_path, name="junit.xml"):
    path = tmp_path / name
    report_junit.write(rep, path)
    return path


def test_one_suite_per_server_classname_the_servers_name_and_its_properties(tmp_path):
    xml = junitparser.JUnitXml.fromfile(str(written(run(), tmp_path)))
    suites = {s.name: s for s in xml}
    assert list(suites) == ["nginx", "srv2"]
    for name, suite in suites.items():
        assert {tc.classname for tc in suite} == {name}
        props = {p.name: p.value for p in suite.properties()}
        assert props["iogate.seed"] == "7" and props["iogate.protocol"] == "echo"
        assert props["iogate.backend"] == "preload" and props["iogate.tls"] == "false"
        assert props["iogate.version"] == __version__
    assert {p.name: p.value for p in suites["nginx"].properties()}["iogate.model"] == "epoll_lt"
    assert {p.name: p.value for p in suites["srv2"].properties()}["iogate.model"] == "unknown"


def test_grades_transcripts_and_counts(tmp_path):
    xml = junitparser.JUnitXml.fromfile(str(written(run(), tmp_path)))
    suite = next(iter(xml))
    tcs = {tc.name: tc for tc in suite}
    by = {v: tcs[c.id] for v, c in zip((P, F, E, N, W), catalogue.load()[:5])}
    assert [type(r).__name__ for r in by[F].result] == ["Failure"] and by[F].result[0].type == "FAIL"
    assert by[F].result[0].message == "FAIL: the reason"
    assert [type(r).__name__ for r in by[E].result] == ["Error"]
    assert [type(r).__name__ for r in by[N].result] == ["Skipped"]
    assert by[N].result[0].message == "N/A: the reason" and "second line" in by[N].result[0].text
    assert by[W].is_passed and by[P].is_passed  # a WARN does not fail CI without --strict
    assert by[W].system_out.startswith("WARN: WARN: the reason")
    assert ET.fromstring(by[W].tostring()).find("properties/property[@name='iogate.verdict']").get("value") == "WARN"
    assert ET.fromstring(by[P].tostring()).find("properties") is None  # a PASS is no WARN
    for v in (F, E, W):  # the client transcript and the server's stderr of every non-passing cell
        assert "client 1" in by[v].system_out and "^ab$" in by[v].system_out and "recv x3" in by[v].system_out
        assert "srv: boom \\x1b[31mred" in by[v].system_err  # control bytes escaped: the file stays XML
    assert "plan: recv.partial:max=3;seed=7" in by[P].system_out
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (5, 1, 1, 1)
    assert (xml.tests, xml.failures, xml.errors, xml.skipped) == (10, 2, 2, 2)


def test_suite_times_are_the_sum_of_their_testcases(tmp_path):
    xml = junitparser.JUnitXml.fromfile(str(written(run(), tmp_path)))
    for suite in xml:
        assert suite.time == pytest.approx(sum(tc.time for tc in suite), abs=1e-9)
        assert suite.time == pytest.approx(sum(TIMES.values()), abs=0.002)
    assert xml.time == pytest.approx(sum(s.time for s in xml), abs=1e-9)


def test_strict_makes_a_warn_a_failure(tmp_path):
    xml = junitparser.JUnitXml.fromfile(str(written(run(strict=True), tmp_path)))
    suite = next(iter(xml))
    assert suite.failures == 2 and xml.failures == 4
    warn = next(tc for tc in suite if tc.result and tc.result[0].type == "WARN")
    assert type(warn.result[0]).__name__ == "Failure"


def test_a_merge_of_the_shards_writes_the_same_junit(tmp_path):
    whole = run()
    halves = [run(shard={"index": i + 1, "count": 2}, pick=lambda rs, i=i: rs[i::2]) for i in (0, 1)]
    merged = reports.merge(halves)
    assert written(merged, tmp_path, "m.xml").read_text() == written(whole, tmp_path, "w.xml").read_text()
