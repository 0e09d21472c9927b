"""Every reference server against every case of the table: PASS, or the N/A
that models.expected_na() states for that cell (the case table's rule, the
profile's, or the model's own residue). A FAIL here means a reference server
is wrong, or the case (or the shim) is; an N/A nobody expected means a
reference server stopped being injectable, and fails too.

The same table holds the syscall backend (docs/backends.md) to the preload
backend's verdicts, cell by cell, on the C models of SYSCALL_COMPARED: each
of their cells runs under both, and both must give exactly the verdict the
table pins."""
import glob
import json
import os

import pytest

from iogate import catalogue, judge, models, paths
from iogate.outcome import describe
from iogate.runner import model_target, run_case
from iogate.verdicts import Verdict

# C models whose every mechanism the syscall backend covers (not POSIX AIO or SIGIO: docs/backends.md
# "What it does not do"), one per family: iterative blocking, a process per connection, poll, epoll
# edge-triggered, io_uring. (The plain run only: the sanitized run repeats the preload cells with
# ASan servers.)
SYSCALL_COMPARED = ("blocking", "fork", "poll", "epoll_et", "io_uring")
# A statically linked twin (no dynamic loader, nothing to preload): the same verdicts as its
# dynamic model, under the syscall backend.
STATIC_TWINS = {"epoll_et": "iogate-static-epoll_et"}
CELLS = [(m, c, m.backend, None) for m in models.MODELS if m.built for c in catalogue.load()]
if not os.environ.get("IOGATE_SANITIZER_RUNTIME"):
    CELLS += [(models.model(n), c, "syscall", None) for n in SYSCALL_COMPARED for c in catalogue.load()]
    CELLS += [(models.model(n), c, "syscall", twin) for n, twin in STATIC_TWINS.items() for c in catalogue.load()]


def cell_id(model, case, backend, binary):
    return f"{binary or model.name}:{case.id}" + ("" if backend == model.backend else f":{backend}")


def trace_of(workdir):
    records = []
    for path in glob.glob(f"{workdir}/*.trace.jsonl"):
        with open(path, errors="replace") as f:
            records += [json.loads(line) for line in f if line.endswith("\n")]
    return records


@pytest.mark.parametrize("model,case,backend,binary", CELLS, ids=[cell_id(*cell) for cell in CELLS])
def test_reference_server_passes(model, case, backend, binary, tmp_path, iogate_tls):
    target = model_target(model, backend)
    if model.tls:  # a TLS server: its clients speak TLS with the session's throwaway certificate (--tls)
        target.tls = iogate_tls
    if binary:
        target.command = target.command.replace(str(model.binary), str(paths.BIN / binary))
        target.name = binary
    result = run_case(case, target, keep_dir=str(tmp_path))  # pytest cleans its tmp dirs
    expected = models.expected_na(model, case)
    if result.verdict == Verdict.NA:
        assert expected, f"an N/A that models.expected_na() does not expect: {result.message}"
        pytest.skip(f"{result.message} (expected: {expected})")
    assert result.verdict == Verdict.PASS, describe(result, case)
    assert expected is None, f"PASS where models.expected_na() expects N/A ({expected}): update the table"
    if case.plan:  # the PASS exercised the claim: the trace holds the fault on the call the case names
        hits = judge.hit_records(case.hit, trace_of(tmp_path))
        assert hits, f"PASS, but the trace shows no {'/'.join(case.hit.rules)} fault on {case.hit.what}"
        assert result.hit == {k: hits[0][k] for k in result.hit}, "the report's hit is not the trace's"
