"""outcome.py and every renderer of a run, on constructed cells (no server):
the exit contract, and a WARN shown apart from PASS and FAIL in the
terminal recap, report.json, report.html, JUnit, a merged report and a
replay; --strict turns it into a failure everywhere."""
import json
import subprocess
import xml.etree.ElementTree as ET

import pytest

from iogate import catalogue, outcome, replay, report_html, reports, terminal
from iogate.runner import Result, Target
from iogate.verdicts import Verdict

P, F, E, N, W = Verdict.PASS, Verdict.FAIL, Verdict.ERROR, Verdict.NA, Verdict.WARN
REASON = "the server closed the connection after a short send (robustness fault: the socket is blocking, V4)"


def cells(*verdicts):
    return [Result("srv", f"case{i}", v, f"{v.value} message", seed=1) for i, v in enumerate(verdicts)]


@pytest.mark.parametrize("verdicts, kw, want", [
    ([P], {}, 0), ([P, N], {}, 0), ([W], {}, 0), ([P, W], {}, 0), ([P, W], {"strict": True}, 1),
    ([P, F], {}, 1), ([F, E], {}, 1), ([P, E], {}, 2), ([W, E], {}, 2), ([N, N], {}, 2), ([], {}, 2),
    ([N], {"shard": {"index": 1, "count": 2}}, 0),
    ([P, F], {"interrupted": "SIGTERM"}, 2), ([P], {"interrupted": True}, 2), ([P], {"incomplete": "shard 2"}, 2),
    ([P, F], {"harness": "cannot write the reports"}, 2),
    ([F, F], {"mode": "mutants"}, 0), ([F, P], {"mode": "mutants"}, 1), ([F, W], {"mode": "mutants"}, 1),
    ([F, W], {"mode": "mutants", "strict": True}, 0), ([F, E], {"mode": "mutants"}, 2),
    ([F], {"mode": "mutants", "interrupted": "SIGINT"}, 2),
])
def test_the_exit_contract(verdicts, kw, want):
    out = outcome.decide(cells(*verdicts), **kw)
    assert out.exit_code == want, out.reason
    assert out.verdict == {0: "WARN" if W in verdicts and kw.get("mode") != "mutants" else "PASS",
                           1: "FAIL", 2: "ERROR"}[want]


def test_counts_and_reasons():
    out = outcome.decide(cells(P, W, W, F, N), planned=6)
    assert out.counts == {"PASS": 1, "WARN": 2, "FAIL": 1, "ERROR": 0, "N/A": 1}
    assert out.failed == ["case3"] and out.warned == ["case1", "case2"]
    assert outcome.count_text(out.counts) == "1 PASS, 2 WARN, 1 FAIL, 0 ERROR, 1 N/A"
    assert outcome.decide(cells(P, W), strict=True).failed == ["case1"]
    assert outcome.decide(cells(P), interrupted="SIGINT", planned=3).reason.startswith(
        "interrupted by SIGINT after 1 of 3 cells")


# -- one run with every grade, rendered --------------------------------------------------------

def run_report(strict=False, shard=None, results=None):
    ids = [c.id for c in catalogue.load()[:5]]
    cases = [catalogue.find(i) for i in ids]
    t = Target("srv", "./srv --port {port}", None, protocol_flag=False)
    plan = "send.partial:max=7;seed=1"
    res = results or [
        Result("srv", ids[0], P, plan=plan, seed=1),
        Result("srv", ids[1], W, REASON, plan=plan, seed=1, replay=f"./iogate gate --cases {ids[1]} --seed 1",
               evidence={"stderr": "srv: short write\n", "trace": ">> 12 send fd=5 ret=7 send.partial:max=7"}),
        Result("srv", ids[2], F, "the reply lost 3 bytes", plan=plan, seed=1, replay="./iogate gate ..."),
        Result("srv", ids[3], E, "harness error: boom", seed=1),
        Result("srv", ids[4], N, "does not apply", seed=1),
    ]
    return reports.build([(t, None)], cases, res, strict=strict, shard=shard, planned=len(res))


