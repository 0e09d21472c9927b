"""pytest -p pytest_iogate: a user's own test file gets iogate's fixtures. The
example of docs/plugin.md is run as it is, in a fresh pytest process, from a
directory outside the project (no conftest, no ini)."""
import os
import re
import subprocess

import pytest

from gatehelp import binary, have
from iogate import paths


def example():
    text = (paths.ROOT / "docs" / "plugin.md").read_text()
    return re.search(r"```python\n(.*?)```", text, re.S).group(1)


@pytest.mark.skipif(not have("epoll_et"), reason="epoll_et is not built")
def test_the_documented_example_passes_under_pytest_p_pytest_iogate(tmp_path):
    (tmp_path / "test_my_server.py").write_text(example())
    env = dict(os.environ, PYTHONPATH=f"{paths.ROOT / 'src'}:{paths.ROOT / 'fixtures'}", IOGATE_NO_BUILD="1",
               MY_SERVER=f"{binary('epoll_et')} --port {{port}} --protocol echo")
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
