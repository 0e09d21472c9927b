"""The README's sample output is a real run's: each sample is compared with
the same command run now, numbers that vary from run to run (times, call
counts, thread ids) aside. A change of the gate's output, the case table or
the detection makes this fail until the README shows what a user will see.
The failure message holds the run's output to paste."""
import json
import re

import pytest

from gatehelp import have, mutant_binary, run
from iogate import paths

README = paths.ROOT / "README.md"
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def block_after(text, sentence):
    """The fenced block that follows SENTENCE (its lines)."""
    start = text.index(sentence)
    body = text[text.index("```\n", start) + 4:]
    return body[:body.index("```")].rstrip("\n").splitlines()


def numbers_aside(lines):
    """Numbers aside, and the clone's path as the README writes it (a replay
    line names the script by its absolute path: it is pasted anywhere)."""
    return [NUMBER.sub("N", line.replace(str(paths.ROOT), "~/iogate")).rstrip() for line in lines]


def gate_lines(out):
    """What the README shows of a gate: the detection lines (stderr, the
    progress lines left out), then its standard output."""
    detection = [line for line in out.stderr.splitlines()
                 if line.startswith(("iogate gate: detected", "iogate gate:   "))]
    return detection + out.stdout.rstrip("\n").splitlines()


@pytest.mark.skipif(not have("epoll_et"), reason="epoll_et is not built")
def test_the_readme_gate_sample_is_what_the_gate_prints():
    shown = block_after(README.read_text(), "A real run against the edge-triggered reference server")
    out = run("gate", "--server-cmd", "build/bin/iogate-epoll_et --port {port}", cwd=paths.ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    real = gate_lines(out)
    assert numbers_aside(shown) == numbers_aside(real), "the README should show:\n" + "\n".join(real)


def trace_keys(lines):
    """{call: key set} of the trace records in LINES (an excerpt's lines)."""
    keys = {}
    for line in lines:
        rec = json.loads(line.lstrip(" >"))
        keys.setdefault(rec["call"], set(rec))
    return keys


MUTANT = "epoll_lt--epollout-never-disarmed"


@pytest.mark.skipif(not mutant_binary(MUTANT).exists(), reason="the mutants are not built")
def test_the_readme_failure_sample_is_what_the_gate_prints():
    """The explanation lines as printed (numbers aside, the measured
    symptom up to its colon); of the trace
    excerpt, the injected record as printed and each call's fields (which
    calls the server made in which order is its own business)."""
    shown = block_after(README.read_text(), "and the trace that shows it:")
    cmd = f"build/bin/iogate-mutant-{MUTANT} --port {{port}}"
    out = run("gate", "--server-cmd", cmd, "--cases", "lt.epollout.disarmed-when-idle", cwd=paths.ROOT)
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("FAIL  "))
    real = lines[start:next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("  "))]
    hint = "the README should show:\n" + "\n".join(real)

    def split(block):
        cut = next(i for i, line in enumerate(block) if line.startswith("  trace excerpt")) + 1
        trace = [line for line in block[cut:] if line.strip().startswith(("{", ">>"))]
        return block[:cut], trace, [line for line in trace if line.lstrip().startswith(">>")]

    shown_text, shown_trace, shown_fault = split(shown)
    real_text, real_trace, real_fault = split(real)
    # The measured symptom's wording depends on the measure (a loaded machine takes two windows): its start only.
    shown_text[1], real_text[1] = (line.split(":", 1)[0] for line in (shown_text[1], real_text[1]))
    assert numbers_aside(shown_text) == numbers_aside(real_text), hint
    assert numbers_aside(shown_fault) == numbers_aside(real_fault), hint
    real_keys = trace_keys(real_trace)
    for call, keys in trace_keys(shown_trace).items():
        assert call in real_keys and keys == real_keys[call], (call, hint)