def test_report_json_counts_and_grades_a_warn():
    rep = run_report()
    assert rep["counts"] == {"PASS": 1, "WARN": 1, "FAIL": 1, "ERROR": 1, "N/A": 1}
    assert [r["verdict"] for r in rep["results"]] == ["PASS", "WARN", "FAIL", "ERROR", "N/A"]
    assert rep["exit_code"] == 1 and rep["verdict"] == "FAIL" and rep["strict"] is False
    warn_only = run_report(results=cells(P, W))
    assert (warn_only["exit_code"], warn_only["verdict"]) == (0, "WARN")
    strict = run_report(strict=True, results=cells(P, W))
    assert (strict["exit_code"], strict["verdict"], strict["strict"]) == (1, "FAIL", True)
    assert json.loads(json.dumps(rep)) == rep  # plain JSON


def test_the_warn_text_has_the_reason_teaching_replay_stderr_and_trace():
    rep = run_report()
    warn = rep["results"][1]
    case = next(c for c in rep["cases"] if c["id"] == warn["case"])
    text = outcome.describe(warn, case)
    for needle in (f"WARN  srv × {warn['case']}", REASON, "only a warning", "--strict makes it fail",
                   case["requirement"]["quote"], case["teaching"]["bug"], case["teaching"]["fix"],
                   "plan: send.partial:max=7;seed=1   seed: 1", f"replay: ./iogate gate --cases {warn['case']}",
                   "server stderr (tail):", "srv: short write", "trace excerpt (>> injected):", ">> 12 send"):
        assert needle in text, needle
    assert "a failure under --strict" in outcome.describe(warn, case, strict=True)
    # The Result object and its report dict give the same text; so does a catalogue Case.
    assert outcome.describe(Result.from_dict(warn), catalogue.find(warn["case"])) == text


def test_terminal_table_and_recap():
    rep = run_report()
    out = outcome.of_report(rep)
    lines = terminal.table(rep)
    assert [row.split()[1] for row in lines[1:]] == ["PASS", "WARN", "FAIL", "ERROR", "N/A"]
    text = "\n".join(terminal.recap(rep, out))
    assert "5 cells in 0.0s: 1 PASS, 1 WARN, 1 FAIL, 1 ERROR, 1 N/A" in text
    assert text.index("failures:") < text.index("warnings:") < text.index(REASON)
    assert "FAIL: " + rep["results"][2]["case"] in text and "WARN: " + rep["results"][1]["case"] in text
    strict = run_report(strict=True)
    stext = "\n".join(terminal.recap(strict, outcome.of_report(strict)))
    assert "a failure under --strict" in stext and "\nWARN: " not in stext
    assert f"FAIL: {', '.join(sorted([rep['results'][1]['case'], rep['results'][2]['case']]))}" in stext


def html_of(rep, tmp_path):
    path = tmp_path / "report.html"
    report_html.write(rep, path)
    return path, path.read_text()


def test_report_html_shows_warn_in_its_own_colour_section_and_summary(tmp_path):
    rep = run_report()
    _, html = html_of(rep, tmp_path)
    assert ".v-WARN { background: var(--warn)" in html
    assert 'class="cell v-WARN"' in html  # the matrix cell
    assert '<span class="banner v-WARN">WARN</span> 1</span>' in html  # the summary counts
    assert "<h2 id=\"warnings\">Warnings (1)</h2>" in html and "Failures and errors (2)" in html
    assert 'class="robustness"' in html and REASON in html
    warn_only = run_report(results=cells(P, W))
    _, html = html_of(warn_only, tmp_path)
    assert 'id="verdict">WARN</span>' in html and "exit code <b>0</b>" in html


def test_report_html_with_a_warn_passes_the_browser_check(tmp_path):
    from iogate import paths
    path, _ = html_of(run_report(), tmp_path)
    proc = subprocess.run([str(paths.ROOT / "ci" / "check-report-html"), str(path)], capture_output=True, text=True,
                          timeout=300)
    if proc.returncode == 77:
        pytest.skip("no chromium here: " + proc.stderr.strip())
    assert proc.returncode == 0, proc.stdout + proc.stderr


