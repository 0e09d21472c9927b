"""A server's stdout and stderr, drained by one thread per server instance
so that the server never blocks on a full pipe, kept up to a cap each
(limits.py 'output'; the rest is counted, not stored), and never a reason
for the gate to block (docs/containment.md).

The thread reads raw chunks (os.read), never lines: a server that writes
300 MB without a newline costs the gate one cap of memory. It owns both
descriptors and closes them itself when both reached EOF or when asked to
stop: a daemon that escaped with the write end can never make a close()
in the gate wait on a reader (a buffered file's close() waits for the lock
its readline() holds: the hang this module replaced).
"""
import os
import re
import selectors
import threading

LISTENING = re.compile(rb"listening on (\d+)")
LINE_MAX = 4096  # a stdout line longer than this is not searched for "listening on"
TICK = 0.1       # seconds between two checks of the stop flag


class Drain:
    """Drains the read ends `stdout_fd` and `stderr_fd` (either may be None)."""

    def __init__(self, stdout_fd, stderr_fd, stderr_path, cap, on_port=None):
        self.cap = cap
        self.on_port = on_port  # called once with the port of the first "listening on PORT" line
        self.stdout = bytearray()  # the first `cap` bytes
        self.counts = {"stdout": 0, "stderr": 0}
        self.stderr_path = stderr_path
        self._stderr_kept = 0
        self._line = bytearray()
        self._port_seen = False
        self._stop = threading.Event()
        self.done = threading.Event()
        self._fds = {fd: name for fd, name in ((stdout_fd, "stdout"), (stderr_fd, "stderr")) if fd is not None}
        self._file = open(stderr_path, "wb") if stderr_path and stderr_fd is not None else None
        self.thread = threading.Thread(target=self._run, daemon=True, name="iogate-output")
        self.thread.start()

    def _run(self):
        sel = selectors.DefaultSelector()
        try:
            for fd in self._fds:
                os.set_blocking(fd, False)
                sel.register(fd, selectors.EVENT_READ)
            open_fds = set(self._fds)
            while open_fds and not self._stop.is_set():
                for key, _ in sel.select(TICK):
                    fd = key.fd
                    try:
                        data = os.read(fd, 65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        sel.unregister(fd)
                        open_fds.discard(fd)
                        continue
                    self._take(self._fds[fd], data)
        finally:
            sel.close()
            for fd in self._fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
            if self._file:
                self._file.close()
            self.done.set()

    def _take(self, name, data):
        self.counts[name] += len(data)
        if name == "stderr":
            room = self.cap - self._stderr_kept
            if room > 0 and self._file:
                self._file.write(data[:room])
                self._file.flush()
                self._stderr_kept += min(room, len(data))
            return
        room = self.cap - len(self.stdout)
        if room > 0:
            self.stdout += data[:room]
        if not self._port_seen:
            self._scan(data)

    def _scan(self, data):
        for piece in data.splitlines(keepends=True):
            self._line += piece
            if piece.endswith((b"\n", b"\r")):
                m = LISTENING.search(bytes(self._line))
                self._line.clear()
                if m and self.on_port:
                    self._port_seen = True
                    self.on_port(int(m.group(1)))
                    return
            elif len(self._line) > LINE_MAX:
                self._line.clear()

    def lines(self, last=None):
        out = bytes(self.stdout).splitlines(keepends=True)
        return out[-last:] if last else out

    def dropped(self) -> dict:
        """{'stdout': bytes not kept, 'stderr': ...}, only the non-zero ones."""
        kept = {"stdout": len(self.stdout), "stderr": self._stderr_kept}
        return {k: self.counts[k] - kept[k] for k in self.counts if self.counts[k] > kept[k]}

    def stop(self, bound):
        """Wait up to `bound` seconds for EOF on both, then stop reading."""
        self.done.wait(bound)
        self._stop.set()
        self.done.wait(1.0 + TICK)
