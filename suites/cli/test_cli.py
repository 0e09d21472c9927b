"""The command line as a user and a script see it: list, explain, the gate's
exit contract and table."""
import os
import re
import subprocess

import pytest

from iogate import catalogue, models, paths

IOGATE = str(paths.ROOT / "iogate")


def run(*args, timeout=600, env=None):
    return subprocess.run([IOGATE, *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def test_list_prints_the_case_ids_of_the_table():
    out = run("list", "--ids")
    assert out.returncode == 0
    assert out.stdout.split() == [c.id for c in catalogue.load()]
    assert run("list", "cases", "--ids").stdout == out.stdout
    assert run("list", "cases").stdout == run("list").stdout  # (titles beside them: test_cli_learner.py)


def test_list_servers_is_model_tab_command_with_a_port_placeholder():
    out = run("list", "servers")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == [m.name for m in models.MODELS]
    for line in lines:
        name, cmd, profile = line.split("\t")
        assert "{port}" in cmd and cmd.split()[0].endswith(f"iogate-{name}")
        assert profile == models.model(name).profile.describe()


def test_explain_prints_requirement_oracle_plan_and_teaching(capsys):
    from iogate import cli
    for c in catalogue.load():  # in process: 39 interpreters would cost seconds for nothing more
        assert cli.main(["explain", c.id]) == 0
        out = capsys.readouterr().out
        for text in (c.requirement.quote, c.requirement.source, c.oracle, c.teaching.fix):
            assert text in out
        assert (c.plan or "(none") in out
    assert run("explain", "recv.zero.closes").returncode == 0  # and the command itself


def test_explain_of_an_unknown_case_exits_2():
    out = run("explain", "no.such.case")
    assert out.returncode == 2 and "no case" in out.stderr


def test_an_empty_case_selection_exits_2():
    out = run("gate", "--cases", "no.such.*")
    assert out.returncode == 2
    assert "no case matches" in out.stderr


def test_a_server_that_never_listens_is_an_error_with_exit_2():
    # a tenth of the start timeout: the wait is the whole cost of this test
    out = run("gate", "--server-cmd", "sleep 30 {port}", "--cases", "recv.zero.closes", timeout=120,
              env={"IOGATE_TIMEOUT_SCALE": "0.1"})
    assert out.returncode == 2
    assert "ERROR" in out.stdout and "did not become ready" in out.stdout


def test_the_gate_passes_the_reference_servers_and_prints_the_table():
    out = run("gate", "--cases", "recv.zero.closes,recv.eagain.*")
    assert out.returncode == 0, out.stdout + out.stderr
    header = next(line for line in out.stdout.splitlines() if line.startswith("case"))
    gated = [m for m in models.MODELS if not models.left_out(m)]
    assert header.split()[1:] == [m.name for m in gated]
    for m in models.MODELS:  # a model the gate cannot run yet (TLS) is named with the reason, never dropped silently
        assert (f"{m.name} left out: {models.left_out(m)}" in out.stderr) == bool(models.left_out(m)), out.stderr
    row = next(line for line in out.stdout.splitlines() if line.startswith("recv.eagain.keeps-connection"))
    # N/A exactly where the profile has blocking sockets or no socket calls to fault (AIO, io_uring)
    want = ["N/A" if not m.profile.nonblocking or m.profile.readiness in ("aio", "io_uring") else "PASS"
            for m in gated]
    assert row.split()[1:] == want


# The teaching suite runs every mutant against its case; here the command line's side of it, once for a
# FAIL and once for a robustness-only WARN under --strict.
BY_SERVER_CMD = [m for m in models.MUTANTS if m.name in ("blocking--fixed-request-buffer", "select--blocking-listener")]


@pytest.mark.parametrize("mutant", BY_SERVER_CMD, ids=[m.name for m in BY_SERVER_CMD])
def test_a_mutant_given_by_server_cmd_fails_the_gate_naming_its_case(mutant):
    # a robustness-only bug is a WARN (exit 0); --strict makes it fail like the others
    strict = ["--strict"] if mutant.expect == "WARN" else []
    out = run("gate", "--server-cmd", f"{mutant.binary} --port {{port}}", "--model", mutant.base.name,
              "--cases", f"{mutant.case},recv.zero.closes", *strict)
    assert out.returncode == 1, out.stdout + out.stderr
    failed = re.search(r"^FAIL: (.*)$", out.stdout, re.M)
    assert failed and mutant.case in failed.group(1).split(", "), out.stdout


def test_generated_docs_are_current():
    from iogate import docs
    stale = docs.stale()
    assert not stale, f"regenerate with `./iogate docs`: {[str(p) for p in stale]}"


@pytest.mark.parametrize("cls", ["recv", "send", "accept", "wait"])
def test_the_fault_table_of_the_docs_matches_what_the_shim_accepts(cls):
    import os
    from iogate import docs
    env = dict(os.environ, LD_PRELOAD=str(paths.SHIM), IOGATE_FAULTS=f"{cls}.nosuch")
    out = subprocess.run(["true"], env=env, capture_output=True, text=True)
    known = re.search(r"\(known: (.*)\)$", out.stderr.strip()).group(1)
    documented = [name for name, classes, _, _ in docs.fault_rows() if cls in classes]
    assert known == (", ".join(documented) or "none yet")


def test_iogate_run_gives_the_program_default_signal_dispositions_whatever_it_inherited():
    """A background job of a script ignores SIGINT and SIGQUIT, nohup SIGHUP,
    Python SIGPIPE; an ignored disposition survives exec. `iogate run` starts
    the program as a service manager would: nothing ignored, nothing blocked
    (before, CPython under it installed no SIGINT handler and the shim rightly
    injected no EINTR)."""
    script = ("trap '' INT QUIT HUP PIPE; exec " + IOGATE +
              " run --faults seed=1 -- grep -E '^Sig(Ign|Blk):' /proc/self/status")
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, IOGATE_NO_BUILD="1"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["SigBlk:", "0000000000000000", "SigIgn:", "0000000000000000"], out.stdout


def test_iogate_run_of_a_missing_program_is_one_line_and_exit_2():
    out = subprocess.run([IOGATE, "run", "--faults", "seed=1", "--", "no-such-program-here"], capture_output=True,
                         text=True, timeout=120, env=dict(os.environ, IOGATE_NO_BUILD="1"))
    assert out.returncode == 2 and "cannot run" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_the_readme_counts_the_cases_and_servers_the_tables_hold():
    text = (paths.ROOT / "README.md").read_text()
    gated = [m for m in models.MODELS if not models.left_out(m)]
    assert f"{len(gated)} reference servers x {len(catalogue.load())} cases" in text
    assert f"Each of the {len(catalogue.load())} cases" in text


@pytest.mark.parametrize("command", ["explain recv.zero.closes", "list", "list servers"])
def test_a_reader_that_leaves_early_gets_no_traceback(command):
    out = subprocess.run(["bash", "-c", f"{IOGATE} {command} | head -c 1 >/dev/null; echo ${{PIPESTATUS[0]}}"],
                         capture_output=True, text=True, timeout=120, env=dict(os.environ, IOGATE_NO_BUILD="1"))
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) <= 1, out.stderr
    assert out.stdout.strip() in ("0", "2")


def test_a_bug_of_iogate_itself_is_one_line_and_exit_2(monkeypatch, capsys):
    """Regression: a report field json could not encode ended the gate in a
    TypeError traceback (exit 1, which CI reads as 'a case failed')."""
    from iogate import cli

    def broken(args):
        raise TypeError("Object of type frozenset is not JSON serializable")
    monkeypatch.setattr(cli, "cmd_list", broken)
    monkeypatch.delenv("IOGATE_DEBUG", raising=False)
    assert cli.main(["list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("iogate: internal error: TypeError: Object of type frozenset") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_reports_are_written_through_a_private_temporary_file(tmp_path):
    from iogate import atomic
    target = tmp_path / "report.json"
    (tmp_path / "report.json.tmp").symlink_to(tmp_path / "elsewhere")  # a planted predictable name is never used
    atomic.write_text(str(target), "{}")
    assert target.read_text() == "{}" and not (tmp_path / "elsewhere").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "report.json.tmp"]
