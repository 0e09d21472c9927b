"""Every command line iogate prints is quoted for a POSIX shell
(shlex.join): the replay line of a failing cell, in the terminal recap,
report.json, report.html and JUnit, runs as printed even when the server
command holds quotes and spaces, and judges the cell the same way."""
import html
import json
import shlex
import subprocess
import xml.etree.ElementTree as ET

import pytest

from gatehelp import ENV, IOGATE, mutant_binary, run
from iogate import paths

MUTANT = mutant_binary("select--exit-on-recv-error")
CASE = "recv.error.closes"


def server_commands(tmp_path):
    """A server command holding single quotes, and one whose program path
    holds a space and a quote (so does the server's name in the report)."""
    odd = tmp_path / "it's a dir"
    odd.mkdir()
    (odd / "it's srv").symlink_to(MUTANT)
    return {"sh -c": f"sh -c 'exec {MUTANT} --port \"$0\"' {{port}}",
            "odd path": f"{shlex.quote(str(odd / chr(39).join(['it', 's srv'])))} --port {{port}}"}


@pytest.mark.skipif(not MUTANT.exists(), reason="mutant not built")
@pytest.mark.parametrize("which", ["sh -c", "odd path"])
def test_the_printed_replay_line_of_a_quoted_server_command_runs_as_printed(tmp_path, which):
    cmd = server_commands(tmp_path)[which]
    env = {"TMPDIR": str(tmp_path)}
    g = run("gate", "--server-cmd", cmd, "--model", "select", "--cases", CASE, "--seed", "5", "--max-output", "2M",
            "--report", str(tmp_path / "rep"), "--junit", str(tmp_path / "junit.xml"), env=env)
    assert g.returncode == 1, g.stdout + g.stderr
    line = next(ln.strip()[len("replay: "):] for ln in g.stdout.splitlines() if ln.strip().startswith("replay: "))
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    cell = rep["results"][0]
    assert cell["replay"] == line and shlex.split(line)[3] == cmd  # the --server-cmd word is the command itself
    failure = ET.parse(tmp_path / "junit.xml").getroot().find(".//failure")
    assert f"replay: {line}" in failure.text
    page = html.unescape((tmp_path / "rep" / "report.html").read_text())
    assert line in page
    assert shlex.join([IOGATE, "replay", str(tmp_path / "rep" / "report.json"), CASE, "--target", cell["target"]]) \
        in page  # the command as invoked, the report by its absolute path
    assert shlex.split(line)[0] == IOGATE
    assert "--max-output 2097152" in line  # a changed limit is part of the cell: the replay meets it again
    again = subprocess.run(["sh", "-c", line], cwd=paths.ROOT, capture_output=True, text=True, timeout=600,
                           env=dict(ENV, **env))
    assert again.returncode == 1, again.stdout + again.stderr  # the same verdict: FAIL
    assert f"exit 1 (FAIL): 1 case(s) failed: {CASE}" in again.stderr
