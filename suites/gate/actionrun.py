"""A stand-in for the GitHub Actions runner, enough to run a user's workflow
job that uses iogate's action (action.yml) as the runner would: the job's
and the steps' `env`, `${{ }}` expressions, `if:`, local composite actions
(`uses: ./path`) with their inputs, defaults and outputs, GITHUB_OUTPUT,
GITHUB_ENV, GITHUB_STEP_SUMMARY (a file per step, joined into the job's
summary in step order) and GITHUB_ACTION_PATH.

`run:` steps run with bash as the runner runs them (`shell: bash`: bash
--noprofile --norc -eo pipefail; no shell named: bash -e). A `uses:` of a
published action (actions/checkout, actions/cache/restore, upload-artifact)
is not run: it is recorded as skipped, with what it was given, so a test can
check that too. An expression this stand-in does not know raises
ValueError: a template that uses more than it understands fails the test
instead of being half run."""
import os
import re
import subprocess
from dataclasses import dataclass, field

import yaml

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
NAME = r"[A-Za-z_][A-Za-z0-9_-]*"


@dataclass
class Step:
    name: str
    status: str            # "success", "failure", "skipped" (an `if:` false) or "not run" (a published action)
    exit_code: int = 0
    outputs: dict = field(default_factory=dict)
    uses: str = ""
    given: dict = field(default_factory=dict)  # the evaluated `with:` of a `uses:` step
    log: str = ""


@dataclass
class JobRun:
    steps: list
    summary: str
    failed: bool

    def step(self, name):
        return next(s for s in self.steps if s.name == name)


class Context:
    """The expression contexts of one job, or of one composite action's steps."""

    def __init__(self, **contexts):
        self.contexts = contexts

    def lookup(self, path):
        parts = path.split(".")
        node = self.contexts
        for p in parts:
            if not isinstance(node, dict) or p not in node:
                if parts[0] in ("inputs", "steps", "env", "vars", "matrix", "github", "runner"):
                    return ""  # an unset property reads as empty, as GitHub's does
                raise ValueError(f"unknown context in expression: {path}")
            node = node[p]
        return node

    def value(self, expr, status_ok=True):
        """An expression: `a == 'x'`, `a != 'x'`, `&&`, always(), success(), failure(), a context path."""
        if "&&" in expr:
            return all(self.truthy(self.value(part.strip(), status_ok)) for part in expr.split("&&"))
        m = re.fullmatch(rf"({NAME}(?:\.{NAME})*)\s*(==|!=)\s*'([^']*)'", expr)
        if m:
            same = str(self.lookup(m.group(1))) == m.group(3)
            return same if m.group(2) == "==" else not same
        if expr == "always()":
            return True
        if expr == "success()":
            return status_ok
        if expr == "failure()":
            return not status_ok
        if re.fullmatch(rf"{NAME}(?:\.{NAME})*", expr):
            return self.lookup(expr)
        raise ValueError(f"an expression the stand-in does not know: {expr}")

    @staticmethod
    def truthy(v):
        return v not in ("", None, False, 0, "false")

    def text(self, s):
        """A string with every ${{ }} replaced."""
        if not isinstance(s, str):
            return s
        return EXPR.sub(lambda m: str(self.value(m.group(1))), s)

    def condition(self, cond, status_ok):
        if cond is None:
            return status_ok
        cond = str(cond)
        m = EXPR.fullmatch(cond.strip())
        inner = m.group(1) if m else cond
        # A condition without a status function is ANDed with success(), as GitHub does.
        implied = not re.search(r"\b(always|success|failure|cancelled)\(\)", inner)
        return self.truthy(self.value(inner, status_ok)) and (status_ok or not implied)


def read_kv(path):
    """GITHUB_OUTPUT / GITHUB_ENV: NAME=VALUE lines and NAME<<DELIM blocks."""
    out = {}
    if not os.path.exists(path):
        return out
    lines = open(path, encoding="utf-8").read().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.fullmatch(r"([^=<]+)<<(.+)", line)
        if m:
            end = lines.index(m.group(2), i + 1)
            out[m.group(1)] = "\n".join(lines[i + 1:end])
            i = end + 1
            continue
        if "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
        i += 1
    return out


