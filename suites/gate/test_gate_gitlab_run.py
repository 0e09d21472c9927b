"""The GitLab template runs as a user's pipeline runs it: a project that
vendors iogate at .iogate, includes the template, extends `.iogate-gate` in
two parallel jobs and `.iogate-merge` after them, run by gitlab-ci-local
with its shell executor (the jobs' scripts as written: the fetch, the
packages, the cached build step, the gate, the merge; no container).
IOGATE_NO_BUILD and IOGATE_BUILD_DIR point the build step at this tree's
build: nothing is compiled."""
import json
import shutil
import subprocess

import pytest

import citools
from gatehelp import ENV, mutant_binary
from iogate import paths

MUTANT = "select--exit-on-recv-error"
PIPELINE = """\
stages: [build, test]
include:
  - local: ci/iogate.gitlab-ci.yml
iogate:
  extends: .iogate-gate
  stage: test
  parallel: 2
  variables:
    IOGATE_SERVER_CMD: ./mysrv --port {{port}}
    IOGATE_CASES: recv.error.closes,recv.eagain.keeps-connection,uring.*
    IOGATE_ARGS: --seed 1 --jobs '2'
  before_script:
    - ln -sf {binary} mysrv
iogate-report:
  extends: .iogate-merge
  stage: test
  needs: [iogate]
"""


@pytest.mark.skipif(not mutant_binary(MUTANT).exists(), reason="the mutant is not built")
def test_the_gitlab_jobs_gate_in_shards_and_merge(tmp_path):
    tool = citools.tools()["gitlab-ci-local"]
    root = tmp_path / "project"
    shutil.copytree(paths.ROOT, root / ".iogate", symlinks=True, ignore=shutil.ignore_patterns(
        "build", "build-san", ".git", "__pycache__", ".pytest_cache", ".tox", "out"))
    (root / "ci").mkdir()
    shutil.copy(paths.ROOT / "ci" / "gitlab" / "iogate.gitlab-ci.yml", root / "ci")
    (root / ".gitlab-ci.yml").write_text(PIPELINE.format(binary=mutant_binary(MUTANT)))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "sample"],
                ["remote", "add", "origin", "file:///nonexistent/sample.git"]):
        subprocess.run(git + cmd, cwd=root, check=True, capture_output=True, timeout=60)
    run = subprocess.run([str(tool), "--force-shell-executor", "--variable", "IOGATE_NO_BUILD=1",
                          "--variable", f"IOGATE_BUILD_DIR={paths.BUILD}"], cwd=root, capture_output=True, text=True,
                         env=dict(ENV, HOME=str(tmp_path / "home")), timeout=600)
    log = run.stdout + run.stderr
    assert run.returncode != 0, log  # a shard failed: the pipeline fails
    assert " PASS  iogate: [1/2]" in log and " FAIL  iogate: [2/2]" in log and " FAIL  iogate-report" in log, log
    shard = [json.loads((root / "iogate-report" / f"shard-{i}" / "report.json").read_text()) for i in (1, 2)]
    assert [r["exit_code"] for r in shard] == [0, 1]
    assert shard[1]["argv"][-4:] == ["--seed", "1", "--jobs", "2"] and "2/2" in shard[1]["argv"], shard[1]["argv"]
    assert (root / "iogate-report" / "shard-2" / "junit.xml").is_file()
    merged = json.loads((root / "iogate-merged" / "report.json").read_text())
    assert merged["exit_code"] == 1 and len(merged["results"]) == 5 and (root / "iogate-merged" / "junit.xml").is_file()
