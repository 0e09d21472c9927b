"""pytest -p pytest_iogate: a user's own test file gets iogate's fixtures. The
example of docs/plugin.md is run as it is, in a fresh pytest process, from a
directory outside the project (no conftest, no ini)."""
import os
import re
import subprocess

import pytest

import pytest_iogate
from gatehelp import binary, have, mutant_binary
from iogate import bootstrap, paths

pytest_plugins = ["pytester"]


def example():
    text = (paths.ROOT / "docs" / "plugin.md").read_text()
    return re.search(r"```python\n(.*?)```", text, re.S).group(1)


@pytest.mark.skipif(not have("epoll_et"), reason="epoll_et is not built")
def test_the_documented_example_passes_under_pytest_p_pytest_iogate(tmp_path):
    (tmp_path / "test_my_server.py").write_text(example())
    env = dict(os.environ, PYTHONPATH=f"{paths.ROOT / 'src'}:{paths.ROOT / 'fixtures'}", IOGATE_NO_BUILD="1",
               IOGATE_SERVER=f"{binary('epoll_et')} --port {{port}} --protocol echo")
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_ADDOPTS", None)
    out = subprocess.run(["/usr/bin/python3", "-m", "pytest", "-p", "pytest_iogate", "-p", "no:cacheprovider", "-q",
                          "test_my_server.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "5 passed" in out.stdout


def test_a_failing_user_test_carries_the_servers_trace_excerpt(tmp_path):
    if not have("epoll_et"):
        pytest.skip("epoll_et is not built")
    (tmp_path / "test_fails.py").write_text(
        "def test_x(iogate_server, iogate_client):\n"
        "    srv = iogate_server('epoll_et', plan='recv.partial:max=2;seed=1', protocol='echo')\n"
        "    iogate_client(srv).ask(b'hello', 'echo')\n"
        "    assert False, 'on purpose'\n")
    env = dict(os.environ, PYTHONPATH=f"{paths.ROOT / 'src'}:{paths.ROOT / 'fixtures'}", IOGATE_NO_BUILD="1")
    env.pop("PYTEST_XDIST_WORKER", None)
    out = subprocess.run(["/usr/bin/python3", "-m", "pytest", "-p", "pytest_iogate", "-p", "no:cacheprovider", "-q",
                          "test_fails.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    assert "iogate: epoll_et-1 trace excerpt" in out.stdout and ">>" in out.stdout


def test_a_bad_plan_is_refused_with_the_shims_reason():
    from iogate import plans
    with pytest.raises(ValueError, match="eagian"):
        plans.validate("recv.eagian:every=2")
    assert plans.plan(plans.rule("recv.partial", max=1), seed=3) == "recv.partial:max=1;seed=3"


def test_iogate_tls_makes_the_fixtures_speak_tls(tmp_path):
    """--iogate-tls: one throwaway certificate for the session, {cert}/{key}
    in a server command, clients that speak TLS; a TLS reference model gets
    it without the option."""
    tls_models = [m for m in __import__("iogate.models", fromlist=["MODELS"]).MODELS if m.tls and m.built]
    if not tls_models:
        pytest.skip("no TLS reference server is built")
    name = tls_models[0].name
    (tmp_path / "test_tls_user.py").write_text(
        "def test_command(iogate_server, iogate_client):\n"
        f"    srv = iogate_server('{tls_models[0].binary} --port {{port}} --cert {{cert}} --key {{key}}',\n"
        "                        plan='recv.partial:max=1;seed=1')\n"
        "    c = iogate_client(srv)\n"
        "    c.greet()\n"
        "    c.ask(b'^ab$', 'the reply inside TLS')\n"
        "    assert c.sock.handshaken and srv.faults()\n"
        "\n"
        "def test_case(iogate_case):\n"
        f"    res = iogate_case('recv.zero.closes', '{name}')\n"
        "    assert res.verdict == 'PASS' and res.tls, res.text\n")
    env = dict(os.environ, PYTHONPATH=f"{paths.ROOT / 'src'}:{paths.ROOT / 'fixtures'}", IOGATE_NO_BUILD="1")
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_ADDOPTS", None)
    out = subprocess.run(["/usr/bin/python3", "-m", "pytest", "-p", "pytest_iogate", "-p", "no:cacheprovider", "-q",
                          "--iogate-tls", "test_tls_user.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 passed" in out.stdout


# --- settings, the iogate marker, files under pytest's temporary directory, no full build ------------------------
# A user's project made by pytester (outside the source tree: no conftest, its own ini), run in a fresh pytest.

REF, MUTANT = "epoll_lt", "epoll_lt--exit-on-wait-eintr"  # the mutant exits on an EINTR from epoll_wait


def user_project(pytester, monkeypatch, tmp_path, **env):
    """The environment of a user's project: the plugin and the iogate
    package from this tree on PYTHONPATH, an empty $TMPDIR of its own."""
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    monkeypatch.setenv("PYTHONPATH", f"{paths.ROOT / 'src'}:{paths.ROOT / 'fixtures'}")
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_ADDOPTS", *(s.env for s in pytest_iogate.SETTINGS
                                                             if s.name not in ("timeout_scale", "build_dir"))):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return tmpdir


def run_user(pytester, *args):
    return pytester.runpytest_subprocess("-p", "pytest_iogate", "-p", "no:cacheprovider", "-p", "no:xdist", *args,
                                         timeout=300)


def test_the_marker_sets_a_tests_server_plan_and_cases_and_keeps_its_files_under_basetemp(pytester, monkeypatch,
                                                                                          tmp_path):
    """@pytest.mark.iogate(server=, plan=, cases=): the reference server
    passes under the marked plan, its mutant fails under the same plan, and
    the marked case fails against the mutant; the server (the ini key) and
    the seed (the environment) come from the settings when the marker names
    none. Traces and stderr are under --basetemp (a passing test's removed),
    nothing in $TMPDIR."""
    if not (binary(REF).exists() and mutant_binary(MUTANT).exists()):
        pytest.skip(f"{REF} or its mutant {MUTANT} is not built")
    tmpdir = user_project(pytester, monkeypatch, tmp_path, IOGATE_NO_BUILD="1", IOGATE_SEED="5")
    mutant = f"{mutant_binary(MUTANT)} --port {{port}}"
    pytester.makeini(f"[pytest]\niogate_server = {binary(REF)} --port {{port}}\n")
    pytester.makepyfile(test_marked=f"""
        import pytest

        pytestmark = pytest.mark.iogate(plan="wait.eintr:every=2")  # the module's plan, for every test


        def serve_three(srv, client):
            for n in range(3):
                client(srv, f"client {{n}}").ask(b"^abc$", "the reply")


        def test_the_reference_server_serves_under_the_plan(iogate_server, iogate_client):
            srv = iogate_server()
            serve_three(srv, iogate_client)
            assert any(f["fault"] == "wait.eintr:every=2" for f in srv.faults())


        @pytest.mark.iogate(server={mutant!r})
        def test_the_mutant_under_the_plan(iogate_server, iogate_client):
            serve_three(iogate_server(), iogate_client)


        @pytest.mark.iogate(server={mutant!r}, cases=["wait.eintr.continues", "recv.zero.closes"], model="epoll_lt")
        def test_cases(iogate_case):
            res = iogate_case()
            assert res.seed == 5
            assert res.verdict == "PASS", res.text


        def test_an_unknown_case(iogate_case):
            iogate_case("recv.no-such-case")
        """)
    out = run_user(pytester, "-rA")
    out.assert_outcomes(passed=2, failed=3)
    text = out.stdout.str()
    assert "PASSED test_marked.py::test_the_reference_server_serves_under_the_plan" in text
    assert "FAILED test_marked.py::test_the_mutant_under_the_plan" in text
    assert "FAILED test_marked.py::test_cases[wait.eintr.continues]" in text
    assert "PASSED test_marked.py::test_cases[recv.zero.closes]" in text
    assert "epoll_wait: Interrupted system call" in text  # the mutant's stderr, in the failure's report
    assert "iogate_case(): no case is 'recv.no-such-case' (./iogate list)" in text
    base = pytester.path / "runpytest-0"  # pytester's --basetemp
    traces = list(base.glob("test_the_mutant_under_the_plan0/iogate/*.trace.jsonl"))
    assert traces and "wait.eintr:every=2" in traces[0].read_text()
    assert list(base.glob("test_cases_wait_eintr_continue*/iogate/iogate-cell-*/*.trace.jsonl"))  # the failing cell
    assert f"traces, stderr and work directories in {base}" in text
    assert not list(base.glob("test_the_reference_server_serves_under_the_plan0/iogate/*"))  # it passed
    assert not list(tmpdir.iterdir()), f"left in $TMPDIR: {list(tmpdir.iterdir())}"


def test_a_wrong_marker_argument_is_one_clear_collection_error(pytester, monkeypatch, tmp_path):
    user_project(pytester, monkeypatch, tmp_path, IOGATE_NO_BUILD="1")
    pytester.makepyfile(test_wrong="""
        import pytest

        @pytest.mark.iogate(server="x --port {port}", cases=["recv.no-such-case"])
        def test_x(iogate_case):
            pass
        """)
    out = run_user(pytester)
    assert out.ret == pytest.ExitCode.INTERRUPTED
    out.stdout.fnmatch_lines(["@pytest.mark.iogate: cases=: no case is 'recv.no-such-case' (./iogate list)"])
    assert "Traceback" not in out.stdout.str()


def test_a_bad_setting_is_a_usage_error_of_one_line(pytester, monkeypatch, tmp_path):
    user_project(pytester, monkeypatch, tmp_path, IOGATE_NO_BUILD="1", IOGATE_BACKEND="bogus")
    pytester.makepyfile(test_any="def test_x():\n    pass\n")
    out = run_user(pytester)
    assert out.ret == pytest.ExitCode.USAGE_ERROR
    assert out.stderr.lines[0] == "ERROR: iogate: IOGATE_BACKEND must be one of auto, preload, syscall, not 'bogus'"
    assert not [ln for ln in out.stderr.lines[1:] if ln.strip()], out.stderr.str()


class Config:
    """What resolve() asks of a pytest config: the option, the ini key."""

    def __init__(self, tmp_path, option=None, ini=""):
        self.option, self.ini = option, ini
        self.inipath = tmp_path / "pytest.ini"
        self.invocation_params = type("Invocation", (), {"dir": tmp_path / "cwd"})

    def getoption(self, name):
        return self.option

    def getini(self, name):
        return self.ini


@pytest.mark.parametrize("option, ini, env, value", [
    ("7", "8", "9", 7),
    (None, "8", "9", 8),
    (None, "", "9", 9),
    (None, "", None, 1),
])
def test_a_setting_is_the_option_else_the_ini_key_else_the_environment_else_the_default(
        tmp_path, monkeypatch, option, ini, env, value):
    seed = next(s for s in pytest_iogate.SETTINGS if s.name == "seed")
    if env is None:
        monkeypatch.delenv("IOGATE_SEED", raising=False)
    else:
        monkeypatch.setenv("IOGATE_SEED", env)
    assert pytest_iogate.resolve(Config(tmp_path, option, ini), seed)[0] == value


def test_a_relative_build_dir_is_from_the_ini_files_directory_or_else_the_invocations(tmp_path, monkeypatch):
    build_dir = next(s for s in pytest_iogate.SETTINGS if s.name == "build_dir")
    monkeypatch.setenv("IOGATE_BUILD_DIR", "b3")
    assert pytest_iogate.resolve(Config(tmp_path, ini="b1"), build_dir) == (str(tmp_path / "b1"),
                                                                              f"iogate_build_dir in {tmp_path}/pytest.ini")
    assert pytest_iogate.resolve(Config(tmp_path, option="b2"), build_dir)[0] == str(tmp_path / "cwd" / "b2")
    assert pytest_iogate.resolve(Config(tmp_path), build_dir)[0] == str(tmp_path / "cwd" / "b3")
    with pytest.raises(pytest.UsageError, match=r"^iogate: --iogate-seed must be a whole number from 0 to 2\^64-1, "
                                                r"not '-1'$"):
        pytest_iogate.resolve(Config(tmp_path, option="-1"), next(s for s in pytest_iogate.SETTINGS
                                                                   if s.name == "seed"))


def test_a_users_session_builds_the_shim_side_only(pytester, monkeypatch, tmp_path):
    """IOGATE_NO_BUILD unset, the build tree given by --iogate-build-dir (over
    IOGATE_BUILD_DIR): a build tree whose shim side is current (its GATE
    stamp fresh, no stamp of the whole tree) is used as it is; cmake and
    apt-get, which would fail and leave a mark, are never called: the plugin
    never builds the whole tree for a user's project."""
    if not binary(REF).exists():
        pytest.skip(f"{REF} is not built")
    build = tmp_path / "build"
    for out in bootstrap.gate_outputs(paths.BUILD):  # the shim side of the main build tree, by links
        (build / out.relative_to(paths.BUILD)).parent.mkdir(parents=True, exist_ok=True)
        (build / out.relative_to(paths.BUILD)).symlink_to(out)
    bootstrap.stamp_path(build, bootstrap.GATE).write_text(bootstrap.source_digest(bootstrap.GATE))
    marks = tmp_path / "called"
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("cmake", "apt-get"):
        (tools / tool).write_text(f"#!/bin/sh\necho {tool} >> {marks}\nexit 99\n")
        (tools / tool).chmod(0o755)
    user_project(pytester, monkeypatch, tmp_path, PATH=f"{tools}:{os.environ['PATH']}")
    monkeypatch.setenv("IOGATE_BUILD_DIR", str(tmp_path / "no-such-build"))  # the option wins
    pytester.makepyfile(test_mine=f"""
        from iogate import paths

        def test_mine(iogate_server, iogate_client):
            assert str(paths.SHIM) == {str(build / 'lib' / 'libiogate_inject.so')!r}
            srv = iogate_server("{binary(REF)} --port {{port}}", plan="recv.partial:max=1")
            iogate_client(srv).ask(b"^abc$", "the reply")
            assert srv.faults()
        """)
    out = run_user(pytester, "--iogate-build-dir", str(build))
    out.assert_outcomes(passed=1)
    assert not marks.exists(), marks.read_text()
    assert not bootstrap.stamp_path(build, bootstrap.ALL).exists()
    assert sorted(p.name for p in build.iterdir()) == sorted([".iogate-built-gate", "bin", "lib", "tables.json"])


def test_the_settings_table_of_docs_plugin_md_is_the_plugins():
    text = (paths.ROOT / "docs" / "plugin.md").read_text()
    assert pytest_iogate.settings_table() in text, "docs/plugin.md: paste pytest_iogate.settings_table()"
    documented = set(re.findall(r"`(IOGATE_[A-Z_]+)`", text.split("## Settings")[1].split("\n## ")[0]))
    assert documented >= {s.env for s in pytest_iogate.SETTINGS}
