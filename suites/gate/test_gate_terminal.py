"""What a terminal gets and a pipe does not: the live line's ETA and slow
cells, colour (NO_COLOR, TERM=dumb), a verdict table that fits the width.
Most of it is the renderer driven in process on a real pseudo-terminal; one
small gate (one cell, under a second) runs in a pseudo-terminal to show the
command wires it."""
import os
import pty
import re
import select
import subprocess
import time

import pytest

from gatehelp import have
from iogate import learn, models, paths, style, terminal, timeouts
from iogate.runner import Result
from iogate.verdicts import Verdict

ESC = re.compile(r"\x1b\[[0-9;]*m")


def drain(master, until=None, bound=None):
    """What the pseudo-terminal's other side wrote, read until `until`
    appears or nothing more comes (bounded: timeouts.py)."""
    bound = bound or timeouts.timeout("reply")
    out, end = b"", time.monotonic() + bound
    while time.monotonic() < end:
        ready, _, _ = select.select([master], [], [], 0.05 if until is None else end - time.monotonic())
        if not ready:
            if until is None:
                break
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the other side closed (EIO)
            break
        if not chunk:
            break
        out += chunk
        if until is not None and until.encode() in out:
            break
    return out.decode("utf-8", "replace")


@pytest.fixture
def tty():
    """A text stream on the slave side of a new pseudo-terminal, and the master's fd."""
    master, slave = pty.openpty()
    stream = open(slave, "w", encoding="utf-8", buffering=1)
    yield stream, master
    stream.close()
    os.close(master)


class Clock:
    """terminal.time's stand-in: the live line reads monotonic() only."""
    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now


def cell(verdict, seconds, case="c"):
    return Result("srv", case, verdict, seconds=seconds)


