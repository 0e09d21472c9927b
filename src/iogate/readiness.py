"""When an external server is ready, and what was seen instead when it is
not (docs/containment.md).

Ready means: a TCP socket in LISTEN on `{port}`, at an address the gate's
clients reach (127.0.0.1, 0.0.0.0, the IPv6 wildcard `::` of a dual-stack
socket, or `::ffff:127.0.0.1`), held by one of the server instance's own
processes (its inode among their descriptors). Another process listening
on that port is not the server being ready. No probe connection is made:
connect-and-close is itself a fault some servers die of.
"""
import os

from . import procfs

REACHABLE = {"127.0.0.1", "0.0.0.0", "::", "::ffff:127.0.0.1", "::ffff:0.0.0.0"}


def _host(text):
    return text.rsplit(":", 1)[0].strip("[]")


def listeners(pids):
    """[(address text, inode)] of the TCP listeners the processes hold."""
    mine = procfs.socket_inodes(pids)
    return [(procfs.address_text(addr, port), inode) for addr, port, state, inode in procfs.tcp_sockets()
            if state == procfs.LISTEN and inode in mine]


def ready(port, pids) -> bool:
    return any(text.endswith(f":{port}") and _host(text) in REACHABLE for text, _ in listeners(pids))


def seen_instead(port, pids) -> str:
    """One sentence: what the instance listens on, or who holds the port."""
    own = sorted({text for text, _ in listeners(pids)})
    on_port = [t for t in own if t.endswith(f":{port}")]
    if on_port:
        return (f"it listens on {', '.join(on_port)} only, which the gate's clients (127.0.0.1) cannot reach: "
                f"bind 127.0.0.1, 0.0.0.0 or [::]")
    if own:
        return (f"it listens on {', '.join(own)}, not on port {port}: does the command pass {{port}} to the "
                f"server's listening option?")
    unix = procfs.unix_listeners()
    mine = procfs.socket_inodes(pids)
    paths = sorted(path for inode, path in unix.items() if inode in mine)
    if paths:
        return f"it listens on the UNIX socket {', '.join(paths)}, not on TCP port {port}"
    holder = port_holder(port)
    if holder:
        return f"port {port} is held by another process ({holder}), not by the server"
    n = len(pids)
    return f"none of its {n} process{'es' if n != 1 else ''} listens on a socket" if n else "it has no process left"


def port_holder(port) -> str:
    """'pid N (comm)' of a process listening on `port`, '' when none is seen."""
    inodes = {inode for _, p, state, inode in procfs.tcp_sockets() if state == procfs.LISTEN and p == port}
    if not inodes:
        return ""
    for name in os.listdir("/proc"):
        if name.isdigit() and procfs.socket_inodes([int(name)]) & inodes:
            try:
                with open(f"/proc/{name}/comm") as f:
                    return f"pid {name} ({f.read().strip()})"
            except OSError:
                return f"pid {name}"
    return "a process the gate cannot see"
