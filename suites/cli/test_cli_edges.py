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
    base = {"format": "iogate-report", "version": 1, "targets": [{"name": "srv", "command": "srv {port}"}],
            "cases": [{"id": "recv.zero.closes"}], "results": [dict(GOOD_RESULT)]}
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
