"""A user's repository uses the GitHub Action as a user would: iogate
vendored at .iogate (a copy of this tree), a workflow that builds the
user's server (here: links a mutant or a reference server as ./mysrv),
gates it in two shards with `uses: ./.iogate`, keeps the reports and
merges them with `uses: ./.iogate/ci/github/merge`. The jobs run in
actionrun.py, a stand-in for the runner: the action's own steps run as
written (its packages step, its build step, the gate), the published
actions it uses (actions/cache) are recorded, not run. What a user sees is
checked: the exit status, the outputs, the job summary (the failing cell,
its requirement, its replay line) and the report directory."""
import json
import shutil
import subprocess

import pytest

import actionrun
import citools
from gatehelp import ENV, have, mutant_binary
from iogate import catalogue, models, paths

MUTANT = "select--exit-on-recv-error"  # fails recv.error.closes at once: the test takes seconds
FAILED = "recv.error.closes"
CASES = f"{FAILED},recv.eagain.keeps-connection,uring.*"  # a PASS, the FAIL, N/A cells
WORKFLOW = """\
name: iogate
on: [push, pull_request]
env:
  SERVER_BINARY: {binary}
jobs:
  gate:
    runs-on: ubuntu-latest
    strategy:
      fail-fast: false
      matrix:
        shard: [1, 2]
    steps:
      - uses: actions/checkout@v4
      - name: your build
        run: ln -sf "$SERVER_BINARY" mysrv
      - name: gate
        id: iogate
        uses: ./.iogate
        with:
          server-cmd: ./mysrv --port {{port}}
          cases: {cases}
          shard: ${{{{ matrix.shard }}}}/2
          report: iogate-shard-${{{{ matrix.shard }}}}
          args: --seed 1 --jobs '2'
      - name: keep the report
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: iogate-shard-${{{{ matrix.shard }}}}
          path: ${{{{ steps.iogate.outputs.report }}}}
      - name: after the gate
        run: echo "the gate passed"
  merge:
    needs: gate
    if: always()
    runs-on: ubuntu-latest
    steps:
      - uses: actions/download-artifact@v4
        with:
          pattern: iogate-shard-*
          path: .
      - name: merge
        id: merge
        uses: ./.iogate/ci/github/merge
        with:
          reports: iogate-shard-*/
  pass:
    runs-on: ubuntu-latest
    steps:
      - name: your build
        run: ln -sf {passing} passing
      - name: gate
        id: iogate
        uses: ./.iogate
        with:
          server-cmd: ./passing --port {{port}}
          cases: recv.eagain.keeps-connection
          report: passing-report
  badargs:
    runs-on: ubuntu-latest
    steps:
      - name: gate
        uses: ./.iogate
        with:
          server-cmd: ./passing --port {{port}}
          args: --seed 'unbalanced
"""

pytestmark = pytest.mark.skipif(not (mutant_binary(MUTANT).exists() and have("select")),
                                reason="the mutant or the select reference server is not built")


def user_repository(root):
    """The user's checkout: iogate vendored at .iogate (what the build needs comes from this tree's build,
    IOGATE_BUILD_DIR: the test compiles nothing), the workflow in .github/workflows."""
    shutil.copytree(paths.ROOT, root / ".iogate", symlinks=True, ignore=shutil.ignore_patterns(
        "build", "build-san", ".git", "__pycache__", ".pytest_cache", ".tox", "out"))
    (root / ".github" / "workflows").mkdir(parents=True)
    wf = root / ".github" / "workflows" / "iogate.yml"
    wf.write_text(WORKFLOW.format(binary=mutant_binary(MUTANT), cases=CASES,
                                  passing=models.model("select").binary))
    return wf


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The user's jobs, once for the module: gate shards 1 and 2, merge, and a passing gate."""
    root = tmp_path_factory.mktemp("user-repo")
    wf = user_repository(root)
    scratch = tmp_path_factory.mktemp("runner")
    env = dict(ENV, IOGATE_BUILD_DIR=str(paths.BUILD))
    out = {"root": root, "workflow": wf}
    for name, job, matrix in (("shard1", "gate", {"shard": 1}), ("shard2", "gate", {"shard": 2}),
                              ("merge", "merge", None), ("pass", "pass", None), ("badargs", "badargs", None)):
        out[name] = actionrun.Runner(root, str(scratch), env=env).job(".github/workflows/iogate.yml", job, matrix)
    return out