def junit_cases(rep, tmp_path):
    from iogate import report_junit
    report_junit.write(rep, tmp_path / "junit.xml")
    root = ET.parse(tmp_path / "junit.xml").getroot()
    return root, {tc.get("name"): tc for tc in root.iter("testcase")}


def test_junit_a_warn_is_a_passed_testcase_with_the_warning(tmp_path):
    rep = run_report()
    root, tcs = junit_cases(rep, tmp_path)
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("5", "1", "1", "1")
    warn = tcs[rep["results"][1]["case"]]
    assert [child.tag for child in warn] == ["properties", "system-out", "system-err"]  # no failure/error/skipped
    props = {p.get("name"): p.get("value") for p in warn.iter("property")}
    assert props == {"iogate.verdict": "WARN", "iogate.warning": REASON}
    out = warn.find("system-out").text
    assert out.startswith(f"WARN: {REASON}\n") and "replay: ./iogate gate" in out and "the fix:" in out
    assert [c.tag for c in tcs[rep["results"][2]["case"]]][0] == "failure"
    junitparser = pytest.importorskip("junitparser")
    parsed = {tc.name: tc for suite in junitparser.JUnitXml.fromfile(str(tmp_path / "junit.xml")) for tc in suite}
    assert parsed[warn.get("name")].is_passed and REASON in parsed[warn.get("name")].system_out


def test_junit_with_strict_a_warn_is_a_failure(tmp_path):
    rep = run_report(strict=True)
    root, tcs = junit_cases(rep, tmp_path)
    assert root.get("failures") == "2"
    warn = tcs[rep["results"][1]["case"]]
    failure = warn.find("failure")
    assert failure is not None and failure.get("type") == "WARN" and failure.get("message") == REASON
    assert "a failure under --strict" in failure.text


def test_merged_shards_keep_the_warn_and_the_strictness():
    results = run_report()["results"]
    halves = [run_report(shard={"index": i + 1, "count": 2}, results=[Result.from_dict(r) for r in results[i::2]])
              for i in (0, 1)]
    merged = reports.merge(halves)
    assert merged["counts"] == {"PASS": 1, "WARN": 1, "FAIL": 1, "ERROR": 1, "N/A": 1} and merged["exit_code"] == 1
    warn_halves = [run_report(shard={"index": i, "count": 2}, results=cells(P, W)[i - 1:i]) for i in (1, 2)]
    assert reports.merge(warn_halves)["exit_code"] == 0
    assert reports.merge(warn_halves)["verdict"] == "WARN"
    assert reports.merge(warn_halves, strict=True)["exit_code"] == 1
    strict_halves = [run_report(strict=True, shard={"index": i, "count": 2}, results=cells(P, W)[i - 1:i])
                     for i in (1, 2)]
    assert reports.merge(strict_halves)["exit_code"] == 1  # a shard ran with --strict: so does the merge
    assert reports.merge(warn_halves[:1])["exit_code"] == 2  # a missing shard


@pytest.mark.parametrize("strict_flag, strict_report, want", [(False, False, 0), (True, False, 1), (False, True, 1)])
def test_replay_of_a_warn_cell_exits_by_the_same_contract(monkeypatch, tmp_path, capsys, strict_flag, strict_report,
                                                          want):
    rep = run_report(strict=strict_report)
    rep["targets"][0]["protocol_flag"] = False
    reports.write_json(rep, tmp_path / "report.json")
    warn = rep["results"][1]
    monkeypatch.setattr(replay.bootstrap, "prepare", lambda *a, **kw: None)
    monkeypatch.setattr(replay, "run_case", lambda case, target, **kw: Result.from_dict(warn))
    args = type("Args", (), dict(report=str(tmp_path), case=warn["case"], target=None, keep=False,
                                 strict=strict_flag))
    assert replay.main(args) == want
    assert REASON in capsys.readouterr().out
