"""--report DIR (report.json, report.html) and --junit FILE: what a person
and a CI system read. One gate run with a verdict of every kind: a mutant
FAILs its case, PASSes another, is N/A for an edge-triggered one; a second
run makes an ERROR."""
import json
import os
import subprocess
from html.parser import HTMLParser

import pytest

from gatehelp import IOGATE, mutant_binary, run
from iogate import __version__, artefacts, paths, report_html, reports, timeline

MUTANT = "select--exit-on-recv-error"
CASES = "recv.error.closes,recv.zero.closes,et.read.drains-until-eagain"

pytestmark = pytest.mark.skipif(not mutant_binary(MUTANT).exists(), reason=f"mutant {MUTANT} is not built")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """The gate's TMPDIR, private and empty before the run."""
    return tmp_path_factory.mktemp("tmpdir")


@pytest.fixture(scope="module")
def gated(tmp_path_factory, scratch):
    out = tmp_path_factory.mktemp("report")
    proc = run("gate", "--server-cmd", f"{mutant_binary(MUTANT)} --port {{port}}", "--model", "select",
               "--cases", CASES, "--report", str(out), "--junit", str(out / "junit.xml"), env={"TMPDIR": str(scratch)})
    return out, proc


def test_the_gate_exits_1_and_writes_every_report(gated):
    out, proc = gated
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for name in ("report.json", "report.html", "junit.xml"):
        assert (out / name).stat().st_size > 0


def test_report_json_holds_each_cell_with_its_evidence(gated):
    out, _ = gated
    rep = json.loads((out / "report.json").read_text())
    assert rep["format"] == "iogate-report" and rep["exit_code"] == 1
    assert rep["counts"] == {"PASS": 1, "WARN": 0, "FAIL": 1, "ERROR": 0, "N/A": 1}
    cells = {r["case"]: r for r in rep["results"]}
    fail = cells["recv.error.closes"]
    assert fail["verdict"] == "FAIL" and fail["plan"] == "recv.reset:conn=1,after=1;seed=1" and fail["seed"] == 1
    # The client transcript: what client 1 sent and got, and the reset it saw.
    dirs = [e["dir"] for e in fail["transcript"]]
    assert dirs[0] == "connect" and "send" in dirs and "recv" in dirs
    assert any("Connection reset" in (e.get("note") or "") for e in fail["transcript"])
    # The injected faults and the trace excerpt around them, injected records marked.
    assert fail["faults"] and fail["faults"][0]["fault"] == "recv.reset:conn=1,after=1"
    injected = [e for e in fail["excerpt"] if e.get("injected")]
    assert injected and injected[0]["errno"] == "ECONNRESET"
    assert "--cases recv.error.closes --seed 1" in fail["replay"]
    case = next(c for c in rep["cases"] if c["id"] == "recv.error.closes")
    assert case["requirement"]["source"].startswith("recv(2)") and case["teaching"]["fix"]
    assert cells["et.read.drains-until-eagain"]["verdict"] == "N/A"


def test_nothing_is_left_in_tmpdir_and_the_failing_cell_keeps_its_files_in_the_report(gated, scratch):
    out, proc = gated
    assert not list(scratch.iterdir()), f"left in the gate's TMPDIR: {list(scratch.iterdir())}"
    rep = json.loads((out / "report.json").read_text())
    cells = {r["case"]: r for r in rep["results"]}
    fail = cells["recv.error.closes"]
    folder = f"cells/{fail['target']}/recv.error.closes"
    assert fail["artefacts"]["trace"] == f"{folder}/trace.jsonl"  # relative to the report directory
    assert fail["artefacts"]["stderr"] == f"{folder}/stderr.txt"
    assert "workdir" not in fail["evidence"] and "files" not in fail["evidence"]
    records = [json.loads(line) for line in (out / fail["artefacts"]["trace"]).read_text().splitlines()]
    assert any(r.get("fault") == "recv.reset:conn=1,after=1" for r in records)  # the whole trace
    assert "Connection reset" in (out / fail["artefacts"]["stderr"]).read_text()
    assert not cells["recv.zero.closes"].get("artefacts") and not cells["et.read.drains-until-eagain"].get("artefacts")
    kept = [p for p in (out / "cells").rglob("*") if p.is_file()]
    assert {p.name for p in kept} <= {"trace.jsonl", "stderr.txt", "stdout.txt"}
    assert sum(p.stat().st_size for p in kept) <= artefacts.TOTAL_CAP
    assert f"files: trace.jsonl, stderr.txt" in proc.stdout and str(out / folder) in proc.stdout
    assert f'href="{folder}/trace.jsonl"' in (out / "report.html").read_text()


