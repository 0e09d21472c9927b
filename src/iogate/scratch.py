"""The run's private scratch directory.

Every work directory of a gate or a replay (each cell's: the server's trace,
its stderr, its {workdir}; the warm-up's; a start without the case's
limits) is made inside one directory per run, itself made with mkdtemp
(mode 0700) in $TMPDIR at the start and removed at the end, whatever ended
the run: a verdict, an error, SIGINT/SIGTERM (the gate's `finally`, after
every server it started was stopped, so no process still writes there).
What a person keeps of a failing cell is copied into the report directory
first (artefacts.py); /tmp and $TMPDIR hold nothing of a finished run.

Outside a run (a library caller) mkdtemp() is a plain private directory
of $TMPDIR that its caller removes, or, once the caller named a place for
them (place(): the pytest plugin names pytest's own temporary directory, so
that --basetemp and pytest's pruning of old runs apply), one there.
"""
import contextlib
import shutil
import tempfile
import threading

from . import deferral

_root = None
_outside = None  # outside a run: a function naming the directory to make them in (place())
_lock = threading.Lock()


def mkdtemp(prefix: str) -> str:
    """A new private directory: inside the run's directory during a run,
    else in the placed directory (place()), else in $TMPDIR."""
    with _lock:
        root, outside = _root, _outside
    if root:
        return tempfile.mkdtemp(prefix=prefix, dir=root)
    return tempfile.mkdtemp(prefix=f"iogate-{prefix}", dir=outside() if outside else None)


def place(where):
    """Outside a run, mkdtemp() makes its directories in where() (asked at
    each call, so it may name the current test's directory) instead of
    $TMPDIR; place(None) goes back to $TMPDIR."""
    global _outside
    with _lock:
        _outside = where


def root():
    """The run's directory, or None outside a run."""
    return _root


def begin(prefix="iogate-run-") -> bool:
    """Make the run's directory (OSError when $TMPDIR refuses it). False
    when a run is already open (a command calling another): the outer one
    owns it and ends it."""
    global _root
    with _lock:
        if _root is not None:
            return False
        _root = tempfile.mkdtemp(prefix=prefix)
        return True


def end():
    """Remove the run's directory and all it holds; a stop signal that
    arrives meanwhile acts once it is gone (deferral.py)."""
    global _root
    with _lock:
        path, _root = _root, None
    if path:
        with deferral.Held():
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def run(prefix="iogate-run-"):
    """The scope of one run: its directory exists inside, is gone after."""
    owner = begin(prefix)
    try:
        yield _root
    finally:
        if owner:
            end()