def test_the_live_line_gives_an_eta_only_after_a_few_cells_and_colours_the_failures(tty, monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("NO_COLOR", raising=False)
    clock = Clock()
    monkeypatch.setattr(terminal, "time", clock)
    stream, master = tty
    p = terminal.Progress(10, stream)
    assert p.tty and p.colour
    for i in range(2):
        clock.now += 2
        p.finished(("srv", f"c{i}"), cell(Verdict.PASS, 2.0, f"c{i}"))
    early = drain(master)
    assert "[ 2/10] 00:04 0 FAIL" in ESC.sub("", early) and "ETA" not in early  # two cells: no guess
    clock.now += 2
    p.finished(("srv", "c2"), cell(Verdict.FAIL, 2.0, "c2"))
    text = drain(master)
    # 3 cells in 6 s: 2 s a cell, 7 left
    assert "[ 3/10] 00:06 ETA 00:14" in ESC.sub("", text)
    assert f"\x1b[{style.COLOURS['FAIL']}mFAIL\x1b[0m" in text  # the failure's line above the live line
    p.close()


def test_a_slow_cell_shows_its_time_even_when_it_passed(tty, monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("NO_COLOR", "1")
    stream, master = tty
    p = terminal.Progress(5, stream)
    for i in range(3):
        p.finished(("srv", f"c{i}"), cell(Verdict.PASS, 0.5, f"c{i}"))
    p.finished(("srv", "late"), cell(Verdict.PASS, 3 * timeouts.BASE["reply"], "late"))
    text = drain(master)
    assert f"PASS  srv × late ({3 * timeouts.BASE['reply']:.1f}s, slow)" in text
    assert "srv × c1" not in text  # a quick passing cell does not scroll the terminal
    assert "\x1b[3" not in text  # NO_COLOR: no colour, the line is still rewritten in place
    assert "\r\x1b[K" in text


def test_not_a_terminal_the_plain_lines_mark_a_slow_cell_and_carry_no_colour(monkeypatch):
    import io
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = io.StringIO()
    p = terminal.Progress(2, out)
    p.finished(("srv", "a"), cell(Verdict.FAIL, 0.5, "a"))
    p.finished(("srv", "b"), cell(Verdict.PASS, 2 * timeouts.BASE["reply"], "b"))
    assert out.getvalue() == (f"[1/2] FAIL  srv × a (0.5s)\n"
                              f"[2/2] PASS  srv × b ({2 * timeouts.BASE['reply']:.1f}s, slow)\n")


@pytest.mark.parametrize("env, on", [({}, True), ({"NO_COLOR": "1"}, False), ({"NO_COLOR": ""}, True),
                                     ({"TERM": "dumb"}, False)])
def test_colour_follows_no_color_and_term(tty, monkeypatch, env, on):
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("NO_COLOR", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    stream, _ = tty
    assert style.colour_on(stream) is on
    r, w = os.pipe()
    with open(w, "w") as pipe:
        assert not style.colour_on(pipe) and style.width(pipe) is None  # a pipe: never
    os.close(r)


def report(targets, cases, verdict="PASS"):
    return {"targets": [{"name": t} for t in targets], "cases": [{"id": c} for c in cases],
            "results": [{"target": t, "case": c, "verdict": verdict} for t in targets for c in cases]}


SERVERS = [m.name for m in models.MODELS][:12]
CASES = ["recv.eagain.keeps-connection", "recv.partial.state-preserved"]


def test_a_table_wider_than_the_terminal_turns_compact_and_a_pipe_keeps_the_plain_form(tty, monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("NO_COLOR", "1")
    stream, _ = tty
    rep = report(SERVERS, CASES)
    plain = terminal.table(rep)
    assert plain[0].split() == ["case", *SERVERS]  # the documented form: a server per column
    monkeypatch.setenv("COLUMNS", "400")
    assert terminal.table(rep, stream) == [line.rstrip() for line in plain]  # it fits: the same form
    monkeypatch.setenv("COLUMNS", "72")
    small = terminal.table(rep, stream)
    assert max(len(line) for line in small) <= 72
    assert small[0].split() == ["case", *map(str, range(1, len(SERVERS) + 1))]
    assert small[1].split() == [CASES[0], *"P" * len(SERVERS)]
    legend = " ".join(small[len(CASES) + 2:])
    assert all(f"{i} {name}" in legend for i, name in enumerate(SERVERS, 1))
    import io
    assert terminal.table(rep, io.StringIO()) == plain  # not a terminal: whatever COLUMNS says


def test_a_single_case_on_many_servers_is_transposed_when_that_fits(tty, monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "60")
    stream, _ = tty
    lines = terminal.table(report(SERVERS, CASES[:1], "FAIL"), stream)
    assert lines[0].split() == ["server", CASES[0]]
    assert [line.split() for line in lines[1:]] == [[s, "FAIL"] for s in SERVERS]


def gate_in_a_pty(words, env):
    master, slave = pty.openpty()
    proc = subprocess.Popen(words, stdin=slave, stdout=slave, stderr=slave, cwd=paths.ROOT,
                            env=dict(os.environ, TERM="xterm", **env), start_new_session=True)
    os.close(slave)
    try:
        text = drain(master, until="iogate gate: exit", bound=timeouts.timeout("start") * 3)
        text += drain(master)
        proc.wait(timeouts.timeout("stop"))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)  # the session this test started
            proc.wait()
        os.close(master)
    return proc.returncode, text


@pytest.mark.skipif(not have("blocking"), reason="the blocking reference server is not built")
def test_explains_try_it_line_runs_in_a_terminal_with_colour_and_a_table_that_fits():
    """The reference line `explain` prints, run as printed in a 20-column
    terminal: the compact table, coloured; with NO_COLOR no escape at all."""
    import shlex
    case = next(c for c in learn.catalogue.load() if c.id == "recv.zero.closes")
    line = learn.gate_line(models.model("blocking"), case.id)
    words = shlex.split(line)
    assert words[0] == paths.COMMAND
    rc, text = gate_in_a_pty(words, {"COLUMNS": "20"})
    assert rc == 0, text
    assert "\x1b[32mP\x1b[0m" in text  # compact: a letter per cell, in the PASS colour
    assert re.search(r"^recv\.zero\.closes\s+\x1b\[32mP", text, re.M), text
    rc, text = gate_in_a_pty(words, {"COLUMNS": "20", "NO_COLOR": "1"})
    assert rc == 0 and "\x1b[3" not in text and re.search(r"^recv\.zero\.closes\s+P\s*$", text, re.M), text


def test_the_mutation_matrix_is_coloured_on_a_terminal_only(tty, monkeypatch):
    import io
    from iogate import outcome
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("NO_COLOR", raising=False)
    stream, _ = tty
    rep = {"results": [{"target": "m1", "case": "c", "verdict": "FAIL"}, {"target": "m2", "case": "c",
                                                                          "verdict": "PASS"}]}
    out = outcome.of_report(dict(rep, targets=[], cases=[], mode="mutants"))
    coloured = "\n".join(terminal.mutants_table(rep, out, stream))
    assert f"\x1b[{style.COLOURS['FAIL']}mNO\x1b[0m" in coloured  # the mutant that was not caught
    assert f"\x1b[{style.COLOURS['PASS']}mPASS\x1b[0m" in coloured
    assert "\x1b[" not in "\n".join(terminal.mutants_table(rep, out, io.StringIO()))
    assert ESC.sub("", coloured) == "\n".join(terminal.mutants_table(rep, out))  # the same text, aligned alike


def test_the_live_line_is_cut_to_the_terminal_width_colour_sequences_aside(tty, monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", "30")
    stream, master = tty
    p = terminal.Progress(3, stream)
    p.finished(("srv", "a"), cell(Verdict.FAIL, 0.1, "a"))
    p.start(("srv", "b"), "a-long-running-case-name")
    p.tick()
    last = drain(master).split("\r\x1b[K")[-1]
    assert len(ESC.sub("", last)) == 29 and last.startswith("[1/3] 00:00 ")
    assert "\x1b[" not in ESC.sub("", last) and (last.count("\x1b[0m") >= last.count("\x1b[3"))
