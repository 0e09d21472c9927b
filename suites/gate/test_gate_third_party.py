"""Servers no one here wrote, installed from Debian: a correct server shows
no false FAIL on the cases that apply to it. nginx speaks http (a config
generated per cell by ci/servers/nginx); socat forks `cat` per connection
(echo) or a line loop (line). Their two warnings are real and explained (robustness only, V18):

socat × accept.nonblock-set-explicitly, spurious.readiness.tolerated
    socat's per-connection child waits in select() and then reads the
    client socket, which it keeps blocking by default. select(2) BUGS allows
    a socket to be reported readable while a read would block; the shim
    reports the idle socket ready once (wait.spurious), socat's read()
    blocks, and the reply `cat` already wrote waits in the pipe: that client
    stalls. With socat's `nonblock` option it fails differently: read() gets
    EAGAIN and socat treats it as fatal ("E read(7, ...): Resource
    temporarily unavailable") and drops the connection. Linux itself never
    reports an idle TCP socket readable to its only reader: a robustness
    WARN, not a FAIL.
"""
import json
import re
import shutil

import pytest

from gatehelp import NGINX_CMD, SOCAT_ECHO, nginx, run, socat
from iogate import paths

SOCAT_KNOWN = {"accept.nonblock-set-explicitly", "spurious.readiness.tolerated"}


@pytest.mark.skipif(not nginx(), reason="nginx is not installed (apt-get install nginx; ci/debian-packages.txt)")
def test_nginx_passes_every_case_that_applies_to_it(tmp_path):
    out = run("gate", "--server-cmd", NGINX_CMD, "--protocol", "http", "--jobs", "2",
              "--report", str(tmp_path), "--junit", str(tmp_path / "junit.xml"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "detected the model of nginx: epoll(7), edge-triggered, non-blocking sockets" in out.stderr
    rep = json.loads((tmp_path / "report.json").read_text())
    verdicts = {r["case"]: r["verdict"] for r in rep["results"]}
    assert set(verdicts.values()) <= {"PASS", "N/A"}
    assert verdicts["et.read.drains-until-eagain"] == "PASS" and verdicts["big.message.no-overflow"] == "PASS"
    # docs/ci.md says how many apply and pass: the count it shows is this run's
    shown = re.search(r"every one of\s+the (\d+) applicable cases passes", (paths.ROOT / "docs" / "ci.md").read_text())
    assert shown and int(shown.group(1)) == sum(v == "PASS" for v in verdicts.values()), verdicts
    assert (tmp_path / "report.html").exists() and (tmp_path / "junit.xml").exists()


@pytest.mark.skipif(not socat(), reason="socat is not installed (apt-get install socat; ci/debian-packages.txt)")
def test_socat_echo_gets_its_two_explained_warnings(tmp_path):
    """Regression: these two were FAILs although Linux never reports an idle
    TCP socket readable to its only reader: a robustness WARN (V18), exit 0
    (1 with --strict: suites/cli/test_cli.py's WARN mutant)."""
    out = run("gate", "--server-cmd", SOCAT_ECHO, "--protocol", "echo", "--jobs", "2", "--report", str(tmp_path),
              "--cases", "spurious.*,accept.nonblock*")  # the other cases: the test below
    assert out.returncode == 0, out.stdout + out.stderr
    assert "select(2), level-triggered, blocking sockets, a process per connection" in out.stderr
    rep = json.loads((tmp_path / "report.json").read_text())
    warned = {r["case"] for r in rep["results"] if r["verdict"] == "WARN"}
    assert warned == SOCAT_KNOWN, {r["case"]: r["message"] for r in rep["results"] if r["verdict"] != "PASS"}
    assert not [r for r in rep["results"] if r["verdict"] in ("ERROR", "FAIL")]
    for r in rep["results"]:
        if r["case"] in SOCAT_KNOWN:
            assert "while an idle connection is reported ready" in r["message"] and "V6" in r["message"]


@pytest.mark.skipif(not socat(), reason="socat is not installed")
def test_socat_echo_passes_once_its_known_limitation_is_excluded():
    out = run("gate", "--server-cmd", SOCAT_ECHO, "--protocol", "echo", "--jobs", "2",
              "--cases", "*,!accept.nonblock-set-explicitly,!spurious.readiness.tolerated,!send.slow-reader.*,"
                         "!big.message.*")
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.skipif(not (socat() and shutil.which("bash")), reason="socat or bash is not installed")
def test_a_line_server_passes_the_line_protocol(tmp_path):
    script = tmp_path / "lines.sh"
    script.write_text("#!/bin/bash\nwhile IFS= read -r l; do printf '%s\\n' \"$l\"; done\n")
    script.chmod(0o755)
    out = run("gate", "--server-cmd", f"socat TCP-LISTEN:{{port}},bind=127.0.0.1,reuseaddr,fork EXEC:{script}",
              "--protocol", "line", "--jobs", "2", "--cases", "recv.*,peer.*,stream.*,fd.*")
    assert out.returncode == 0, out.stdout + out.stderr
