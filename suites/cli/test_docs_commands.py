"""Every iogate command the README and docs/*.md show names a command and
options iogate has: a renamed or removed option fails here instead of
misleading a reader. The options are read from the real parser (cli.py),
not from a list kept beside it."""
import re
import shlex

import pytest

from iogate import cli, paths

DOCS = [paths.ROOT / "README.md", *sorted((paths.ROOT / "docs").glob("*.md"))]
# A command shown to be typed: in a code block (indented or fenced), starting with the clone's or the
# installed command. Lines that show iogate's output ("iogate gate: ...") have a colon after the command.
START = re.compile(r"^(?:\s{4,}|\s*)(?:\$ )?(?:\./)?iogate ([a-z]+)\b(?!:)(.*)$")


def shown_commands(path):
    """(line number, subcommand, [option, ...]) of each command shown in a
    code block of PATH."""
    out, fenced, lines = [], False, path.read_text().splitlines()
    i = 0
    while i < len(lines):
        line, lineno = lines[i], i + 1
        if line.lstrip().startswith("```"):
            fenced = not fenced
        in_code = fenced or line.startswith("    ")
        m = START.match(line) if in_code else None
        while m and line.endswith("\\") and i + 1 < len(lines):  # a continued command
            i += 1
            line = line[:-1] + " " + lines[i].strip()
        i += 1
        if not m:
            continue
        m = START.match(line)
        rest = re.split(r"\s(?:\||;|&&)\s", m.group(2))[0]
        try:
            words = shlex.split(rest, comments=True)
        except ValueError:
            pytest.fail(f"{path.name}:{lineno}: cannot read the command shown: {line.strip()}")
        if "--" in words:
            words = words[:words.index("--")]
        opts = [w.strip("[]").split("=", 1)[0] for w in words if w.strip("[").startswith("--")]
        out.append((lineno, m.group(1), opts))
    return out


def test_the_docs_show_commands_at_all():
    """The extraction works: the README's own examples are found (a broken
    pattern would make the next test pass on nothing)."""
    readme = shown_commands(paths.ROOT / "README.md")
    assert {"gate", "test", "list", "explain", "run", "replay", "merge", "record", "docs"} <= {c for _, c, _ in readme}
    assert any("--server-cmd" in opts for _, _, opts in readme)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_shown_command_and_option_exists(path):
    known = cli.subcommand_options()
    wrong = []
    for lineno, command, opts in shown_commands(path):
        if command not in known:
            wrong.append(f"{path.name}:{lineno}: no command `iogate {command}`")
            continue
        wrong += [f"{path.name}:{lineno}: `iogate {command}` has no option {o}" for o in opts if o not in known[command]]
    assert not wrong, "\n".join(wrong)
