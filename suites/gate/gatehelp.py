"""Helpers of the gate's tests: run ./iogate, find the processes and ports a
gate started."""
import os
import shutil
import subprocess

from iogate import models, paths, procfs

IOGATE = str(paths.ROOT / "iogate")
ENV = dict(os.environ, IOGATE_NO_BUILD="1")  # the session built once (conftest); tests never rebuild


def run(*args, timeout=600, env=None, cwd=None):
    return subprocess.run([IOGATE, *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(ENV, **(env or {})), cwd=cwd)


def binary(model):
    return models.model(model).binary


def have(model):
    return binary(model).exists()


def mutant_binary(name):
    return paths.BIN / f"iogate-mutant-{name}"


def nginx():
    return shutil.which("nginx")


def socat():
    return shutil.which("socat")


NGINX_CMD = f"{paths.ROOT / 'ci' / 'servers' / 'nginx'} {{port}}"
SOCAT_ECHO = "socat TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork EXEC:cat"


def children(pid):
    """{pid: ppid} of every descendant of pid (from /proc)."""
    parent = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    parent[int(name)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    out, frontier = {}, {pid}
    while frontier:
        nxt = {p for p, pp in parent.items() if pp in frontier and p not in out}
        for p in nxt:
            out[p] = parent[p]
        frontier = nxt
    return out


def alive(pid):
    """Running and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def listening_ports_of(pid):
    """TCP ports in LISTEN held by a process (its socket inodes in /proc/net/tcp*)."""
    try:
        inodes = {os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] for fd in os.listdir(f"/proc/{pid}/fd")
                  if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")}
    except OSError:
        return set()
    return {port for _, port, state, inode in procfs.tcp_sockets() if state == procfs.LISTEN and inode in inodes}


listening_ports = procfs.listening_ports




def ipv6():
    """This machine has an IPv6 loopback to bind."""
    import socket
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False
