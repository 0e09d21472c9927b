"""The edges of the command line keep the exit contract (docs/ci.md, "Exit
status"): a file that is not a report, an output that cannot be written,
shards of different matrices, text that is not UTF-8, a bad timeout
scale: each is one line naming what is wrong and exit 2, never a
traceback, never 0 or 1."""
import json

import pytest

from gatehelp import run

GOOD_RESULT = {"target": "srv", "case": "recv.zero.closes", "verdict": "PASS", "plan": "", "seed": 1,
               "protocol": "seq"}


def report_with(**fields):
    """A small report that replay and merge can read, with fields replaced."""
    from iogate import catalogue, outcome
    base = {"format": "iogate-report", "version": 1, "targets": [{"name": "srv", "command": "srv {port}"}],
            "cases": [outcome.case_dict(catalogue.find("recv.zero.closes"))], "results": [dict(GOOD_RESULT)]}
    return dict(base, **fields)


def one_line(out):
    """The run printed exactly one line on stderr, nothing on stdout, no traceback."""
    lines = out.stderr.strip().splitlines()
    return len(lines) == 1 and not out.stdout and "Traceback" not in out.stderr and "internal error" not in out.stderr


NOT_REPORTS = {
    "a list": ([], "the top level is an array"),
    "null": (None, "the top level is null"),
    "a number": (3, "the top level is a number"),
    "another format": ({"format": "x"}, 'its "format" is not "iogate-report"'),
    "no results": ({k: v for k, v in report_with().items() if k != "results"}, 'it has no "results"'),
    "results not a list": (report_with(results={}), "results is an object"),
    "a result that is a string": (report_with(results=["PASS"]), "results[0] is a string"),
    "a result without case": (report_with(results=[{k: v for k, v in GOOD_RESULT.items() if k != "case"}]),
                              'results[0] has no "case"'),
    "an unknown verdict": (report_with(results=[dict(GOOD_RESULT, verdict="MAYBE")]), "results[0] has the verdict"),
    "a seed that is text": (report_with(results=[dict(GOOD_RESULT, seed="1")]), "results[0].seed is a string"),
    "a target without name": (report_with(targets=[{"command": "x"}]), 'targets[0] has no "name"'),
    "a bad shard": (report_with(shard={"index": 3, "count": 2}), "its shard is 3/2"),
    "a case without requirement": (report_with(cases=[{"id": "recv.zero.closes", "teaching": {}}]),
                                   'cases[0] has no "requirement"'),
    "a teaching without fix": (
        report_with(cases=[dict(report_with()["cases"][0], teaching={"bug": "", "symptom": ""})]),
        'cases[0].teaching has no "fix"'),
    "planned as text": (report_with(planned="5"), "planned is a string"),
}


@pytest.mark.parametrize("name", NOT_REPORTS)
@pytest.mark.parametrize("command", ["replay", "merge"])
def test_valid_json_that_is_not_a_report_is_one_line_naming_the_file_and_exit_2(tmp_path, name, command):
    content, why = NOT_REPORTS[name]
    path = tmp_path / "report.json"
    path.write_text(json.dumps(content))
    args = ["replay", str(path), "recv.zero.closes"] if command == "replay" else \
        ["merge", str(tmp_path / "out"), str(path)]
    out = run(*args, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert one_line(out), out.stdout + out.stderr
    assert f"iogate {command}: {path} is not an iogate report: {why}" in out.stderr, out.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content,why", [pytest.param(b"\xff\xfe", "not UTF-8", id="not-utf8"),
                                         pytest.param(b"[" * 100000, "nested too deep", id="too-deep")])
def test_a_report_that_python_cannot_parse_is_one_line_and_exit_2(tmp_path, content, why):
    path = tmp_path / "report.json"
    path.write_bytes(content)
    out = run("merge", str(tmp_path / "out"), str(path), timeout=60)
    assert out.returncode == 2 and one_line(out) and why in out.stderr, out.stdout + out.stderr


