"""iogate.ci_action, the steps of the CI templates: the packages a section
misses, and a build restored from a CI cache into a fresh checkout is
reused (no cmake), while one made from other sources is built afresh. A
copy of the tree's build inputs and a stand-in cmake (it records its calls;
"building" makes the gate set's files) keep it to a second."""
import os
import shutil
import subprocess
import sys

from iogate import bootstrap, ci_action, paths

FAKE_CMAKE = """#!/bin/sh
echo "$*" >> "$FAKE_CMAKE_LOG"
case "$1" in
  -S) mkdir -p "$4" && echo IOGATE_GATE_ONLY:BOOL=ON > "$4/CMakeCache.txt" ;;
  --build) mkdir -p "$2/lib" "$2/bin" && touch "$2/lib/libiogate_inject.so" "$2/bin/iogate-fresh" \\
             "$2/bin/iogate-syscall" "$2/tables.json" ;;
esac
"""
INPUTS = ("src", "CMakeLists.txt", "cmake", "ci/debian-packages.txt", "injectors")


def checkout(root):
    """A fresh checkout of the build's inputs at root: every file new."""
    for rel in INPUTS:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        if (paths.ROOT / rel).is_dir():
            shutil.copytree(paths.ROOT / rel, root / rel, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(paths.ROOT / rel, root / rel)


def action(root, tmp_path, *args):
    bin_dir = tmp_path / "fakebin"
    if not bin_dir.exists():
        bin_dir.mkdir()
        (bin_dir / "cmake").write_text(FAKE_CMAKE)
        (bin_dir / "cmake").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("IOGATE_NO_BUILD", "IOGATE_BUILD_DIR")}
    env.update(PYTHONPATH=str(root / "src"), PATH=f"{bin_dir}:{env['PATH']}", FAKE_CMAKE_LOG=str(tmp_path / "log"))
    return subprocess.run([sys.executable, "-m", "iogate.ci_action", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)


def cmake_calls(tmp_path):
    log = tmp_path / "log"
    calls = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return calls


def test_a_restored_build_is_reused_and_a_stale_one_rebuilt(tmp_path):
    root = tmp_path / "checkout"
    checkout(root)
    key = action(root, tmp_path, "key")
    first = action(root, tmp_path, "build")
    assert first.returncode == 0 and key.returncode == 0, first.stderr + key.stderr
    assert len(cmake_calls(tmp_path)) == 2  # configured and built: an empty cache
    assert (root / "build" / ci_action.KEY_FILE).read_text() == key.stdout.strip()
    cache = tmp_path / "cache"
    shutil.copytree(root / "build", cache)  # what actions/cache keeps (mtimes too)

    shutil.rmtree(root)  # the next job: a fresh checkout, the cache restored
    checkout(root)
    shutil.copytree(cache, root / "build")
    assert action(root, tmp_path, "key").stdout == key.stdout  # the same key: the cache hits
    again = action(root, tmp_path, "build")
    assert again.returncode == 0 and cmake_calls(tmp_path) == [], again.stderr  # reused: no cmake at all

    shim = root / "injectors" / "shim.cc"
    if not shim.exists():
        shim = next((root / "injectors").rglob("*.cc"))
    text = shim.read_text()
    shim.write_text(text[:-1] + ("\n" if text[-1] != "\n" else " "))  # the same size, another content
    assert action(root, tmp_path, "key").stdout != key.stdout
    stale = action(root, tmp_path, "build")
    assert stale.returncode == 0 and "building afresh" in stale.stderr, stale.stderr
    assert len(cmake_calls(tmp_path)) == 2


def test_a_build_directory_of_ones_own_is_never_removed(tmp_path):
    root = tmp_path / "checkout"
    checkout(root)
    own = tmp_path / "mine"
    own.mkdir()
    (own / "precious").write_text("x")
    env_build = dict(os.environ, IOGATE_BUILD_DIR=str(own))
    env_build.pop("IOGATE_NO_BUILD", None)
    out = subprocess.run([sys.executable, "-m", "iogate.ci_action", "build"], cwd=root, capture_output=True,
                         text=True, timeout=120, env=dict(env_build, PYTHONPATH=str(root / "src")))
    assert out.returncode == 2 and "not built for these sources" in out.stderr and (own / "precious").exists()
    assert out.stderr.count("\n") == 1, out.stderr


def test_missing_reads_the_sections_of_the_package_list():
    assert set(bootstrap.section_packages(("gate",))) <= set(bootstrap.wanted_packages(bootstrap.ALL))
    assert ci_action.missing("gate") == bootstrap.missing_packages(bootstrap.wanted_packages(bootstrap.GATE))
    out = subprocess.run([sys.executable, "-m", "iogate.ci_action", "missing", "nosuch"], capture_output=True,
                         text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(paths.ROOT / "src")))
    assert out.returncode == 2 and "no section [nosuch]" in out.stderr
