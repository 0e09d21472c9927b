"""Holding the terminating signals while something must finish whole.

A file the user keeps is written, or a child process is started and
recorded, while SIGINT, SIGTERM, SIGHUP and SIGQUIT are only noted; when
the work is done the first signal noted is delivered again, to whatever
handler was there before (raise_signal): an Interruptible then raises, a
default disposition ends the process, an ignored signal stays ignored. So
a stop request never cuts a report in half nor leaves a temporary file
behind, and it is never lost either. Nested holds compose: the inner one
hands its signal to the outer one.

Signal handlers belong to the main thread: in any other thread a hold
does nothing (the main thread's handlers decide)."""
import signal
import threading

# Every catchable signal that ends a process by default and that a user or a
# runner sends to stop a run: the terminal's interrupt and quit keys, a CI
# runner's SIGTERM, a closed terminal or ssh session's SIGHUP. The one table
# (processes.STOP_SIGNALS is this).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


class Held:
    """While active, STOP_SIGNALS are noted. On exit the previous handlers
    come back and the first signal noted is raised again, unless
    drop=True (a cleanup on the way out: the run already stops)."""

    def __init__(self, drop=False):
        self.drop = drop
        self.noted = None  # the first signal that arrived while held
        self.old = {}

    def _note(self, signum, frame):
        if self.noted is None:
            self.noted = signum

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self.old[sig] = signal.signal(sig, self._note)
        return self

    def __exit__(self, *exc):
        for sig, handler in self.old.items():  # None: a handler not set from Python, taken as the default
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        self.old = {}
        if self.noted is not None and not self.drop:
            signal.raise_signal(self.noted)
        return False