class Runner:
    """Runs one job of a workflow in `workspace` (the checked-out repository)."""

    def __init__(self, workspace, scratch, vars=None, env=None, timeout=600):
        self.workspace = os.path.abspath(workspace)
        self.scratch = scratch
        self.vars = vars or {}
        self.base_env = dict(env or os.environ)
        self.timeout = timeout
        self.summaries = []
        self.count = 0

    def job(self, workflow, job, matrix=None):
        doc = yaml.safe_load(open(os.path.join(self.workspace, workflow), encoding="utf-8"))
        spec = doc["jobs"][job]
        top = Context(vars=self.vars, matrix=matrix or {}, github={"workspace": self.workspace},
                      runner={"os": "Linux"}, env={})
        env = {k: str(top.text(v)) for k, v in (doc.get("env") or {}).items()}
        top.contexts["env"] = env
        env.update({k: str(top.text(v)) for k, v in (spec.get("env") or {}).items()})
        steps, ok = self.steps(spec["steps"], top, env)
        return JobRun(steps, "".join(self.summaries), not ok)

    def steps(self, specs, ctx, env, action_path=None):
        """Run steps in order; returns ([Step], every one succeeded)."""
        done, ok = [], True
        ctx.contexts.setdefault("steps", {})
        for i, spec in enumerate(specs):
            name = spec.get("name") or spec.get("uses") or spec.get("id") or f"step {i + 1}"
            ctx.contexts["env"] = env
            if not ctx.condition(spec.get("if"), ok):
                done.append(Step(name, "skipped"))
                continue
            step_env = dict(env, **{k: str(ctx.text(v)) for k, v in (spec.get("env") or {}).items()})
            if "run" in spec:
                step = self.run_step(name, spec, ctx, step_env, action_path)
            elif str(spec["uses"]).startswith("./"):
                step = self.local_action(name, spec, ctx, step_env)
            else:
                step = Step(name, "not run", uses=spec["uses"],
                            given={k: str(ctx.text(v)) for k, v in (spec.get("with") or {}).items()})
            done.append(step)
            if spec.get("id"):
                ctx.contexts["steps"][spec["id"]] = {"outputs": step.outputs, "conclusion": step.status}
            if step.status == "failure" and not spec.get("continue-on-error"):
                ok = False
        return done, ok

    def files(self):
        self.count += 1
        names = {k: os.path.join(self.scratch, f"{k.lower()}-{self.count}") for k in
                 ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STEP_SUMMARY")}
        for path in names.values():
            open(path, "w").close()
        return names

    def run_step(self, name, spec, ctx, env, action_path):
        script = os.path.join(self.scratch, f"step-{self.count + 1}.sh")
        files = self.files()
        with open(script, "w", encoding="utf-8") as f:
            f.write(ctx.text(spec["run"]))
        shell = spec.get("shell")
        argv = ["bash", "--noprofile", "--norc", "-eo", "pipefail", script] if shell == "bash" else \
            ["bash", "-e", script]
        if shell not in (None, "bash"):
            raise ValueError(f"a shell the stand-in does not run: {shell}")
        full = dict(self.base_env, **env, **files, GITHUB_WORKSPACE=self.workspace, CI="true",
                    GITHUB_ACTIONS="true", RUNNER_TEMP=self.scratch)
        if action_path:
            full["GITHUB_ACTION_PATH"] = action_path
        cwd = os.path.join(self.workspace, spec.get("working-directory", "."))
        proc = subprocess.run(argv, cwd=cwd, env=full, capture_output=True, text=True, timeout=self.timeout)
        self.summaries.append(open(files["GITHUB_STEP_SUMMARY"], encoding="utf-8").read())
        env.update(read_kv(files["GITHUB_ENV"]))
        return Step(name, "success" if proc.returncode == 0 else "failure", proc.returncode,
                    read_kv(files["GITHUB_OUTPUT"]), log=proc.stdout + proc.stderr)

    def local_action(self, name, spec, ctx, env):
        path = os.path.normpath(os.path.join(self.workspace, spec["uses"]))
        doc = yaml.safe_load(open(os.path.join(path, "action.yml"), encoding="utf-8"))
        if doc["runs"]["using"] != "composite":
            raise ValueError(f"{spec['uses']}: only composite actions run here")
        given = {k: str(ctx.text(v)) for k, v in (spec.get("with") or {}).items()}
        declared = doc.get("inputs") or {}
        unknown = set(given) - set(declared)
        if unknown:
            raise ValueError(f"{spec['uses']}: no such input: {', '.join(sorted(unknown))}")
        inputs = {}
        for k, d in declared.items():
            if k not in given and d.get("required") and "default" not in d:
                return Step(name, "failure", 1, uses=spec["uses"], given=given, log=f"input required: {k}")
            inputs[k] = given.get(k, str(d.get("default", "")))
        inner = Context(inputs=inputs, vars=self.vars, github={"workspace": self.workspace, "action_path": path},
                        runner={"os": "Linux"}, env=env, steps={})
        steps, ok = self.steps(doc["runs"]["steps"], inner, dict(env), action_path=path)
        outputs = {k: str(inner.text(o.get("value", ""))) for k, o in (doc.get("outputs") or {}).items()}
        failed = next((s for s in steps if s.status == "failure"), None)
        return Step(name, "success" if ok else "failure", failed.exit_code if failed else 0, outputs,
                    uses=spec["uses"], given=given, log="\n".join(f"[{s.name}: {s.status}]\n{s.log}" for s in steps))
