"""The CI files users copy or use (action.yml, ci/github, ci/gitlab) and
the project's own workflow are YAML of the right shape and run the commands
that exist (the validators' verdict: test_gate_ci_validate.py)."""
import os
import re

import pytest

from iogate import __version__, bootstrap, paths

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


def test_the_project_workflow_is_a_workflow():
    doc = load("github/project.yml")
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


def test_the_action_maps_its_inputs_to_the_gate():
    action = yaml.safe_load((paths.ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    assert {"server-cmd", "protocol", "cases", "shard", "name", "report", "strict", "tls", "args"} <= set(
        action["inputs"])
    assert action["inputs"]["server-cmd"]["required"] and action["inputs"]["report"]["default"] == "iogate-report"
    assert set(action["outputs"]) == {"report", "exit-code"}
    steps = action["runs"]["steps"]
    uses = [s.get("uses") for s in steps]
    assert "actions/cache/restore@v4" in uses and "actions/cache/save@v4" in uses
    cmd = commands(action["runs"])
    for needle in ('--summary "$GITHUB_STEP_SUMMARY"', '--report "$IOGATE_REPORT"', '--junit "$IOGATE_REPORT/junit.xml"',
                   "iogate.ci_action missing gate", "iogate.ci_action key", "iogate.ci_action build", 'exit "$status"'):
        assert needle in cmd, needle
    text = (paths.ROOT / "action.yml").read_text()
    assert not [p for p in bootstrap.wanted_packages(bootstrap.GATE) if p in text.split()]  # read, not copied


@pytest.mark.parametrize("rel", ["action.yml", "ci/github/merge/action.yml"])
def test_every_input_and_step_an_action_names_exists(rel):
    """GitHub reads an undeclared input or an unknown step id as empty, silently."""
    text = (paths.ROOT / rel).read_text()
    action = yaml.safe_load(text)
    assert set(re.findall(r"inputs\.([A-Za-z0-9_-]+)", text)) == set(action["inputs"]), rel
    ids = {s["id"] for s in action["runs"]["steps"] if "id" in s}
    assert set(re.findall(r"steps\.([A-Za-z0-9_-]+)\.", text)) <= ids, rel


def test_the_example_workflow_uses_the_action_and_names_no_placeholder():
    doc = load("github/iogate.yml")
    text = (CI / "github" / "iogate.yml").read_text()
    assert "://" not in text and doc["env"]["IOGATE_REF"] == f"v{__version__}"
    assert doc["env"]["IOGATE_REPOSITORY"] == "${{ vars.IOGATE_REPOSITORY }}"
    gate = {s.get("id") or s.get("name") or s.get("uses"): s for s in doc["jobs"]["gate"]["steps"]}
    assert gate["iogate"]["uses"] == "./.iogate" and gate["iogate"]["with"]["server-cmd"]
    assert gate["iogate"]["with"]["shard"] == "${{ matrix.shard }}/4" and len(doc["jobs"]["gate"]["strategy"]
                                                                              ["matrix"]["shard"]) == 4
    merge = [s.get("uses") for s in doc["jobs"]["merge"]["steps"]]
    assert "./.iogate/ci/github/merge" in merge and doc["jobs"]["merge"]["if"] == "always()"
    assert (paths.ROOT / "ci" / "github" / "merge" / "action.yml").is_file()


def test_every_template_names_this_version():
    for path in (paths.ROOT / "action.yml", CI / "github" / "merge" / "action.yml", CI / "gitlab" / "iogate.gitlab-ci.yml"):
        versions = set(re.findall(r"v(\d+\.\d+\.\d+)", path.read_text()))
        assert versions == {__version__}, (path.name, versions)


def test_gitlab_template():
    doc = load("gitlab/iogate.gitlab-ci.yml")
    gate = doc[".iogate-gate"]
    assert gate["extends"] == ".iogate-setup" and "stage" not in gate and "stages" not in doc
    assert gate["artifacts"]["reports"]["junit"] and gate["cache"]["when"] == "always"
    setup = doc[".iogate-setup"]["variables"]  # IOGATE_REPO is the user's: no default, no placeholder
    assert setup["IOGATE_REF"] == f"v{__version__}" and "IOGATE_REPO" not in setup | gate["variables"]
    cmd = commands(doc)
    assert '--shard "$CI_NODE_INDEX/$CI_NODE_TOTAL"' in cmd and "iogate\" merge" in cmd


def test_the_files_they_name_exist_and_are_executable():
    for rel in ("check-report-html", "screenshot-report", "servers/nginx"):
        assert os.access(CI / rel, os.X_OK), rel
    wanted = (CI / "debian-packages.txt").read_text().split()
    for pkg in ("nginx", "socat", "python3-jinja2", "python3-junitparser", "python3-yaml", "python3-matplotlib",
                "npm"):
        assert pkg in wanted
