"""An installed iogate (cmake --install into a prefix, the layout of the
Debian package) works from any directory with neither the clone nor
PYTHONPATH, and never builds; the version has one source."""
import os
import re
import subprocess
import sys

import pytest

from gatehelp import ENV, IOGATE
from iogate import __version__, paths


def test_version_is_the_package_version_and_the_cmake_project_version():
    out = subprocess.run([IOGATE, "--version"], capture_output=True, text=True, env=ENV, timeout=60)
    assert out.returncode == 0 and out.stdout == f"iogate {__version__}\n", out
    cache = (paths.BUILD / "CMakeCache.txt").read_text()
    assert f"CMAKE_PROJECT_VERSION:STATIC={__version__}\n" in cache  # CMake read it from src/iogate/__init__.py


def never(tmp_path):
    """A PATH whose cmake and apt-get leave a mark and fail: an installed iogate must call neither."""
    bin_dir = tmp_path / "never"
    bin_dir.mkdir()
    for tool in ("cmake", "apt-get"):
        (bin_dir / tool).write_text(f"#!/bin/sh\necho {tool} >> {tmp_path / 'called'}\nexit 99\n")
        (bin_dir / tool).chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    if not (paths.BIN / "iogate-epoll_et").exists():
        pytest.skip("the reference servers are not built")
    where = tmp_path_factory.mktemp("prefix")
    subprocess.run(["cmake", "--install", str(paths.BUILD), "--prefix", str(where)], check=True,
                   capture_output=True, timeout=120)
    return where


def installed_env(tmp_path, **more):
    env = {k: v for k, v in ENV.items() if k not in ("PYTHONPATH", "IOGATE_NO_BUILD", "IOGATE_BUILD_DIR")}
    return dict(env, PATH=never(tmp_path), **more)


def test_the_installed_command_gates_from_another_directory_without_the_clone(prefix, tmp_path):
    iogate = prefix / "bin" / "iogate"
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = installed_env(tmp_path)
    version = subprocess.run([str(iogate), "--version"], capture_output=True, text=True, env=env, cwd=work, timeout=60)
    assert version.stdout == f"iogate {__version__}\n", version
    server = prefix / "lib" / "iogate" / "bin" / "iogate-select"
    mutant = prefix / "lib" / "iogate" / "bin" / "iogate-mutant-select--exit-on-recv-error"
    assert server.exists() and mutant.exists() and (prefix / "lib" / "iogate" / "lib" / "libiogate_inject.so").exists()
    on_path = dict(env, PATH=f"{iogate.parent}:{env['PATH']}")
    g = subprocess.run(["iogate", "gate", "--server-cmd", f"{mutant} --port {{port}}", "--model", "select",
                        "--cases", "recv.error.closes", "--report", "rep"], capture_output=True, text=True,
                       env=on_path, cwd=work, timeout=300)
    assert g.returncode == 1, g.stdout + g.stderr  # the mutant's bug, found by the installed iogate
    replay = next(ln.strip() for ln in g.stdout.splitlines() if ln.strip().startswith("replay: "))
    assert replay.startswith("replay: iogate gate --server-cmd "), replay  # the command as it was invoked
    assert f"iogate gate: wrote {work / 'rep' / 'report.json'}" in g.stderr  # absolute
    assert not (tmp_path / "called").exists()  # installed = prebuilt: no cmake, no apt-get
    for command in ("test", "docs"):
        r = subprocess.run([str(iogate), command], capture_output=True, text=True, env=env, cwd=work, timeout=60)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "needs a clone" in r.stderr, r


def test_pytest_finds_the_installed_plugin_by_its_entry_point(prefix, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    server = prefix / "lib" / "iogate" / "bin" / "iogate-epoll_et"
    (project / "test_mine.py").write_text(
        "def test_partial_reads(iogate_server, iogate_client, iogate_plan):\n"
        f"    srv = iogate_server('{server} --port {{port}}', plan=iogate_plan('recv.partial:max=1', seed=3))\n"
        "    iogate_client(srv).ask(b'hello', 'the reply')\n"
        "    assert any(r['call'] == 'plan' for r in srv.trace_records())  # it ran under the shim\n")
    site = prefix / "lib" / "python3" / "dist-packages"  # what /usr/lib/python3/dist-packages is to a real install
    env = installed_env(tmp_path, PYTHONPATH=str(site))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"],
                       capture_output=True, text=True, env=env, cwd=project, timeout=300)
    assert r.returncode == 0 and "1 passed" in r.stdout, r.stdout + r.stderr
    assert re.search(r"^\[pytest11\]\npytest_iogate = pytest_iogate$", (site / f"iogate-{__version__}.dist-info" /
                                                                       "entry_points.txt").read_text(), re.M)
    # asked for by name as well (`-p pytest_iogate`, as from a clone): loaded once, not registered twice
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-p",
                        "pytest_iogate"], capture_output=True, text=True, env=env, cwd=project, timeout=300)
    assert r.returncode == 0 and "1 passed" in r.stdout, r.stdout + r.stderr
    assert not (tmp_path / "called").exists()  # the installed plugin never builds
