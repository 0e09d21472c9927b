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
from iogate import paths

MUTANT = "select--exit-on-recv-error"
CASES = "recv.error.closes,recv.zero.closes,et.read.drains-until-eagain"

pytestmark = pytest.mark.skipif(not mutant_binary(MUTANT).exists(), reason=f"mutant {MUTANT} is not built")


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    proc = run("gate", "--server-cmd", f"{mutant_binary(MUTANT)} --port {{port}}", "--model", "select",
               "--cases", CASES, "--report", str(out), "--junit", str(out / "junit.xml"))
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


def test_junit_has_failure_skipped_and_a_testcase_per_case(gated):
    junitparser = pytest.importorskip("junitparser")
    out, _ = gated
    xml = junitparser.JUnitXml.fromfile(str(out / "junit.xml"))
    cases = {tc.name: tc for suite in xml for tc in suite}
    assert set(cases) == set(CASES.split(","))
    assert {tc.classname for tc in cases.values()} == {"select"}  # the server's model
    kinds = {name: [type(r).__name__ for r in tc.result] for name, tc in cases.items()}
    assert kinds == {"recv.error.closes": ["Failure"], "recv.zero.closes": [],
                     "et.read.drains-until-eagain": ["Skipped"]}
    assert "ECONNRESET" in cases["recv.error.closes"].result[0].text


def test_an_error_is_a_junit_error_and_reports_are_written(tmp_path):
    junitparser = pytest.importorskip("junitparser")
    proc = run("gate", "--server-cmd", "sleep 30 {port}", "--model", "blocking", "--cases", "recv.zero.closes",
               "--junit", str(tmp_path / "j.xml"), "--report", str(tmp_path), env={"IOGATE_TIMEOUT_SCALE": "0.2"})
    assert proc.returncode == 2
    xml = junitparser.JUnitXml.fromfile(str(tmp_path / "j.xml"))
    (tc,) = [tc for suite in xml for tc in suite]
    assert tc.name == "recv.zero.closes" and tc.classname == "blocking"
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
