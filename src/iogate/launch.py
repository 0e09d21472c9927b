"""`./iogate run [--faults PLAN] [--trace FILE] -- PROGRAM ARGS`: one program
under the shim (or the syscall backend: --backend), as a service manager would start it. The plan is checked
first (by the shim itself: plans.validate); then the program replaces this
process (signals reach it, nothing is left behind, its exit status is the
command's), through iogate-fresh: default signal dispositions and an empty
signal mask, whatever the caller's were.

With --tls a throwaway certificate and key are made first and `{cert}` and
`{key}` in the command become their paths; the program then cannot replace
this process (the files must be removed when it ends): it runs as a child,
the signals that end a service (SIGINT, SIGTERM, SIGHUP, SIGQUIT) are passed
on to it, and its exit status is the command's (128+N for a signal N)."""
import os
import shlex
import shutil
import sys

from . import bootstrap, outputs, paths, plans, tls as tls_mod


def run(command, faults: str, trace=None, backend="auto", tls=False, install=True) -> int:
    argv = list(command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print("iogate run: give the command after --, e.g. ./iogate run --faults 'recv.partial:max=1' -- ./srv",
              file=sys.stderr)
        return 2
    found = tls_mod.placeholders(" ".join(argv))
    if found and not tls:
        print(f"iogate run: the command has {' and '.join(found)} but no --tls: only --tls makes a certificate "
              f"and key", file=sys.stderr)
        return 2
    problem = trace and outputs.file_problem(trace, make_parents=False)
    if problem:  # the shim would trace nowhere without a word
        print(f"iogate run: cannot write --trace {trace}: {problem}", file=sys.stderr)
        return 2
    bootstrap.prepare(bootstrap.GATE, install=install)  # the shim and the launchers only
    try:
        plans.validate(faults)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    if not shutil.which(argv[0]):
        print(f"iogate run: cannot run {shlex.join(argv)}: {argv[0]}: no such program", file=sys.stderr)
        return 2
    if backend == "auto":
        backend = plans.program_backend(shutil.which(argv[0]))
    if tls:
        return run_with_tls(argv, faults, trace, backend)
    sys.stdout.flush()
    try:
        os.execve(str(paths.FRESH), [str(paths.FRESH), *plans.backend_argv(backend), *argv],
                  plans.shim_env(faults, trace, backend=backend))
    except OSError as e:
        print(f"iogate run: cannot run {shlex.join(argv)}: {e}", file=sys.stderr)
        return 2


def run_with_tls(argv, faults, trace, backend) -> int:
    """The program as a child with the run's certificate and key (see above)."""
    import signal
    import subprocess
    try:
        material = tls_mod.Material()
    except tls_mod.SetupError as e:
        print(f"iogate run: {e}", file=sys.stderr)
        return 2
    try:
        argv = [material.substitute(a) for a in argv]
        print(f"iogate run: TLS certificate {material.cert} (trust it for 127.0.0.1), key {material.key}; "
              f"removed when the program ends", file=sys.stderr, flush=True)
        sys.stdout.flush()
        try:
            child = subprocess.Popen([str(paths.FRESH), *plans.backend_argv(backend), *argv],
                                     env=plans.shim_env(faults, trace, backend=backend))
        except OSError as e:
            print(f"iogate run: cannot run {shlex.join(argv)}: {e}", file=sys.stderr)
            return 2
        ends = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
        old = {s: signal.signal(s, lambda n, _f: child.send_signal(n)) for s in ends}
        try:
            rc = child.wait()
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
        return 128 - rc if rc < 0 else rc
    finally:
        material.close()
