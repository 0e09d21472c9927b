"""Control groups of the server instances, where the machine lets the gate
make them (docs/containment.md).

One group per server instance, in each hierarchy that can hold it: the
unified (v2) hierarchy for membership and cgroup.kill (what systemd's
KillMode=control-group does), plus the v1 `pids` and `memory` hierarchies
where they are mounted and v2 has no such controller for the gate: their
limits are the hard bound behind the watchdog (limits.py). A group is made
under the gate's own group of that hierarchy; where that fails (no
permission, a read-only /sys/fs/cgroup in a container) the hierarchy is
simply not used, and membership falls back to the marker in the
environment (contain.py).
"""
import os
import subprocess
import threading
import time

from . import paths


def _mounts():
    """{kind: (mount point, root inside the hierarchy)} for 'unified' and
    the v1 controllers 'pids' and 'memory', from /proc/self/mountinfo."""
    found = {}
    try:
        with open("/proc/self/mountinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return found
    for line in lines:
        left, _, right = line.partition(" - ")
        cols, rcols = left.split(), right.split()
        if len(cols) < 5 or len(rcols) < 3:
            continue
        root, point, fstype, options = cols[3], cols[4], rcols[0], rcols[2].split(",")
        if fstype == "cgroup2":
            found.setdefault("unified", (point, root))
        elif fstype == "cgroup":
            for kind in ("pids", "memory"):
                if kind in options:
                    found.setdefault(kind, (point, root))
    return found


def _own_paths():
    """{kind: the gate's own group path in that hierarchy} from /proc/self/cgroup."""
    out = {}
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            out["unified"] = path
        for kind in controllers.split(","):
            if kind in ("pids", "memory"):
                out[kind] = path
    return out


def _parent_dir(point, root, path):
    rel = path[len(root):] if root != "/" and path.startswith(root) else path
    return os.path.join(point, rel.lstrip("/"))


_usable = None
_usable_lock = threading.Lock()


def usable():
    """{kind: directory under which this gate may make groups}, probed once:
    a group is made, a short-lived child joins it through iogate-fresh and
    the group is removed. Kinds that fail are left out."""
    global _usable
    with _usable_lock:
        if _usable is None:
            _usable = _probe()
        return dict(_usable)


def _probe():
    if os.environ.get("IOGATE_NO_CGROUPS"):  # the marker alone (docs/containment.md): how other machines run
        return {}
    mounts, own = _mounts(), _own_paths()
    out = {}
    for kind, (point, root) in mounts.items():
        if kind not in own:
            continue
        parent = _parent_dir(point, root, own[kind])
        probe = os.path.join(parent, f"iogate-probe.{os.getpid()}")
        try:
            os.mkdir(probe)
        except OSError:
            continue
        try:
            ok = subprocess.run([str(paths.FRESH), "--cgroup", probe, "true"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if remove(probe) and ok:
            out[kind] = parent
    if "unified" in out:
        # v2 limits need the controllers in the gate's group's subtree_control; v1 ones work without.
        enabled = read(os.path.join(out["unified"], "cgroup.subtree_control")).split()
        for kind in ("pids", "memory"):
            if kind in enabled:
                out.pop(kind, None)
                out[f"unified-{kind}"] = out["unified"]
    return out


def read(path) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def write(path, text) -> bool:
    try:
        with open(path, "w") as f:
            f.write(text)
        return True
    except OSError:
        return False


def remove(path, bound=2.0) -> bool:
    """rmdir a group; a group whose last member is still exiting is busy for
    a moment (bounded retry)."""
    deadline = time.monotonic() + bound
    while True:
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)  # polling the kernel's bookkeeping, bounded


def pids_in(path):
    """The pids of a group and of any group below it (a server may make its own)."""
    out = set()
    for dirpath, _, _ in os.walk(path):
        for line in read(os.path.join(dirpath, "cgroup.procs")).split():
            if line.isdigit():
                out.add(int(line))
    return out


def events(path, name) -> dict:
    """A flat-keyed cgroup file (`memory.events`, `pids.events`) as {key: int}."""
    out = {}
    for line in read(os.path.join(path, name)).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out
