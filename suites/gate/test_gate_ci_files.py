"""The CI files users copy (ci/github, ci/gitlab) and the project's own
workflow are valid YAML of the right shape, and run the commands that exist."""
import os

import pytest

from iogate import paths

yaml = pytest.importorskip("yaml")
CI = paths.ROOT / "ci"


def load(rel):
    return yaml.safe_load((CI / rel).read_text())


def commands(doc):
    """Every shell line of a workflow or pipeline."""
    out = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("run", "script", "before_script") and v:
                    out.extend([v] if isinstance(v, str) else v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(doc)
    return "\n".join(out)


@pytest.mark.parametrize("rel", ["github/iogate.yml", "github/project.yml"])
def test_github_workflows(rel):
    doc = load(rel)
    assert doc["name"] and (True in doc or "on" in doc)  # YAML 1.1 reads the key `on` as True
    for name, job in doc["jobs"].items():
        assert job["runs-on"] and job["steps"], name
        for step in job["steps"]:
            assert "run" in step or "uses" in step, (name, step)
    cmd = commands(doc)
    assert "iogate gate" in cmd and "--report" in cmd and "--junit" in cmd
    assert "iogate merge" in cmd and "--shard" in cmd


def test_the_project_workflow_builds_tests_sanitizes_and_gates():
    cmd = commands(load("github/project.yml"))
    for needle in ("./iogate test --quick", "./iogate test\n", "./iogate gate --shard", "ci/check-report-html",
                   "ci/servers/nginx", "--protocol http"):
        assert needle in cmd + "\n", needle


def test_gitlab_template():
    doc = load("gitlab/iogate.gitlab-ci.yml")
    job = doc["iogate"]
    assert job["extends"] == ".iogate-debian" and job["stage"] in doc["stages"]
    assert job["artifacts"]["reports"]["junit"] and job["parallel"] >= 1
    cmd = commands(doc)
    assert "--shard \"$CI_NODE_INDEX/$CI_NODE_TOTAL\"" in cmd and "iogate merge" in cmd


def test_the_files_they_name_exist_and_are_executable():
    for rel in ("check-report-html", "screenshot-report", "servers/nginx"):
        assert os.access(CI / rel, os.X_OK), rel
    wanted = (CI / "debian-packages.txt").read_text().split()
    for pkg in ("nginx", "socat", "python3-jinja2", "python3-junitparser", "python3-yaml", "python3-matplotlib"):
        assert pkg in wanted
