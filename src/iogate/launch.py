"""`./iogate run [--faults PLAN] [--trace FILE] -- PROGRAM ARGS`: one program
under the shim (or the syscall backend: --backend), as a service manager would start it. The plan is checked
first (by the shim itself: plans.validate); then the program replaces this
process (signals reach it, nothing is left behind, its exit status is the
command's), through iogate-fresh: default signal dispositions and an empty
signal mask, whatever the caller's were."""
import os
import shlex
import shutil
import sys

from . import bootstrap, paths, plans


def run(command, faults: str, trace=None, backend="auto") -> int:
    argv = list(command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print("iogate run: give the command after --, e.g. ./iogate run --faults 'recv.partial:max=1' -- ./srv",
              file=sys.stderr)
        return 2
    bootstrap.prepare()
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
    sys.stdout.flush()
    try:
        os.execve(str(paths.FRESH), [str(paths.FRESH), *plans.backend_argv(backend), *argv],
                  plans.shim_env(faults, trace, backend=backend))
    except OSError as e:
        print(f"iogate run: cannot run {shlex.join(argv)}: {e}", file=sys.stderr)
        return 2
