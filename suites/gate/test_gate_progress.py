"""The progress line: rewritten in place on a terminal, plain lines otherwise."""
import io

from iogate.terminal import Progress
from iogate.runner import Result
from iogate.verdicts import Verdict


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_on_a_terminal_one_line_is_rewritten_with_done_total_elapsed_and_failures(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("NO_COLOR", "1")  # colour: test_gate_terminal.py
    out = Tty()
    p = Progress(4, out)
    p.start(("a", "c1"), "c1")
    p.tick()
    p.finished(("a", "c1"), Result("a", "c1", Verdict.PASS))
    p.finished(("a", "c2"), Result("a", "c2", Verdict.FAIL))
    p.finished(("a", "c3"), Result("a", "c3", Verdict.WARN))
    p.close()
    text = out.getvalue()
    assert "\r\x1b[K[0/4] 00:00 0 FAIL, 0 ERROR, 0 WARN  running: c1" in text
    assert "[2/4] 00:00 1 FAIL, 0 ERROR, 0 WARN" in text
    assert "[3/4] 00:00 ETA 00:00 1 FAIL, 0 ERROR, 1 WARN" in text  # warnings are counted apart; an ETA from 3
    assert "[2/4] FAIL  a × c2" in text  # a failure stays on the screen above the live line
    assert "[3/4] WARN  a × c3" in text  # and so does a warning
    assert text.endswith("\r\x1b[K")
    assert "\n[1/4] PASS" not in text  # passing cells do not scroll the terminal


def test_not_a_terminal_plain_lines():
    out = io.StringIO()
    p = Progress(2, out)
    p.tick()
    p.finished(("a", "c1"), Result("a", "c1", Verdict.PASS, seconds=0.25))
    p.close()
    assert out.getvalue() == "[1/2] PASS  a × c1 (0.2s)\n"
