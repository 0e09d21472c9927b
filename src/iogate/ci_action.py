"""The steps of iogate's CI templates (action.yml at the top of the tree,
ci/gitlab/iogate.gitlab-ci.yml) that are iogate's own knowledge, so that no
template copies any of it:

    python3 -m iogate.ci_action missing SECTION   the packages of a section of
                                                   ci/debian-packages.txt not installed
    python3 -m iogate.ci_action key               the cache key of the gate build
    python3 -m iogate.ci_action build             build the gate set (installs nothing)

A build restored from a CI cache is reused, not rebuilt. The build stamp
(bootstrap.py) is a digest of the path, modification time and size of every
file the build reads, and a fresh checkout gives every file a new time: so
`build` first sets each of those files' times to PINNED. A cached build made
after the same pin has a stamp that matches, and no cmake runs. Pinned
times hide an edit from the stamp and from make, so the build directory
also records the key it was made for (KEY_FILE), and a build directory of
another key is removed and built afresh. The key is a digest of what the
build's result depends on: the content of those files, the installed
versions of the [gate] packages (compiler, libfiu, liburing), the machine
and the build directory (CMake records absolute paths). Exit status: 0, or
2 with one line on stderr."""
import hashlib
import os
import platform
import shutil
import subprocess
import sys

from . import atomic, bootstrap, paths

PINNED = 946684800  # 2000-01-01T00:00:00Z: older than any build a cache holds
KEY_FILE = ".iogate-ci-key"  # in the build directory: the key() it was built for


def missing(section):
    """The packages of one section of ci/debian-packages.txt that are not installed."""
    wanted = bootstrap.section_packages((section,))
    if not wanted:
        raise SystemExit(f"iogate: no section [{section}] in {paths.PACKAGES}")
    return bootstrap.missing_packages(wanted)


def pin(kind=bootstrap.GATE):
    """Give every file the build of this set reads the time PINNED."""
    files = bootstrap.build_files(kind)
    for path in files:
        os.utime(path, (PINNED, PINNED))
    return len(files)


def key(kind=bootstrap.GATE):
    """iogate-build-MACHINE-DIGEST: one cache entry per build result."""
    h = hashlib.sha256(f"{kind}\0{platform.machine()}\0{os.path.abspath(paths.BUILD)}\n".encode())
    for path in bootstrap.build_files(kind):
        h.update(f"{os.path.relpath(path, paths.ROOT)}\0".encode())
        with open(path, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    names = bootstrap.wanted_packages(kind)
    versions = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Version}\n", *names],
                              capture_output=True, text=True).stdout
    h.update(versions.encode())
    return f"iogate-build-{platform.machine()}-{h.hexdigest()[:32]}"


def build(kind=bootstrap.GATE):
    """Pin the times, drop a build directory made for another key, build.
    A build directory of one's own (IOGATE_BUILD_DIR) is never removed:
    that is one line and exit 2; IOGATE_NO_BUILD=1 or an installed iogate:
    nothing to do."""
    if paths.INSTALLED or os.environ.get("IOGATE_NO_BUILD") == "1":
        print(f"iogate: using the build in {paths.BUILD} as it is", file=sys.stderr)
        return
    pin(kind)
    want, marker = key(kind), paths.BUILD / KEY_FILE
    if paths.BUILD.exists() and (not marker.exists() or marker.read_text() != want) and any(paths.BUILD.iterdir()):
        if paths.BUILD != paths.ROOT / "build":
            raise SystemExit(f"iogate: {paths.BUILD} was not built for these sources (IOGATE_BUILD_DIR); "
                             f"remove it or name another directory")
        print(f"iogate: {paths.BUILD} was not built for these sources: building afresh", file=sys.stderr)
        shutil.rmtree(paths.BUILD)
    bootstrap.prepare(kind, install=False, quiet=False)
    atomic.write_text(marker, want)


def main(argv):
    usage = "usage: python3 -m iogate.ci_action missing SECTION | key | build"
    try:
        if argv[:1] == ["missing"] and len(argv) == 2:
            print(" ".join(missing(argv[1])))
        elif argv == ["key"]:
            print(key())
        elif argv == ["build"]:
            build()
        else:
            print(usage, file=sys.stderr)
            return 2
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
            return 2
        raise
    except OSError as e:
        print(f"iogate: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
