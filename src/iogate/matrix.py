"""Planning the gate's matrix: its servers (the reference models, or one
external command), its cases (--cases globs with exclusions), the checks
of the command line that need no build, and --shard's deterministic slice.
Nothing here starts a process."""
import fnmatch
import shlex
import sys

from . import catalogue, models
from .names import server_name
from .runner import Target, model_target


def reference_targets(backend="auto", tls=False):
    """Every reference model the gate runs (models.left_out: the TLS ones
    only under --tls, and only they); under its own backend unless one is
    asked for."""
    return [model_target(m, backend) for m in models.MODELS if m.built and not models.left_out(m, tls)]


def left_out_note(items, prefix):
    """One line per model or mutant the gate leaves out, with the reason."""
    return [f"{prefix}: {m.name} left out: {models.left_out(m)}" for m in items if models.left_out(m)]


def external_target(cmd, model_name, name=None):
    """The target of --server-cmd, named by --name or after the program
    its command runs (names.py)."""
    profile = None
    if model_name and model_name != "auto":
        profile = models.model(model_name).profile
    try:
        argv = shlex.split(cmd)
    except ValueError as e:
        raise SystemExit(f"iogate gate: bad --server-cmd: {e}")
    if not argv:
        raise SystemExit("iogate gate: --server-cmd is empty")
    if "{port}" not in cmd:
        print("iogate gate: --server-cmd has no '{port}'; the server must then print 'listening on PORT'",
              file=sys.stderr)
    model = model_name if model_name and model_name != "auto" else None
    return Target(name or server_name(cmd), cmd, profile, protocol_flag=False, model=model)


def unmatched_globs(pattern):
    """The globs of a --cases list that match no case id (a typo would
    otherwise narrow the run without a word)."""
    globs = [g.strip().lstrip("!") for g in (pattern or "").split(",") if g.strip()]
    return [g for g in globs if not g or not catalogue.select(g)]


def usage_problem(opts):
    """One line saying why the command line cannot be honoured, or None:
    checked before any build or cell."""
    if opts.jobs < 1:
        return "--jobs must be >= 1"
    if not 0 <= opts.seed < 2 ** 64:
        return f"--seed must be in 0..2^64-1 (the shim's plan seed), not {opts.seed}"
    name = getattr(opts, "name", None)
    if name is not None and (not name.strip() or any(ord(ch) < 32 or ord(ch) == 127 for ch in name)):
        return "--name must be a non-empty name on one line, without control characters"
    if opts.cases is not None:
        if not [g for g in opts.cases.split(",") if g.strip().lstrip("!")]:
            return "--cases is empty: give case ids or globs (`./iogate list` shows the ids), or leave it out for all"
        missing = unmatched_globs(opts.cases)
        if missing:
            return f"--cases: no case matches {', '.join(repr(g) for g in missing)}; `./iogate list` shows the ids"
    return None


def select_cases(pattern):
    """catalogue.select, plus exclusions: '*,!spurious.*' is every case but
    those matching spurious.*."""
    globs = [g.strip() for g in (pattern or "").split(",") if g.strip()]
    keep = [g for g in globs if not g.startswith("!")]
    drop = [g[1:] for g in globs if g.startswith("!")]
    cases = catalogue.select(",".join(keep)) if keep else catalogue.load()
    return [c for c in cases if not any(fnmatch.fnmatchcase(c.id, g) for g in drop)]


def parse_shard(text):
    """'I/N' -> (I, N), 1 <= I <= N."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard takes I/N (e.g. 2/4), not {text!r}")
    if not 1 <= i <= n:
        raise ValueError(f"--shard {text}: need 1 <= I <= N")
    return i, n


def shard_cells(cells, index, count):
    """Deterministic partition: the k-th cell of the matrix (servers in table
    order, cases in catalogue order) goes to shard k mod N + 1. Every cell is
    in exactly one shard whatever the machine, and each server's cases are
    spread over the shards."""
    return [cell for k, cell in enumerate(cells) if k % count == index - 1]
