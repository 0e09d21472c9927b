"""The fast part of the real-world corpus (ci/servers/corpus.tsv): servers no
one here wrote, each with its default configuration, gated with every case.
Every verdict must be the one docs/realworld.md expects (a FAIL there is a
real bug of the server, proven without iogate in that document). The whole
corpus, with repeated and loaded runs, is bench/realworld."""
import importlib.machinery
import importlib.util
import json

import pytest

import gatehelp
from iogate import paths

# each under 30 s on a quiet 2-core machine (apache2 took 36 s: bench/realworld gates it, and every other server);
# nginx's whole catalogue is gated by suites/gate/test_gate_third_party.py already
FAST = ["asyncio-echo", "node-echo", "redis-server", "memcached"]


def _bench():
    loader = importlib.machinery.SourceFileLoader("iogate_bench_realworld", str(paths.ROOT / "bench" / "realworld"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


BENCH = _bench()
CORPUS = {row["name"]: row for row in BENCH.load_corpus(BENCH.CORPUS)}
SERVERS, EXPECTED = BENCH.load_expected(BENCH.DOC)


def test_the_expected_table_covers_the_corpus_and_every_case():
    from iogate import catalogue
    assert set(SERVERS) == set(CORPUS)
    ids = {c.id for c in catalogue.load()}
    assert {case for case, _ in EXPECTED} == ids


@pytest.mark.parametrize("name", FAST)
def test_corpus_server_gets_exactly_its_expected_verdicts(name, tmp_path):
    row = CORPUS[name]
    if not BENCH.installed(row["package"]):
        pytest.skip(f"Debian package {row['package']} is not installed (ci/debian-packages.txt)")
    out = gatehelp.run("gate", "--server-cmd", BENCH.absolute_command(row["command"]), *BENCH.protocol_args(row),
                       "--report", str(tmp_path), cwd=str(paths.ROOT))
    assert out.returncode in (0, 1), out.stdout + out.stderr
    results = json.loads((tmp_path / "report.json").read_text())["results"]
    wrong = [f"{r['case']}: {r['verdict']} (expected {' or '.join(EXPECTED[(r['case'], name)])}): {r['message']}"
             for r in results if r["verdict"] not in EXPECTED[(r["case"], name)]]
    assert not wrong, "\n".join(wrong)