def test_without_report_nothing_is_kept_and_the_terminal_says_how_to_get_the_files(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = run("gate", "--server-cmd", f"{mutant_binary(MUTANT)} --port {{port}}", "--model", "select",
               "--cases", "recv.error.closes", "--junit", str(tmp_path / "junit.xml"), env={"TMPDIR": str(scratch)})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert not list(scratch.iterdir()), f"left in the gate's TMPDIR: {list(scratch.iterdir())}"
    assert "were not kept: run again with --report DIR" in proc.stdout
    assert sorted(os.listdir(tmp_path)) == ["junit.xml", "tmp"]


class Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.text, self.ids, self.classes, self.external = [], [], set(), [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        self.classes.append((tag, a.get("class", "")))
        for key in ("src", "href"):
            if a.get(key, "").startswith(("http:", "https:", "//")):
                self.external.append(a[key])

    def handle_data(self, data):
        self.text.append(data)


def test_report_html_is_self_contained_and_explains_the_failure(gated):
    out, _ = gated
    page = Collect()
    page.feed((out / "report.html").read_text())
    text = " ".join(page.text)
    assert "matrix" in page.ids and "verdict" in page.ids
    assert not page.external, page.external
    for needle in ("recv(2) RETURN VALUE", "recv.reset:conn=1,after=1;seed=1", "client transcript",
                   "trace excerpt", "the fix:", "the fix:",
                   f"{IOGATE} replay {out / 'report.json'} recv.error.closes"):  # as invoked; absolute
        assert needle in text, needle
    assert ("tr", "injected") in page.classes  # the injected fault's trace row is highlighted
    assert sum(1 for tag, cls in page.classes if tag == "td" and "cell" in cls.split()) == 3


def test_the_failure_and_its_timeline_come_before_the_matrix_and_n_a_cells_say_why(gated):
    out, _ = gated
    rep = json.loads((out / "report.json").read_text())
    fail = next(r for r in rep["results"] if r["verdict"] == "FAIL")
    t = fail["timeline"]  # made from the trace while it existed: the injected reset marked where it happened
    assert t["bucket_ms"] >= 10 and t["calls"] >= 3 and "recv" in t["counts"]
    assert [rule for _, rule, _ in t["faults"]] == ["recv.reset:conn=1,after=1"]
    assert sum(timeline.counts(t)["recv"]) >= 2
    assert not any("timeline" in r for r in rep["results"] if r["verdict"] != "FAIL")  # failing cells only
    html = (out / "report.html").read_text()
    failure, matrix = html.index('id="cell-'), html.index('id="matrix"')
    svg = html.index('<svg class="timeline"')
    assert failure < svg < matrix and html.index("recv.reset:conn=1,after=1", svg) < matrix
    na = html[html.index('id="not-applicable"'):]
    assert "et.read.drains-until-eagain" in na and "does not apply" in na
    # a merge of the run's report draws the timeline again, from report.json alone
    assert '<svg class="timeline"' in report_html.render(reports.merge([reports.load(str(out))]))


def test_junit_has_failure_skipped_and_a_testcase_per_case(gated):
    junitparser = pytest.importorskip("junitparser")
    out, _ = gated
    xml = junitparser.JUnitXml.fromfile(str(out / "junit.xml"))
    cases = {tc.name: tc for suite in xml for tc in suite}
    assert set(cases) == set(CASES.split(","))
    name = f"iogate-mutant-{MUTANT}"  # the server's name: from its command, as no --name was given
    assert [suite.name for suite in xml] == [name] and {tc.classname for tc in cases.values()} == {name}
    props = {p.name: p.value for p in next(iter(xml)).properties()}
    assert props["iogate.model"] == "select" and props["iogate.seed"] == "1" and props["iogate.protocol"] == "seq"
    assert props["iogate.version"] == __version__ and props["iogate.backend"] == "preload"
    kinds = {name: [type(r).__name__ for r in tc.result] for name, tc in cases.items()}
    assert kinds == {"recv.error.closes": ["Failure"], "recv.zero.closes": [],
                     "et.read.drains-until-eagain": ["Skipped"]}
    failed = cases["recv.error.closes"]
    assert "ECONNRESET" in failed.result[0].text
    assert failed.system_out.startswith("client transcript:") and "client 1" in failed.system_out
    assert "Connection reset by peer" in failed.system_err  # the server's stderr tail
    assert cases["et.read.drains-until-eagain"].result[0].message.startswith("does not apply")


def test_an_error_is_a_junit_error_and_reports_are_written(tmp_path):
    junitparser = pytest.importorskip("junitparser")
    proc = run("gate", "--server-cmd", "sleep 30 {port}", "--model", "blocking", "--cases", "recv.zero.closes",
               "--name", "my server", "--junit", str(tmp_path / "j.xml"), "--report", str(tmp_path),
               env={"IOGATE_TIMEOUT_SCALE": "0.2"})
    assert proc.returncode == 2
    xml = junitparser.JUnitXml.fromfile(str(tmp_path / "j.xml"))
    assert [suite.name for suite in xml] == ["my server"]
    (tc,) = [tc for suite in xml for tc in suite]
    assert tc.name == "recv.zero.closes" and tc.classname == "my server"
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["targets"][0]["name"] == "my server" and rep["results"][0]["target"] == "my server"
    assert "--name 'my server'" in rep["results"][0]["replay"]
    header = next(line for line in proc.stdout.splitlines() if line.startswith("case"))
    assert header.split()[1:] == ["my", "server"]  # the table's column
    assert [type(r).__name__ for r in tc.result] == ["Error"]
    assert json.loads((tmp_path / "report.json").read_text())["counts"]["ERROR"] == 1


def test_the_html_opens_in_headless_chromium_with_the_matrix_visible(gated, tmp_path):
    out, _ = gated
    proc = subprocess.run([str(paths.ROOT / "ci" / "check-report-html"), str(out / "report.html"),
                           str(tmp_path / "shot.png")], capture_output=True, text=True, timeout=300)
    if proc.returncode == 77:
        pytest.skip("no chromium here: " + proc.stderr.strip())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "matrix is laid out and visible" in proc.stdout
    assert os.path.getsize(tmp_path / "shot.png") > 1000


@pytest.mark.skipif(not mutant_binary("blocking--leak-on-eof").exists(), reason="mutant not built")
def test_a_mutation_report_passes_when_every_mutant_fails_its_case(tmp_path):
    proc = run("gate", "--mutants", "--cases", "recv.zero.closes", "--report", str(tmp_path),
               env={"IOGATE_TIMEOUT_SCALE": "0.4"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["mode"] == "mutants" and rep["exit_code"] == 0 and rep["counts"]["FAIL"] == len(rep["results"]) >= 1
