"""Containment of a server instance's whole process tree (docs/containment.md).

A server may start processes in sessions and process groups of their own: a
daemon's double fork, a helper started with setsid. None of them may
outlive the cell. Every process a server instance ever starts belongs to
its Box, found by either of two means:

* a control group of its own (cgroups.py), joined by iogate-fresh before the
  server's exec: no process can leave it by forking or by setsid, and
  cgroup.kill ends them all at once;
* otherwise a marker in the environment (IOGATE_INSTANCE, inherited across
  fork and exec) of the gate's descendants: the gate is the subreaper of its
  servers (processes.py), so an orphan of the tree is re-parented to the
  gate and stays its descendant.

kill() ends every member (SIGKILL, bounded rounds) and reaps those the gate
adopted; the members that were not in the leader's process group when it
was stopped are `left behind` and named in the cell's report.
"""
import itertools
import os
import signal
import time

from . import cgroups, procfs

MARK = "IOGATE_INSTANCE"
_serial = itertools.count(1)


def _descendants(root, stats):
    children = {}
    for pid, (_, ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def _has_mark(pid, token: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return token in f.read().split(b"\0")
    except OSError:
        return False


class Box:
    """The processes of one server instance."""

    def __init__(self, name="server"):
        self.id = f"{os.getpid()}.{next(_serial)}"
        self.token = f"{MARK}={self.id}".encode()
        self.groups = {}  # kind -> directory of this instance's control group
        for kind, parent in cgroups.usable().items():
            path = os.path.join(parent, f"iogate.{self.id}.{_safe(name)}")
            try:
                os.mkdir(path)
            except FileExistsError:
                pass
            except OSError:
                continue
            self.groups[kind] = path
        self.seen = set()  # every member ever listed: an adopted one that exited alone is reaped at kill()

    # -- joining -----------------------------------------------------------
    def fresh_args(self):
        """iogate-fresh's arguments that make the server join its groups."""
        out = []
        for path in self.groups.values():
            out += ["--cgroup", path]
        return out

    def env(self):
        return {MARK: self.id}

    @property
    def means(self) -> str:
        """How membership is known, for the report and the docs."""
        return "control group" if self.groups else "environment marker"

    def group(self, *kinds):
        for kind in kinds:
            if kind in self.groups:
                return self.groups[kind]
        return None

    # -- members -----------------------------------------------------------
    def members(self):
        """Pids of the live (non-zombie) processes of this instance."""
        group = self.group(*self.groups)  # each group holds every member (iogate-fresh joined them all)
        if group:
            pids = {p for p in cgroups.pids_in(group) if (procfs.stat(p) or ("", 0, 0, "Z"))[3] != "Z"}
        else:
            stats = procfs.all_stats()
            pids = {p for p in _descendants(os.getpid(), stats) if stats[p][3] != "Z" and _has_mark(p, self.token)}
        self.seen |= pids
        return pids

    def describe(self, pids):
        """'pid 123 (sleep)' for each pid still there."""
        out = []
        for pid in sorted(pids):
            st = procfs.stat(pid)
            if st:
                out.append(f"pid {pid} ({st[0]})")
        return out

    # -- ending ------------------------------------------------------------
    def kill(self, bound=5.0, spare=None):
        """SIGKILL every member until none is left (bounded), reaping the
        ones the gate adopted (never `spare`, the leader its Popen waits
        for). Returns the pids that were killed."""
        killed = set()
        deadline = time.monotonic() + bound
        unified = self.groups.get("unified")
        while True:
            pids = self.members()
            if not pids or time.monotonic() >= deadline:
                break
            if unified and cgroups.write(os.path.join(unified, "cgroup.kill"), "1"):
                killed |= pids
            else:
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                        killed.add(pid)
                    except (ProcessLookupError, PermissionError):
                        pass
            self._reap(pids - {spare})
            time.sleep(0.01)  # the kernel finishing the exits: polled with a deadline
        self._reap((killed | self.seen) - {spare})
        return killed

    @staticmethod
    def _reap(pids):
        me = os.getpid()
        for pid in pids:
            st = procfs.stat(pid)
            if st and st[1] == me:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass

    def close(self):
        """Remove the instance's groups (after kill())."""
        for path in self.groups.values():
            cgroups.remove(path)
        self.groups = {}


def _safe(name):
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:40] or "server"


def sweep_groups():
    """Kill the members of, and remove, every control group this process
    made for its servers (an interrupted gate, a cell cut short). Returns
    the pids killed."""
    killed = set()
    prefix = f"iogate.{os.getpid()}."
    for kind, parent in cgroups.usable().items():
        try:
            names = [n for n in os.listdir(parent) if n.startswith(prefix)]
        except OSError:
            continue
        for name in names:
            path = os.path.join(parent, name)
            box = Box.__new__(Box)
            box.groups, box.seen, box.token = {kind: path}, set(), b""
            killed |= box.kill(2.0)
            box.close()
    return killed
