"""A hostile wrapper around a correct server, for the containment probes
(suites/gate/test_hostile.py, docs/containment.md):

    hostile.py MODE TAG -- SERVER ARGS...

MODE does something no server should do to its supervisor, then (except
where said) execs SERVER ARGS in the foreground. TAG is the argv[0] of
the sleeping processes made here (a test finds every
process of a gate by the IOGATE_INSTANCE marker in its environment). Every
loop is bounded.

  daemonize      double fork: the grandchild (own session) execs the server, the first process exits 0
  daemon-hang    a child in its own session holds stdout and sleeps; the first process sleeps (never listens)
  setsid-helper  a helper in its own session sleeps (holding stdout), the server runs in the foreground
  ignore-term    SIGTERM ignored, then the server (the gate must SIGKILL it)
  flood          a child writes MB megabytes to stdout without a newline (env FLOOD_MB, default 100);
                 the server starts when it ended
  eat-memory     a child allocates and touches memory, 16 MiB at a time, up to 8 GiB, then sleeps;
                 the server starts when it ended
  fork-bomb      a child forks up to 5000 processes that sleep; the server starts when it ended
"""
import os
import signal
import sys
import time

SLEEP = 600  # a hostile process sleeps at most this long: never forever


def sleeper(tag):
    os.execvp("sleep", [tag, str(SLEEP)])  # argv[0] is the tag, the name (comm) stays "sleep"


def in_child(fn, new_session=False, wait=False):
    """Run fn in a child; wait=True: the server starts only when it ended
    (its growth happens before the server listens: no race with the case)."""
    pid = os.fork()
    if pid == 0:
        if new_session:
            os.setsid()
        try:
            fn()
        finally:
            os._exit(0)
    if wait:
        os.waitpid(pid, 0)


def flood():
    chunk = b"x" * (1 << 20)
    for _ in range(int(os.environ.get("FLOOD_MB", "100"))):
        os.write(1, chunk)


def eat_memory():
    hoard = []
    for _ in range(512):  # 8 GiB at most
        hoard.append(b"\1" * (16 << 20))  # written, so resident
    time.sleep(SLEEP)


def fork_bomb(tag):
    for _ in range(5000):
        try:
            if os.fork() == 0:
                sleeper(tag)
        except OSError:
            time.sleep(0.01)  # fork refused (a process limit): try again, bounded by the count
    time.sleep(SLEEP)


def main():
    mode, tag, sep, *server = sys.argv[1:]
    assert sep == "--" and server, __doc__
    if mode == "daemonize":
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execvp(server[0], server)
            os._exit(0)
        os._exit(0)
    if mode == "daemon-hang":
        in_child(lambda: sleeper(tag), new_session=True)
        sleeper(tag)
    if mode == "setsid-helper":
        in_child(lambda: sleeper(tag), new_session=True)
    elif mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    elif mode == "flood":
        in_child(flood, wait=True)
    elif mode == "eat-memory":
        in_child(eat_memory, wait=True)
    elif mode == "fork-bomb":
        in_child(lambda: fork_bomb(tag), wait=True)
    else:
        sys.exit(f"hostile.py: unknown mode {mode!r}")
    os.execvp(server[0], server)


if __name__ == "__main__":
    main()