# -- outputs that cannot be written: refused before anything runs -------------------------------------------

def unwritable(tmp_path):
    """Paths no one can write, root included: under a regular file, under /proc."""
    (tmp_path / "afile").write_text("")
    return {"under a file": str(tmp_path / "afile" / "out"), "under /proc": "/proc/iogate-no-such/out"}


@pytest.mark.parametrize("where", ["under a file", "under /proc"])
def test_merge_into_a_directory_that_cannot_be_made_is_one_line_and_exit_2(tmp_path, where):
    (tmp_path / "report.json").write_text(json.dumps(report_with()))
    out = run("merge", unwritable(tmp_path)[where], str(tmp_path / "report.json"), timeout=60)
    assert out.returncode == 2 and one_line(out), out.stdout + out.stderr
    assert out.stderr.startswith(f"iogate merge: cannot write {unwritable(tmp_path)[where]}: "), out.stderr


GATES = {"mutants": ["--mutants", "--cases", "recv.zero.closes"],
         "reference servers": ["--cases", "recv.zero.closes"],
         "server-cmd": ["--server-cmd", "no-such-server --port {port}", "--model", "epoll_et",
                        "--cases", "recv.zero.closes"]}


@pytest.mark.parametrize("mode", GATES)
@pytest.mark.parametrize("option", ["--report", "--junit"])
@pytest.mark.parametrize("where", ["under a file", "under /proc"])
def test_a_gate_report_that_cannot_be_written_is_refused_before_any_cell(tmp_path, mode, option, where):
    path = unwritable(tmp_path)[where] + ("/junit.xml" if option == "--junit" else "")
    out = run("gate", *GATES[mode], option, path, timeout=300)
    assert out.returncode == 2, out.stdout + out.stderr
    assert one_line(out), out.stdout + out.stderr  # no cell, no progress line: refused first
    assert out.stderr.startswith(f"iogate gate: cannot write {option} {path}: "), out.stderr


def test_a_report_directory_that_is_a_file_and_a_junit_that_is_a_directory_are_refused(tmp_path):
    (tmp_path / "afile").write_text("")
    for option, path in (("--report", tmp_path / "afile"), ("--junit", tmp_path)):
        out = run("gate", "--cases", "recv.zero.closes", option, str(path), timeout=60)
        assert out.returncode == 2 and one_line(out) and "cannot write" in out.stderr, out.stdout + out.stderr


def test_run_trace_and_record_out_that_cannot_be_written_are_one_line_and_exit_2(tmp_path):
    path = unwritable(tmp_path)["under a file"]
    out = run("run", "--faults", "recv.partial:max=1", "--trace", path, "--", "true", timeout=60)
    assert out.returncode == 2 and one_line(out) and f"cannot write --trace {path}" in out.stderr, out.stderr
    out = run("record", "--server-cmd", "srv {port}", "--out", path, "--", "client", "{port}", timeout=60)
    assert out.returncode == 2 and one_line(out) and f"cannot write --out {path}" in out.stderr, out.stderr


# -- merge: shards of one matrix only ------------------------------------------------------------------------

CASES = "recv.zero.closes,eintr.retried,idle.no-spin"


@pytest.fixture(scope="module")
def shard_reports(tmp_path_factory):
    """Shard reports of several matrices: (model, cases, I/N) -> report directory."""
    from gatehelp import binary, have
    if not have("epoll_et") or not have("epoll_lt"):
        pytest.skip("epoll_et or epoll_lt is not built")
    made = {}
    for model, cases, part in (("epoll_et", CASES, "1/2"), ("epoll_et", CASES, "2/2"), ("epoll_et", CASES, "2/3"),
                               ("epoll_lt", CASES, "2/2"), ("epoll_et", "recv.zero.closes,eintr.retried", "2/2")):
        where = tmp_path_factory.mktemp("shard")
        out = run("gate", "--server-cmd", f"{binary(model)} --port {{port}}", "--model", model, "--cases", cases,
                  "--shard", part, "--report", str(where))
        assert out.returncode == 0, out.stdout + out.stderr
        made[(model, cases, part)] = str(where)
    return made


