"""The build runs only when a file it reads changed (the stamp), builds only
the target set a command uses, and --no-install never runs apt-get."""
import os
import subprocess

import pytest

from gatehelp import ENV, IOGATE
from iogate import bootstrap, paths


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A source tree of a few files and a build tree; cmake is a recorder that
    leaves what a build would (the cache, the gate set's outputs)."""
    src = tmp_path / "src"
    for rel in ("CMakeLists.txt", "injectors/shim.cc", "injectors/faults.def", "reference-servers/poll.cc",
                "src/iogate/__init__.py"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(rel)
    build = tmp_path / "build"
    calls = []

    def step(cmd, env=None):
        calls.append(cmd)
        if "-S" in cmd:
            only = "ON" if "-DIOGATE_GATE_ONLY=ON" in cmd else "OFF"
            (build / "CMakeCache.txt").write_text(f"IOGATE_GATE_ONLY:BOOL={only}\n")
        else:
            for out in bootstrap.gate_outputs(build):
                out.parent.mkdir(parents=True, exist_ok=True)
                out.touch()
        return 0, "", ""

    monkeypatch.setattr(paths, "ROOT", src)
    monkeypatch.setattr(bootstrap, "step", step)
    return src, build, calls


def built(calls, kind, build):
    """Run one build; the cmake commands it ran."""
    calls.clear()
    bootstrap.build(kind, build_dir=build)
    return [" ".join(c[:2]) + (" --target" if "--target" in c else "") + (" GATE_ONLY=ON" if "-DIOGATE_GATE_ONLY=ON"
                                                                           in c else "") for c in calls]


def test_nothing_changed_no_cmake_and_any_change_rebuilds(tree):
    src, build, calls = tree
    assert built(calls, bootstrap.GATE, build) == ["cmake -S GATE_ONLY=ON", "cmake --build --target"]
    assert built(calls, bootstrap.GATE, build) == []  # nothing changed: no cmake at all
    shim = src / "injectors" / "shim.cc"
    shim.write_text("edited")
    assert built(calls, bootstrap.GATE, build) == ["cmake --build --target"]
    (src / "injectors" / "new.cc").write_text("added")
    assert built(calls, bootstrap.GATE, build) == ["cmake --build --target"]
    (src / "injectors" / "new.cc").unlink()
    assert built(calls, bootstrap.GATE, build) == ["cmake --build --target"]
    (src / "reference-servers" / "poll.cc").write_text("a server, not the gate's")
    assert built(calls, bootstrap.GATE, build) == []  # the gate set does not read it
    # the whole tree: configured whole (the cache said gate only), built whole; then the gate set is free too
    assert built(calls, bootstrap.ALL, build) == ["cmake -S", "cmake --build"]
    assert built(calls, bootstrap.ALL, build) == [] and built(calls, bootstrap.GATE, build) == []
    os.utime(shim, ns=(shim.stat().st_atime_ns, shim.stat().st_mtime_ns + 1_000_000_000))  # touched, same size
    assert built(calls, bootstrap.ALL, build) == ["cmake --build"]
    (build / "lib" / "libiogate_inject.so").unlink()  # an output gone
    assert built(calls, bootstrap.GATE, build) == ["cmake --build --target"]
    for f in build.iterdir():  # the build tree wiped
        if f.is_file():
            f.unlink()
    assert built(calls, bootstrap.GATE, build)[0] == "cmake -S GATE_ONLY=ON"


def test_a_failed_build_leaves_no_stamp(tree, monkeypatch):
    src, build, calls = tree
    built(calls, bootstrap.GATE, build)
    (src / "injectors" / "shim.cc").write_text("broken")
    monkeypatch.setattr(bootstrap, "step", lambda cmd, env=None: (1, "", "error: broken"))
    with pytest.raises(SystemExit):
        bootstrap.build(bootstrap.GATE, build_dir=build)
    (src / "injectors" / "shim.cc").write_text("injectors/shim.cc")  # back as it was at the last good build
    assert not bootstrap.stamp_path(build, bootstrap.GATE).exists()


def test_gate_lists_only_the_gate_packages():
    gate, everything = bootstrap.wanted_packages(bootstrap.GATE), bootstrap.wanted_packages(bootstrap.ALL)
    assert "libfiu-dev" in gate and "catch2" not in gate and "nginx" not in gate
    assert set(gate) < set(everything) and "catch2" in everything and "python3" not in everything  # [runtime]


def fake_debian(tmp_path):
    """dpkg-query that knows no package, apt-get that leaves a mark."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dpkg-query").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "apt-get").write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'apt-get'}\nexit 1\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


def test_no_install_names_the_missing_gate_packages_in_one_line_and_exits_2(tmp_path):
    env = {k: v for k, v in ENV.items() if k != "IOGATE_NO_BUILD"}
    env.update(PATH=fake_debian(tmp_path), IOGATE_BUILD_DIR=str(tmp_path / "build"))
    r = subprocess.run([IOGATE, "run", "--no-install", "--faults", "seed=1", "--", "true"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r
    line = r.stderr.strip()
    assert line.startswith("iogate: missing Debian packages") and "apt-get install -y cmake " in line, line
    assert "libfiu-dev" in line and "catch2" not in line  # `run` needs only the gate packages
    assert not (tmp_path / "apt-get").exists() and not (tmp_path / "build").exists()


def test_a_second_command_with_nothing_changed_runs_no_cmake(tmp_path):
    if not bootstrap.up_to_date(paths.BUILD, bootstrap.GATE, bootstrap.source_digest(bootstrap.GATE)):
        pytest.skip(f"{paths.BUILD} has no current stamp (built by hand or IOGATE_NO_BUILD)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "cmake").write_text(f"#!/bin/sh\necho called > {tmp_path / 'cmake'}\nexit 99\n")
    (bin_dir / "cmake").chmod(0o755)
    env = {k: v for k, v in ENV.items() if k != "IOGATE_NO_BUILD"}
    env.update(PATH=f"{bin_dir}:{os.environ['PATH']}", IOGATE_BUILD_DIR=str(paths.BUILD))
    r = subprocess.run([IOGATE, "run", "--no-install", "--faults", "seed=1", "--", "true"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 0, r
    assert not (tmp_path / "cmake").exists()
