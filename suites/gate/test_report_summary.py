"""--summary FILE (report_summary.py): the Markdown a job summary shows,
rendered in-process from report dicts; the file is appended to; a path that
cannot be written is one line and exit 2 before anything runs."""
import pytest

from gatehelp import binary, have, run
from iogate import outcome, report_summary, reports

CASE = {"id": "recv.zero.closes", "requirement": {"source": "recv(2)", "quote": "returns 0 | at EOF"},
        "teaching": {"bug": "b", "symptom": "s", "fix": "f"}}


def cell(case, verdict, message="", replay=None):
    return {"target": "srv", "case": case, "verdict": verdict, "message": message,
            "replay": replay or f"iogate gate --server-cmd 'srv {{port}}' --cases {case} --seed 1"}


def report(cells, **kw):
    rep = {"results": cells, "cases": [CASE], "targets": [{"name": "srv"}], "protocol": "echo", "seed": 1,
           "strict": False, **kw}
    reports.settle(rep)
    return rep


def test_a_failing_cell_has_a_row_with_its_requirement_and_a_replay_block():
    text = report_summary.render(report([cell("recv.zero.closes", "FAIL", "leaks fds\nsecond line"),
                                         cell("other", "PASS")]))
    assert text.startswith("### iogate FAIL: srv\n") and "**exit 1**: 1 case(s) failed: recv.zero.closes" in text
    row = next(line for line in text.splitlines() if line.startswith("| srv |"))
    assert row == '| srv | `recv.zero.closes` | FAIL | recv(2): "returns 0 \\| at EOF" | leaks fds |'
    assert "```sh\niogate gate --server-cmd 'srv {port}' --cases recv.zero.closes --seed 1\n```" in text
    assert "other" not in text and "1 PASS, 0 WARN, 1 FAIL, 0 ERROR, 0 N/A" in text


def test_warnings_are_apart_and_fail_under_strict():
    cells = [cell("recv.zero.closes", "WARN", "violated under a robustness fault")]
    plain = report_summary.render(report(cells))
    assert "#### Warnings" in plain and "Failing cells" not in plain and "**exit 0**" in plain
    strict = report_summary.render(report(cells, strict=True))
    assert "#### Failing cells" in strict and "WARN (fails under --strict)" in strict and "**exit 1**" in strict


def test_not_applicable_cells_are_counted_and_their_reasons_collapsed():
    text = report_summary.render(report([cell("a", "N/A", "does not apply: io_uring models"),
                                         cell("b", "N/A", "does not apply: io_uring models"), cell("c", "PASS")]))
    assert "<details><summary>2 N/A" in text and "* does not apply: io_uring models: `a`, `b`" in text


def test_markup_and_fences_in_a_cell_stay_inert():
    nasty = cell("recv.zero.closes", "ERROR", "<script>x</script> | ```", replay="echo '```'")
    text = report_summary.render(report([nasty]))
    assert "&lt;script&gt;" in text and "<script>" not in text
    assert "````sh\necho '```'\n````" in text  # a fence longer than any run of backticks inside


def test_the_mutation_matrix_lists_the_mutants_not_caught():
    cells = [cell("recv.zero.closes", "FAIL", "the leak shows"), dict(cell("other", "PASS"), target="m2")]
    text = report_summary.render(report(cells, mode="mutants"))
    assert "#### Mutants not caught (1)" in text and "| m2 | `other` | PASS |" in text and "the leak shows" not in text


def test_a_long_list_is_cut_with_a_count():
    cells = [cell(f"c{i}", "FAIL", "x") for i in range(report_summary.LISTED + 7)]
    text = report_summary.render(report(cells))
    assert text.count("| srv |") == report_summary.LISTED and "… and 7 more" in text


def test_the_summary_is_appended(tmp_path):
    path = tmp_path / "summary.md"
    path.write_text("an earlier step's text\n")
    rep = report([cell("recv.zero.closes", "FAIL", "x")])
    report_summary.append(rep, str(path))
    report_summary.append(rep, str(path))
    text = path.read_text()
    assert text.startswith("an earlier step's text\n") and text.count("### iogate FAIL") == 2
    assert outcome.count_text(rep["counts"]) in text


def test_a_summary_that_cannot_be_written_is_one_line_and_exit_2(tmp_path):
    plain = tmp_path / "file"
    plain.write_text("")
    for bad, why in ((tmp_path, "is a directory"), (plain / "s.md", "is not a directory"),
                     (tmp_path / "no" / "s.md", "no directory")):
        out = run("gate", "--server-cmd", "x {port}", "--summary", str(bad))
        assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
        assert f"cannot write --summary {bad}" in out.stderr and why in out.stderr, out.stderr
    if not have("select"):
        pytest.skip("the select reference server is not built")
    rep = tmp_path / "r"  # a real report (one N/A cell: no server judged) to merge
    out = run("gate", "--server-cmd", f"{binary('select')} --port {{port}}", "--cases", "uring.short-recv.resubmits",
              "--report", str(rep))
    assert (rep / "report.json").is_file(), out.stderr
    out = run("merge", str(tmp_path / "m"), str(rep), "--summary", str(tmp_path))
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert f"cannot write --summary {tmp_path}: {tmp_path} is a directory" in out.stderr
    assert not (tmp_path / "m").exists()