@pytest.mark.parametrize("other,why", [
    pytest.param(("epoll_et", CASES, "2/3"), "the shards come from different splits: {a} is shard 1/2, {b} is shard "
                 "2/3", id="other-N"),
    pytest.param(("epoll_lt", CASES, "2/2"), "{a} and {b} are shards of different matrices: their servers differ",
                 id="other-server"),
    pytest.param(("epoll_et", "recv.zero.closes,eintr.retried", "2/2"),
                 "{a} and {b} are shards of different matrices: their cases differ (idle.no-spin)", id="other-cases"),
])
def test_merging_shards_of_different_matrices_is_refused_in_one_line(shard_reports, tmp_path, other, why):
    a, b = shard_reports[("epoll_et", CASES, "1/2")], shard_reports[other]
    out = run("merge", str(tmp_path / "out"), a, b, timeout=60)
    assert out.returncode == 2 and one_line(out), out.stdout + out.stderr
    assert f"iogate merge: {why.format(a=a, b=b)}" in out.stderr, out.stderr
    assert not (tmp_path / "out").exists()


def test_the_shards_of_one_matrix_still_merge(shard_reports, tmp_path):
    parts = [shard_reports[("epoll_et", CASES, p)] for p in ("1/2", "2/2")]
    out = run("merge", str(tmp_path / "out"), *parts, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    merged = json.loads((tmp_path / "out" / "report.json").read_text())
    assert len(merged["results"]) == 3 and not merged["incomplete"]


def test_a_whole_run_and_a_shard_are_not_merged(tmp_path):
    from iogate import reports
    whole = reports.build([], [], [], shard=None)
    part = reports.build([], [], [], shard={"index": 1, "count": 2})
    with pytest.raises(ValueError, match="b.json is a whole run and a.json a shard"):
        reports.merge([part, whole], names=["a.json", "b.json"])


def test_mutation_shards_of_other_mutant_sets_are_refused():
    from iogate import reports, shards
    one = reports.build([], [], [], mode="mutants",
                        shard={"index": 1, "count": 2, **shards.identity([("m1", "c1"), ("m2", "c2")])})
    two = reports.build([], [], [], mode="mutants",
                        shard={"index": 2, "count": 2, **shards.identity([("m1", "c1"), ("m3", "c3")])})
    with pytest.raises(ValueError, match="a.json and b.json are shards of different matrices"):
        reports.merge([one, two], names=["a.json", "b.json"])


def test_every_shard_present_but_cells_without_a_result_is_incomplete():
    from iogate import reports, shards
    from iogate.runner import Result
    from iogate.verdicts import Verdict
    ident = shards.identity([("srv", "c1"), ("srv", "c2"), ("srv", "c3")])
    halves = [reports.build([], [], [Result("srv", f"c{i}", Verdict.PASS, seed=1)],
                            shard={"index": i, "count": 2, **ident}) for i in (1, 2)]
    merged = reports.merge(halves)
    assert merged["exit_code"] == 2 and "1 of the 3 cells of the matrix have no result" in merged["exit_reason"]


# -- text that is not UTF-8 ------------------------------------------------------------------------------------

def run_bytes(*args, timeout=60):
    """run() with arguments given as bytes, as a shell passes $'\\xff'."""
    import subprocess
    from gatehelp import ENV, IOGATE
    return subprocess.run([IOGATE, *args], capture_output=True, timeout=timeout, env=ENV)


def test_a_plan_that_is_not_utf8_is_the_bad_plan_line_and_exit_2():
    out = run_bytes("run", "--faults", b"\xff", "--", "true")
    assert out.returncode == 2 and not out.stdout, out
    assert out.stderr == b"iogate: bad plan: not UTF-8 text: '\\xff'\n", out.stderr


def test_the_shims_own_plan_error_quoting_bytes_is_read_as_text():
    from iogate import plans
    with pytest.raises(ValueError, match=r"bad plan: rule 1 .*\\xff"):
        plans.validate("recv.partial:max=\udcff")  # the byte 0xff, as argv gives it


@pytest.mark.parametrize("args,named", [
    ((b"gate", b"--server-cmd", b"\xff {port}", b"--cases", b"recv.zero.closes"), b"iogate gate: --server-cmd"),
    ((b"gate", b"--cases", b"recv.\xff"), b"iogate gate: --cases"),
    ((b"gate", b"--cases", b"recv.zero.closes", b"--report=/proc/iogate-no-such/r\xff"), b"iogate gate: --report"),
    ((b"merge", b"/proc/iogate-no-such/out\xff", b"report.json"), b"iogate merge: OUT"),
    ((b"replay", b"report.json", b"recv.\xff"), b"iogate replay: CASE"),
    ((b"record", b"--server-cmd", b"srv {port}", b"--out", b"t\xff", b"--", b"client", b"{port}"),
     b"iogate record: --out"),
], ids=["gate-server-cmd", "gate-cases", "gate-report", "merge-out", "replay-case", "record-out"])
def test_an_option_that_is_not_utf8_is_one_line_naming_it_and_exit_2(args, named):
    out = run_bytes(*args)
    assert out.returncode == 2 and not out.stdout, out
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(named + b" is not UTF-8 text: ") and b"\\xff" in lines[0], lines


def test_the_program_of_run_gets_its_bytes_as_given():
    out = run_bytes("run", "--faults", "recv.partial:max=1", "--", "printf", "%s", b"\xff")
    assert out.returncode == 0 and out.stdout == b"\xff", out


# -- IOGATE_TIMEOUT_SCALE ----------------------------------------------------------------------------------------

BAD_SCALES = ["abc", "-1", "0", "inf", "1e400", "nan", "", "1e300"]
TIMED = {"gate server-cmd": ["gate", "--server-cmd", "srv --port {port}", "--model", "epoll_et",
                             "--cases", "recv.zero.closes"],
         "gate reference servers": ["gate", "--cases", "recv.zero.closes"],
         "run": ["run", "--faults", "recv.partial:max=1", "--", "true"],
         "replay": ["replay", "REPORT", "recv.zero.closes"],
         "record": ["record", "--server-cmd", "srv {port}", "--out", "OUT", "--", "client", "{port}"],
         "test": ["test", "--quick"]}


@pytest.mark.parametrize("value", BAD_SCALES)
@pytest.mark.parametrize("command", TIMED)
def test_a_bad_timeout_scale_is_one_line_and_exit_2_before_anything_runs(tmp_path, command, value):
    (tmp_path / "report.json").write_text(json.dumps(report_with()))
    args = [str(tmp_path / "report.json") if a == "REPORT" else str(tmp_path / "t") if a == "OUT" else a
            for a in TIMED[command]]
    out = run(*args, env={"IOGATE_TIMEOUT_SCALE": value}, timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    assert one_line(out) and out.stderr.startswith("iogate: IOGATE_TIMEOUT_SCALE must be a number"), out.stderr


@pytest.mark.parametrize("value", BAD_SCALES)
def test_a_bad_timeout_scale_met_outside_the_command_line_exits_2_too(monkeypatch, capsys, value):
    from iogate import timeouts
    monkeypatch.setenv("IOGATE_TIMEOUT_SCALE", value)
    with pytest.raises(SystemExit) as e:
        timeouts.scale()
    assert e.value.code == 2 and "IOGATE_TIMEOUT_SCALE" in capsys.readouterr().err


def test_a_good_timeout_scale_is_taken(monkeypatch):
    from iogate import timeouts
    monkeypatch.setenv("IOGATE_TIMEOUT_SCALE", "2.5")
    assert timeouts.scale_problem() is None and timeouts.scale() == 2.5
