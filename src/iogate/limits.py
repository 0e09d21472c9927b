"""Resource limits of every server instance (docs/containment.md): memory,
processes and kept output. One table of defaults; the command line's
--max-memory, --max-procs and --max-output change them for a run.

Memory and processes are watched by one thread over every live Box (the
resident memory and the number of its processes, whatever the session of
each); a Box over a limit is ended at once and its cell becomes an ERROR
naming the limit: a fork bomb or a leak never reaches the machine's
out-of-memory killer or its process table. Where the gate could make
control groups with the `pids` or `memory` controller (cgroups.py) the
kernel enforces a backstop slightly above each limit, for a server faster
than the watch.
"""
import os
import re
import threading
import time

from . import cgroups

DEFAULTS = {
    "memory": 4 << 30,   # bytes of anonymous resident memory, all processes of one server instance
    "procs": 4096,       # processes of one instance (a fork-per-connection server holds 1,100 in many.clients)
    "output": 1 << 20,   # bytes of each of stdout and stderr kept; the rest is counted
}
WATCH_PERIOD = 0.1       # seconds between two looks at every live Box

_settings = dict(DEFAULTS)


def get(name):
    return _settings[name]


def configure(memory=None, procs=None, output=None):
    for name, value in (("memory", memory), ("procs", procs), ("output", output)):
        if value is not None:
            _settings[name] = value


OPTIONS = {"memory": "--max-memory", "procs": "--max-procs", "output": "--max-output"}


def changed_options():
    """The command-line words of the limits this run changed (a replay line
    carries them: a cell that hit --max-memory 64M must meet it again)."""
    words = []
    for name, option in OPTIONS.items():
        if _settings[name] != DEFAULTS[name]:
            words += [option, str(_settings[name])]
    return words


SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """'4G', '512M', '1048576', '1.5GiB' -> bytes; ValueError otherwise."""
    m = SIZE.match(text or "")
    if not m:
        raise ValueError(f"not a size: {text!r} (a number with an optional K, M, G or T)")
    value = float(m.group(1)) * (1 << (10 * " kmgt".index(m.group(2).lower() or " ")))
    if value < 1:
        raise ValueError(f"not a size: {text!r} (must be at least 1 byte)")
    return int(value)


def human(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}".replace(".0 ", " ")
    return f"{n} B"


def apply_backstops(box):
    """The kernel's hard limits in the instance's groups, a little above the
    watched ones (the watch names the breach; the kernel stops what is faster)."""
    procs, memory = get("procs"), get("memory")
    pids = box.group("unified-pids", "pids")
    if pids:
        cgroups.write(os.path.join(pids, "pids.max"), str(procs + 64))
    mem = box.group("unified-memory")
    if mem:
        cgroups.write(os.path.join(mem, "memory.max"), str(memory + memory // 4))
    elif box.group("memory"):
        cgroups.write(os.path.join(box.group("memory"), "memory.limit_in_bytes"), str(memory + memory // 4))


def anon_bytes(box, pids) -> int:
    """The instance's anonymous resident memory: what a leak or a hoard
    grows. Shared library text and the page cache are not counted, nor, in
    a group, pages its forked processes still share: a fork-per-connection
    server with 1,100 children is not 1,100 copies of its libraries (a sum
    of VmRSS counted socat's forks as 4.2 GiB). From the memory group's
    memory.stat where there is one; else the sum of each member's RssAnon."""
    mem = box.group("unified-memory")
    if mem:
        return cgroups.events(mem, "memory.stat").get("anon", 0)
    if box.group("memory"):
        return cgroups.events(box.group("memory"), "memory.stat").get("total_rss", 0)
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, IndexError, ValueError):
            continue
    return total


def kernel_breach(box) -> str:
    """A limit the kernel enforced in the instance's groups, or ''."""
    mem = box.group("unified-memory")
    if mem and cgroups.events(mem, "memory.events").get("oom_kill"):
        return f"the server exceeded its memory limit ({human(get('memory'))}, --max-memory): the kernel ended it"
    v1 = box.group("memory")
    if v1 and cgroups.events(v1, "memory.oom_control").get("oom_kill"):
        return f"the server exceeded its memory limit ({human(get('memory'))}, --max-memory): the kernel ended it"
    pids = box.group("unified-pids", "pids")
    if pids and cgroups.events(pids, "pids.events").get("max"):
        return f"the server tried to start more than {get('procs')} processes (--max-procs): fork() failed in it"
    return ""


class Watch:
    """One thread watching every registered Box; started on first use."""

    def __init__(self):
        self.boxes = {}  # Box -> callback(reason) that ends it
        self.lock = threading.Lock()
        self.thread = None

    def add(self, box, breach):
        with self.lock:
            self.boxes[box] = breach
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, daemon=True, name="iogate-limits")
                self.thread.start()

    def remove(self, box):
        with self.lock:
            self.boxes.pop(box, None)

    def _run(self):
        while True:
            with self.lock:
                boxes = list(self.boxes.items())
            if not boxes:
                with self.lock:
                    if not self.boxes:
                        self.thread = None
                        return
            began = time.monotonic()
            for box, breach in boxes:
                reason = over_limit(box)
                if reason:
                    self.remove(box)
                    breach(reason)
            # A periodic look, not a wait for a server; where membership is a scan of /proc (no control
            # group) and the machine holds thousands of processes, the look costs at most a tenth of a core.
            time.sleep(max(WATCH_PERIOD, 10 * (time.monotonic() - began)))


def over_limit(box) -> str:
    pids = box.members()
    if len(pids) > get("procs"):
        return f"the server started more than {get('procs')} processes (--max-procs): iogate ended it"
    used = anon_bytes(box, pids)
    if used > get("memory"):
        return (f"the server used {human(used)} of memory, over its limit of {human(get('memory'))} "
                f"(--max-memory): iogate ended it")
    return kernel_breach(box)


WATCH = Watch()
