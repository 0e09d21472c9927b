"""The files of each failing cell, kept inside the report directory.

A FAIL, ERROR or WARN cell's whole trace (JSON Lines) and the server's
stderr and stdout go to DIR/cells/<server>/<case>/ (trace.jsonl,
stderr.txt, stdout.txt) under `--report DIR`, so that they travel with the
report (a CI job uploads one directory). report.json names them by paths
relative to DIR (`"artefacts"` of the cell) and report.html links them.
Without --report nothing is kept: the terminal says how to get them.

The caps, all here: a trace over TRACE_CAP keeps its head, the records
around the first injected fault and its tail, with a marker record where
records were cut; stderr and stdout over OUTPUT_CAP keep their head and
tail with a marker line; the whole cells/ directory holds at most
TOTAL_CAP, and a cell that finds it full is noted "artefact not kept: cap
reached". Every cell's work directory is removed once it was looked at
(the rest of the run's scratch goes at its end: scratch.py).
"""
import json
import os
import shutil

from . import atomic
from .verdicts import Verdict

MiB = 1024 * 1024
TRACE_CAP = 4 * MiB     # one cell's trace.jsonl
OUTPUT_CAP = 256 * 1024  # one cell's stderr.txt, and its stdout.txt
TOTAL_CAP = 64 * MiB    # everything under DIR/cells
MIN_ROOM = 64 * 1024    # below this left, a cell's files are not kept at all
KEPT = (Verdict.FAIL.value, Verdict.ERROR.value, Verdict.WARN.value)
NAMES = {"trace": "trace.jsonl", "stderr": "stderr.txt", "stdout": "stdout.txt"}
CAP_REACHED = f"artefact not kept: cap reached ({TOTAL_CAP // MiB} MiB for the report directory's cells/)"


def component(text: str) -> str:
    """A path component made from a server name or case id."""
    out = "".join(ch if ch.isalnum() or ch in "-_.+" else "_" for ch in text)[:100].lstrip(".")
    return out or "_"


class Keeper:
    """Takes each finished cell once: keeps its files under report_dir (if
    any), then removes its work directory."""

    def __init__(self, report_dir=None, total=TOTAL_CAP, trace_cap=TRACE_CAP, output_cap=OUTPUT_CAP):
        self.report_dir = report_dir
        self.room = total
        self.trace_cap, self.output_cap = trace_cap, output_cap
        self.kept = 0
        if report_dir:  # DIR/cells is the gate's: a new run replaces the last one's
            shutil.rmtree(os.path.join(report_dir, "cells"), ignore_errors=True)

    def take(self, result):
        """result: a runner.Result. Sets result.artefacts, drops the
        scratch paths from its evidence."""
        evidence = result.evidence or {}
        workdir, files = evidence.pop("workdir", None), evidence.pop("files", None) or {}
        try:
            if self.report_dir and files and result.verdict.value in KEPT:
                result.artefacts = self._keep(result, files)
        finally:
            if workdir:
                shutil.rmtree(workdir, ignore_errors=True)

    def _keep(self, result, files):
        if self.room < MIN_ROOM:
            return {"note": CAP_REACHED}
        rel = os.path.join("cells", component(result.target), component(result.case))
        dest = os.path.join(self.report_dir, rel)
        os.makedirs(dest, exist_ok=True)
        out, cut = {}, []
        for kind in ("stderr", "stdout", "trace"):  # the small ones first: the trace takes what is left
            src = files.get(kind)
            if not src or not os.path.exists(src):
                continue
            room = min(self.trace_cap if kind == "trace" else self.output_cap, self.room)
            data, note = (cut_trace if kind == "trace" else cut_output)(src, room)
            atomic.write_bytes(os.path.join(dest, NAMES[kind]), data)
            self.room -= len(data)
            self.kept += len(data)
            out[kind] = os.path.join(rel, NAMES[kind])
            if note:
                cut.append(f"{NAMES[kind]}: {note}")
        if cut:
            out["cut"] = cut
        return out


def rebase(report, from_dir, to_dir):
    """A report read from from_dir, written to to_dir (`iogate merge`): its
    cells' artefact paths made relative to to_dir, so the links still
    reach the shard's files."""
    for res in report.get("results", []):
        art = res.get("artefacts") or {}
        for kind in NAMES:
            if isinstance(art.get(kind), str):
                art[kind] = os.path.relpath(os.path.join(os.path.abspath(from_dir), art[kind]),
                                            os.path.abspath(to_dir))
    return report


def cut_output(path, cap):
    """(bytes, note): the file, or its head and tail around a marker line."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        if size <= cap:
            return f.read(), ""
        half = max(0, (cap - 200) // 2)
        head = f.read(half)
        f.seek(size - half)
        tail = f.read()
    left = size - len(head) - len(tail)
    note = f"{left} bytes of {size} cut (the cap keeps {cap} bytes: the head and the tail)"
    return head + f"\n[iogate: {note}]\n".encode() + tail, note


def _faulted(line: bytes) -> bool:
    if b'"fault":' not in line or b'"fault":null' in line:
        return False
    try:
        return bool(json.loads(line).get("fault"))
    except (ValueError, AttributeError):
        return False


def cut_trace(path, cap):
    """(bytes, note): the trace, or, over cap, its head, the records around
    the first injected fault and its tail, each a quarter of the cap, whole
    records only, with a marker record {"cut": {"records", "bytes"}, "note"}
    where records were left out (still JSON Lines)."""
    size = os.path.getsize(path)
    if size <= cap:
        with open(path, "rb") as f:
            return f.read(), ""
    sizes, first = [], None
    with open(path, "rb") as f:
        for line in f:
            if first is None and _faulted(line):
                first = len(sizes)
            sizes.append(len(line))
    quarter = max(0, cap - 1024) // 4  # 1 KiB for the (at most 3) markers
    keep = set()

    def walk(indices):
        used = 0
        for i in indices:
            used += sizes[i]
            if used > quarter:
                return
            keep.add(i)

    n = len(sizes)
    walk(range(n))                                  # the head
    walk(range(n - 1, -1, -1))                      # the tail
    if first is not None:
        walk(range(first, -1, -1))                  # up to the first fault
        walk(range(first + 1, n))                   # and after it
    out, skipped, skipped_bytes, total_cut = [], 0, 0, 0

    def marker():
        note = (f"{skipped} records ({skipped_bytes} bytes) cut here: the artefact cap keeps the head, the "
                f"records around the first injected fault and the tail")
        out.append(json.dumps({"cut": {"records": skipped, "bytes": skipped_bytes}, "note": note}).encode() + b"\n")

    with open(path, "rb") as f:
        for i, line in enumerate(f):
            if i in keep:
                if skipped:
                    marker()
                    skipped, skipped_bytes = 0, 0
                out.append(line if line.endswith(b"\n") else line + b"\n")
            else:
                skipped += 1
                skipped_bytes += len(line)
                total_cut += 1
    if skipped:
        marker()
    return b"".join(out), (f"{total_cut} of {n} records cut ({size} bytes; the cap keeps {cap}: the head, "
                           f"around the first injected fault, the tail)")
