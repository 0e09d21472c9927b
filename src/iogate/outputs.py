"""Can an output the user asked for be written? Asked before anything is
built or run (a gate that learns at its end that --report points under a
regular file has spent its whole run for nothing): one phrase saying why
not, or None.

The answer is a real attempt, not a guess from permission bits (root
writes through them; a read-only mount or /proc refuses whatever the bits
say): a private file is made and removed in the directory the output
would go to, or in its nearest existing ancestor when that directory is
still to be made. Nothing else is created."""
import os
import tempfile

from . import deferral


def _nearest(path):
    """path, or its nearest ancestor that exists (a dangling symlink counts)."""
    while not os.path.lexists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def _writable(directory):
    with deferral.Held():  # the probe is gone before a stop signal acts
        try:
            fd, probe = tempfile.mkstemp(prefix=".iogate-probe-", dir=directory)
        except OSError as e:
            return f"cannot create a file in {directory}: {e.strerror}"
        os.close(fd)
        os.unlink(probe)
    return None


def directory_problem(path, make=True):
    """A directory to write files into; make: it may still be made (with
    its missing parents)."""
    path = os.path.abspath(path)
    if os.path.lexists(path) and not os.path.isdir(path):
        return f"{path} is not a directory"
    if not os.path.exists(path) and not make:
        return f"no directory {path}"
    found = _nearest(path)
    if not os.path.isdir(found):
        return f"{found} is not a directory"
    return _writable(found)


def file_problem(path, make_parents=True):
    """A file to write (replaced whole: atomic.py); make_parents: its
    directory may still be made."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        return f"{path} is a directory"
    return directory_problem(os.path.dirname(path), make=make_parents)


def summary_problem(path):
    """A file appended to (--summary): its directory exists; the file, when
    it does, is not a directory and can be opened for appending."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        return f"{path} is a directory"
    if os.path.lexists(path):
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC | os.O_NONBLOCK))
        except OSError as e:
            return f"cannot append to it: {e.strerror}"
        return None
    return directory_problem(os.path.dirname(path), make=False)
