"""`./iogate run [--faults PLAN] [--trace FILE] -- PROGRAM ARGS`: one program
under the shim (or the syscall backend: --backend), as a service manager would
start it, then one line on stderr naming the faults it was given:

    iogate run: 4 faults injected: recv.eagain x3, send.partial x1

The plan is checked first (by the shim itself: plans.validate). The program
runs as iogate's child through iogate-fresh (default signal dispositions and
an empty signal mask, whatever the caller's were), in iogate's own process
group: it stays in the terminal's foreground job, so Ctrl-C, Ctrl-\\ and
Ctrl-Z reach it from the terminal as they reach iogate, and it can read the
terminal. SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to iogate by a process
(kill PID, a service manager, timeout(1)) are passed on to it; the same
signals from the terminal are not (it got them already). It is killed if
iogate itself dies (PR_SET_PDEATHSIG), so it never outlives the command. The
command's exit status is the program's, 128+N when a signal N ended it.

The summary reads the trace: --trace FILE's, or one written in the run's
scratch directory (scratch.py), removed when the command ends.

With --tls a throwaway certificate and key are made first and `{cert}` and
`{key}` in the command become their paths (removed when it ends)."""
import ctypes
import os
import shlex
import shutil
import signal
import subprocess
import sys

from . import bootstrap, outputs, paths, plans, scratch, tls as tls_mod, trace as trace_mod

ENDS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)  # passed on to the program
SI_KERNEL = 0x80  # siginfo si_code of a signal the kernel sent: the terminal's keys, a hangup
PR_SET_PDEATHSIG = 1
POLL = 0.5  # seconds between two looks at the child when no signal came (a lost SIGCHLD costs this much)


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
    try:
        with scratch.run() as scratch_dir:  # the summary's trace, when --trace names none
            path = trace or os.path.join(scratch_dir, "trace.jsonl")
            rc = run_with_tls(argv, faults, path, backend) if tls else supervise(argv, faults, path, backend)
            if rc is not None:
                print(f"iogate run: {summary(trace_mod.fault_counts(path))}", file=sys.stderr)
            return 2 if rc is None else rc
    except OSError as e:  # $TMPDIR refuses the scratch directory
        print(f"iogate run: cannot make the run's scratch directory: {e.strerror or e}", file=sys.stderr)
        return 2


def summary(counts) -> str:
    """'4 faults injected: recv.eagain x3, send.partial x1', or 'no faults injected'."""
    total = sum(counts.values())
    if not total:
        return "no faults injected"
    return (f"{total} fault{'s' if total > 1 else ''} injected: "
            + ", ".join(f"{head} x{n}" for head, n in counts.items()))


def run_with_tls(argv, faults, trace, backend):
    """The program with the run's certificate and key (see above)."""
    try:
        material = tls_mod.Material()
    except tls_mod.SetupError as e:
        print(f"iogate run: {e}", file=sys.stderr)
        return None
    try:
        argv = [material.substitute(a) for a in argv]
        print(f"iogate run: TLS certificate {material.cert} (trust it for 127.0.0.1), key {material.key}; "
              f"removed when the program ends", file=sys.stderr, flush=True)
        return supervise(argv, faults, trace, backend)
    finally:
        material.close()


def _dies_with(parent):
    """In the child, before exec: killed when iogate dies; gone at once if it already has."""
    def setup():
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent:
            os._exit(128 + signal.SIGKILL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
    return setup


def supervise(argv, faults, trace, backend):
    """Run the program as a child and wait for it, passing on ENDS (see
    above). Its exit status (128+N for a signal N), or None when it could
    not be started (said on stderr)."""
    sys.stdout.flush()
    waited = set(ENDS) | {signal.SIGCHLD}
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, waited)  # taken by sigtimedwait, never by a handler
    try:
        try:
            child = subprocess.Popen([str(paths.FRESH), *plans.backend_argv(backend), *argv],
                                     env=plans.shim_env(faults, trace, backend=backend),
                                     preexec_fn=_dies_with(os.getpid()))
        except OSError as e:
            print(f"iogate run: cannot run {shlex.join(argv)}: {e}", file=sys.stderr)
            return None
        while child.poll() is None:
            info = signal.sigtimedwait(waited, POLL)
            if info is None or info.si_signo == signal.SIGCHLD:
                continue
            if info.si_code != SI_KERNEL:  # kill(2) from a process: only iogate got it
                try:
                    child.send_signal(info.si_signo)
                except ProcessLookupError:
                    pass
        while signal.sigtimedwait(waited, 0) is not None:  # what came as it ended (the terminal's Ctrl-C that
            pass                                              # ended it) must not end iogate when unblocked
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    rc = child.returncode
    return 128 - rc if rc < 0 else rc
