"""Every CI template passes a real validator: action-validator (GitHub's
workflow and action schemas) and gitlab-ci-local (GitLab CI: the include,
`extends`, the pipeline schema), both from npm (citools.py); a broken copy
of each fails it, so the validators can fail. The GitLab template, included
by a sample project with stages of its own, leaves those stages as they are."""
import json
import os
import shutil
import subprocess

import pytest

import citools
from iogate import paths

yaml = pytest.importorskip("yaml")
GITHUB = ["action.yml", "ci/github/merge/action.yml", "ci/github/iogate.yml", "ci/github/project.yml"]
GITLAB = paths.ROOT / "ci" / "gitlab" / "iogate.gitlab-ci.yml"
TIMEOUT = 120  # one node process, well under a second each here


@pytest.fixture(scope="module")
def bins():
    return citools.tools()


def validate(bins, path):
    proc = subprocess.run([str(bins["action-validator"]), str(path)], capture_output=True, text=True,
                          timeout=TIMEOUT)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("rel", GITHUB)
def test_github_template_is_valid(bins, rel):
    rc, out = validate(bins, paths.ROOT / rel)
    assert rc == 0, out


@pytest.mark.parametrize("rel,old,new,error", [
    ("ci/github/iogate.yml", "runs-on: ubuntu-latest", "runs_on: ubuntu-latest", "runs_on"),
    ("action.yml", "using: composite", "using: compost", "/runs/using"),
    ("action.yml", "      shell: bash\n", "", "shell"),
])
def test_a_broken_github_template_fails(bins, tmp_path, rel, old, new, error):
    text = (paths.ROOT / rel).read_text()
    assert old in text
    broken = tmp_path / os.path.basename(rel)  # the name tells a workflow from an action
    broken.write_text(text.replace(old, new, 1))
    rc, out = validate(bins, broken)
    assert rc != 0 and error in out, out


def gitlab_project(root, template_text):
    """A user's repository: its own stages, the template included locally, jobs that extend it."""
    (root / "ci").mkdir(parents=True)
    (root / "ci" / "iogate.gitlab-ci.yml").write_text(template_text)
    (root / ".gitlab-ci.yml").write_text("""\
stages: [build, test, deploy]
include:
  - local: ci/iogate.gitlab-ci.yml
variables:
  IOGATE_SERVER_CMD: ./mysrv --port {port}
build:
  stage: build
  script: [make]
iogate:
  extends: .iogate-gate
  stage: test
  parallel: 2
  variables:
    IOGATE_PROTOCOL: echo
  before_script: [make]
iogate-report:
  extends: .iogate-merge
  stage: deploy
  needs: [iogate]
""")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "sample"],
                ["remote", "add", "origin", "file:///nonexistent/sample.git"]):
        subprocess.run(git + cmd, cwd=root, check=True, capture_output=True, timeout=TIMEOUT)


def gitlab_ci_local(bins, root, *args):
    env = dict(os.environ, HOME=str(root.parent / "home"))
    return subprocess.run([str(bins["gitlab-ci-local"]), *args], cwd=root, capture_output=True, text=True,
                          env=env, timeout=TIMEOUT)


def test_the_gitlab_template_defines_hidden_jobs_only():
    doc = yaml.safe_load(GITLAB.read_text())
    assert "stages" not in doc and "variables" not in doc and "default" not in doc
    assert {".iogate-gate", ".iogate-merge"} <= set(doc) and all(k.startswith(".") for k in doc), list(doc)
    text = GITLAB.read_text()
    assert "://" not in text.replace("$CI_SERVER_URL", "")  # no placeholder URL: IOGATE_REPO is the user's


def test_the_gitlab_template_renders_in_a_users_project(bins, tmp_path):
    root = tmp_path / "project"
    gitlab_project(root, GITLAB.read_text())
    listed = gitlab_ci_local(bins, root, "--list-json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    jobs = {j["name"]: j for j in json.loads(listed.stdout[listed.stdout.index("["):])}
    assert {"build", "iogate: [1/2]", "iogate: [2/2]", "iogate-report"} <= set(jobs), list(jobs)
    assert jobs["iogate-report"]["when"] == "always" and jobs["iogate: [1/2]"]["stage"] == "test"
    preview = gitlab_ci_local(bins, root, "--preview")
    assert preview.returncode == 0, preview.stdout + preview.stderr
    doc = yaml.safe_load(preview.stdout[preview.stdout.index("---"):])
    assert doc["stages"] == [".pre", "build", "test", "deploy", ".post"]  # the user's, untouched
    gate, merge = doc["iogate"], doc["iogate-report"]
    assert gate["before_script"] == ["make"] and gate["variables"]["IOGATE_PROTOCOL"] == "echo"
    script = "\n".join(gate["script"])
    for needle in ("iogate.ci_action missing", "iogate.ci_action build", "gate --no-install",
                   '--shard "$CI_NODE_INDEX/$CI_NODE_TOTAL"', "--junit"):
        assert needle in script, needle
    assert gate["cache"][0]["paths"] == ["$IOGATE_DIR/build/"]
    assert "merge" in "\n".join(merge["script"]) and merge["artifacts"]["reports"]["junit"]


def test_a_broken_gitlab_template_fails(bins, tmp_path):
    text = GITLAB.read_text()
    assert "    when: always\n  script:" in text
    root = tmp_path / "project"
    gitlab_project(root, text.replace("    when: always\n  script:", "    when: sometimes\n  script:", 1))
    listed = gitlab_ci_local(bins, root, "--list")
    assert listed.returncode != 0 and "when" in listed.stdout + listed.stderr, listed.stdout + listed.stderr