def test_the_users_workflow_is_valid(runs):
    proc = subprocess.run([str(citools.tools()["action-validator"]), str(runs["workflow"])], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_failing_shard_fails_its_step_with_the_gates_exit_status(runs):
    one, two = runs["shard1"], runs["shard2"]
    assert not one.failed and one.step("after the gate").status == "success"
    gate = two.step("gate")
    assert two.failed and gate.status == "failure" and gate.exit_code == 1, gate.log
    assert gate.outputs == {"report": "iogate-shard-2", "exit-code": "1"}
    assert two.step("after the gate").status == "skipped"
    keep = two.step("keep the report")  # if: always(): the report is kept from a failing gate too
    assert keep.status == "not run" and keep.given["path"] == "iogate-shard-2"
    for name in ("report.json", "report.html", "junit.xml"):
        assert (runs["root"] / "iogate-shard-2" / name).is_file(), name
    argv = json.loads((runs["root"] / "iogate-shard-2" / "report.json").read_text())["argv"]
    assert argv[-4:] == ["--seed", "1", "--jobs", "2"] and "--shard" in argv, argv  # the input `args`, split


def test_the_action_caches_its_build_and_reuses_the_one_it_is_given(runs):
    gate = runs["shard2"].step("gate")
    assert "[iogate build cache: not run]" in gate.log and "[iogate build: success]" in gate.log
    assert "using the build in" in gate.log  # IOGATE_NO_BUILD=1: nothing compiled, nothing removed
    assert "[iogate build cache (save): not run]" in gate.log  # no hit: the build is saved before the gate


def test_the_job_summary_names_the_failing_cell_its_requirement_and_replay_line(runs):
    summary = runs["shard2"].summary
    report = json.loads((runs["root"] / "iogate-shard-2" / "report.json").read_text())
    cell = next(c for c in report["results"] if c["case"] == FAILED)
    quote = catalogue.find(FAILED).requirement.quote
    assert "### iogate FAIL: mysrv (shard 2/2)" in summary and "**exit 1**" in summary
    row = next(line for line in summary.splitlines() if line.startswith("| mysrv |"))
    assert f"`{FAILED}`" in row and "| FAIL |" in row and quote in row, row
    assert f"```sh\n{cell['replay']}\n```" in summary
    assert "recv.eagain.keeps-connection" not in summary.split("<details>")[0]  # a PASS is not listed


def test_the_merge_action_gives_the_whole_matrix_its_exit_status_and_summary(runs):
    merge = runs["merge"].step("merge")
    assert merge.status == "failure" and merge.exit_code == 1, merge.log
    assert merge.outputs == {"report": "iogate-merged", "exit-code": "1"}
    summary = runs["merge"].summary
    assert "### iogate FAIL: mysrv\n" in summary and "1 PASS, 0 WARN, 1 FAIL, 0 ERROR, 3 N/A" in summary
    assert f"`{FAILED}`" in summary and "<details><summary>3 N/A" in summary
    merged = json.loads((runs["root"] / "iogate-merged" / "report.json").read_text())
    assert merged["exit_code"] == 1 and len(merged["results"]) == 5


def test_a_passing_gate_passes_with_a_summary_that_lists_no_failure(runs):
    job = runs["pass"]
    gate = job.step("gate")
    assert not job.failed and gate.outputs == {"report": "passing-report", "exit-code": "0"}, gate.log
    assert "### iogate PASS: passing" in job.summary and "**exit 0**" in job.summary
    assert "Failing cells" not in job.summary and "1 PASS, 0 WARN, 0 FAIL" in job.summary


def test_extra_options_that_are_not_shell_words_stop_the_step_with_one_line(runs):
    gate = runs["badargs"].step("gate")
    assert gate.status == "failure" and gate.exit_code == 2, gate.log
    assert "iogate: the extra options are not shell words: ValueError: No closing quotation" in gate.log
    assert "iogate gate: exit" not in gate.log  # the gate never ran
