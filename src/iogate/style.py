"""Colour and width of what is printed to a terminal, decided per stream.

Colour only when the stream is a terminal, NO_COLOR is unset or empty
(https://no-color.org: present and not empty disables it) and TERM is not
`dumb`; a file or a pipe never gets an escape sequence. The width is the
terminal's (COLUMNS first, as shutil.get_terminal_size reads it, then the
stream's own terminal),
None for a file or a pipe: what they get keeps its one layout."""
import os
import shutil

# ANSI SGR: the grades' colours (verdicts.Verdict values)
COLOURS = {"PASS": "32", "WARN": "33", "FAIL": "31;1", "ERROR": "35;1", "N/A": "2"}
RESET = "\x1b[0m"


def is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty()) and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def colour_on(stream) -> bool:
    return is_terminal(stream) and not os.environ.get("NO_COLOR")


def width(stream):
    """Columns of the terminal the stream is, or None (not a terminal)."""
    if not is_terminal(stream):
        return None
    try:
        fallback = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError, AttributeError):
        fallback = os.terminal_size((80, 24))
    return shutil.get_terminal_size(fallback).columns if os.environ.get("COLUMNS") else fallback.columns


def paint(text: str, grade: str, on: bool) -> str:
    """text in the colour of grade (the padding around it left plain), or text as is."""
    code = COLOURS.get(grade)
    if not on or not code or not text.strip():
        return text
    body = text.strip()
    start = text.index(body)
    return f"{text[:start]}\x1b[{code}m{body}{RESET}{text[start + len(body):]}"
