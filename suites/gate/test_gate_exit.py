"""The exit contract: 0 pass, 1 a case failed, 2 usage or harness error; a
crashing server still gets every report; an interrupted gate ends every
process it started and leaves no listening port, and reports what finished."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from gatehelp import ENV, IOGATE, NGINX_CMD, alive, binary, children, have, listening_ports, \
    ipv6, listening_ports_of, mutant_binary, nginx, run


def test_an_empty_case_selection_exits_2():
    out = run("gate", "--cases", "no.such.*")
    assert out.returncode == 2 and "no case matches" in out.stderr


def test_exclusions_can_empty_a_selection_too():
    out = run("gate", "--cases", "recv.zero.closes,!recv.*")
    assert out.returncode == 2 and "no case matches" in out.stderr


@pytest.mark.parametrize("cases,named", [("recv.zero.closes,recv.eror.closes", "'recv.eror.closes'"),
                                         ("*,!no.such.case", "'no.such.case'"), ("", "--cases is empty"),
                                         (" , ", "--cases is empty")])
def test_a_cases_list_with_a_glob_that_matches_nothing_is_refused_before_anything_runs(cases, named):
    out = run("gate", "--cases", cases)
    assert out.returncode == 2, out.stdout + out.stderr
    assert named in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not out.stdout  # refused before any cell


@pytest.mark.parametrize("seed", ["-1", str(2 ** 64), "x"])
def test_a_seed_out_of_range_is_one_line_and_exit_2(seed):
    out = run("gate", "--seed", seed, "--cases", "recv.zero.closes")
    assert out.returncode == 2 and "seed" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not out.stdout


@pytest.mark.parametrize("bad", [["--shard", "3/2"], ["--shard", "x"], ["--jobs", "0"], ["--model", "nosuch"],
                                 ["--protocol", "gopher"]])
def test_bad_options_exit_2(bad):
    out = run("gate", "--server-cmd", "true {port}", *bad)
    assert out.returncode == 2
    # one line of its own (an unknown --model once ended in "internal error: AttributeError")
    assert len(out.stderr.strip().splitlines()) == 1 and "internal error" not in out.stderr, out.stderr


def test_a_server_that_never_listens_is_one_clear_error_line_and_exit_2():
    out = run("gate", "--server-cmd", "sleep 30 {port}", "--cases", "recv.*", env={"IOGATE_TIMEOUT_SCALE": "0.2"},
              timeout=120)
    assert out.returncode == 2
    lines = [line for line in out.stdout.splitlines() if line.startswith("iogate gate: ERROR")]
    assert len(lines) == 1 and "did not become ready: no listening socket on port" in lines[0], out.stdout
    assert out.stdout.count("ERROR") >= 4  # every selected cell is an ERROR, none was tried for 10 s each


LISTEN_ONLY = ("import socket, sys, time; s = socket.socket(); "
               "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
               "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(8); time.sleep(60)")


def test_a_server_that_listens_but_never_answers_is_an_error_with_exit_2():
    out = run("gate", "--server-cmd", f"{sys.executable} -c \"{LISTEN_ONLY}\" {{port}}", "--protocol", "echo",
              "--cases", "recv.zero.closes", env={"IOGATE_TIMEOUT_SCALE": "0.3"}, timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    line = next(line for line in out.stdout.splitlines() if line.startswith("iogate gate: ERROR"))
    assert "did not answer the warm-up in protocol 'echo'" in line


@pytest.mark.skipif(not mutant_binary("blocking--exit-on-io-error").exists(), reason="mutant not built")
def test_a_server_that_crashes_mid_run_fails_its_case_and_the_others_are_still_judged(tmp_path):
    out = run("gate", "--server-cmd", f"{mutant_binary('blocking--exit-on-io-error')} --port {{port}}",
              "--model", "blocking", "--jobs", "1",
              "--cases", "recv.partial.state-preserved,peer.reset.only-that-connection,recv.zero.closes",
              "--report", str(tmp_path), "--junit", str(tmp_path / "junit.xml"))
    assert out.returncode == 1, out.stdout + out.stderr
    rep = json.loads((tmp_path / "report.json").read_text())
    verdicts = {r["case"]: r["verdict"] for r in rep["results"]}
    assert verdicts == {"recv.partial.state-preserved": "PASS", "peer.reset.only-that-connection": "FAIL",
                        "recv.zero.closes": "PASS"}, out.stdout
    crashed = next(r for r in rep["results"] if r["verdict"] == "FAIL")
    assert "the server exited with status" in crashed["message"], crashed["message"]
    assert (tmp_path / "report.html").exists() and (tmp_path / "junit.xml").exists()


def gate_target():
    if nginx():
        return [NGINX_CMD, "--protocol", "http"]
    if have("epoll_et"):
        return [f"{binary('epoll_et')} --port {{port}}", "--model", "epoll_et"]
    pytest.skip("neither nginx nor the epoll_et reference server is here")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT],
                         ids=["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"])
def test_an_interrupted_gate_ends_every_child_leaves_no_port_and_reports_the_finished_cells(sig, tmp_path):
    cmd, *rest = gate_target()
    scratch = tmp_path / "tmp"  # the gate's TMPDIR: the work directories of its cells
    scratch.mkdir()
    gate = subprocess.Popen([IOGATE, "gate", "--server-cmd", cmd, *rest, "--jobs", "2", "--report", str(tmp_path),
                             "--junit", str(tmp_path / "junit.xml")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(ENV, TMPDIR=str(scratch)),
                            start_new_session=True)
    seen, ports, lines = {}, set(), []
    reader = threading.Thread(target=lambda: lines.extend(iter(gate.stderr.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and gate.poll() is None:
            for pid in children(gate.pid):  # every process the gate started, and the ports they listen on
                seen.setdefault(pid, True)
                ports |= listening_ports_of(pid)
            if sum(1 for line in list(lines) if line.startswith("[")) >= 6:
                break
            time.sleep(0.02)
        assert gate.poll() is None, f"the gate ended before it was half-way: {''.join(lines)}"
        gate.send_signal(sig)
        gate.wait(timeout=60)
        reader.join(10)
    finally:
        if gate.poll() is None:
            os.killpg(gate.pid, signal.SIGKILL)
    err = "".join(lines)
    assert gate.returncode == 2, err
    assert f"interrupted by {sig.name}" in err
    left = [p for p in seen if alive(p)]
    assert not left, f"processes of the gate still alive: {left}"
    assert ports and not (ports & listening_ports()), f"ports still listening: {ports & listening_ports()}"
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["interrupted"] and rep["exit_code"] == 2
    assert 6 <= len(rep["results"]) < 37
    assert (tmp_path / "report.html").exists() and (tmp_path / "junit.xml").exists()
    assert not list(scratch.iterdir()), f"left in the gate's TMPDIR: {list(scratch.iterdir())}"


CAPPED = os.path.join(os.path.dirname(__file__), "servers", "capped_poll.py")



@pytest.mark.parametrize("bind,shown", [("0.0.0.0", "0.0.0.0:"), pytest.param(
    "::", "[::]:", marks=pytest.mark.skipif(not ipv6(), reason="no IPv6 on this machine"))])
def test_a_server_listening_on_every_interface_is_said_so_and_refused_under_strict(bind, shown, tmp_path):
    """Faults are injected into a server other machines can reach: a warning
    in the terminal and the report; --strict makes it an ERROR (exit 2)."""
    cmd = f"{CAPPED} --port {{port}} --bind {bind}"
    r = run("gate", "--server-cmd", cmd, "--protocol", "echo", "--cases", "recv.zero.closes",
             "--report", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "WARNING: capped_poll.py listens on all interfaces" in r.stdout and shown in r.stdout, r.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["warnings"] and shown in report["warnings"][0]
    assert "listens on all interfaces" in (tmp_path / "report.html").read_text()
    strict = run("gate", "--server-cmd", cmd, "--protocol", "echo", "--cases", "recv.zero.closes", "--strict")
    assert strict.returncode == 2 and "--strict: capped_poll.py listens on all interfaces" in strict.stderr
    quiet = run("gate", "--server-cmd", f"{CAPPED} --port {{port}}", "--protocol", "echo", "--cases",
                 "recv.zero.closes", "--strict")
    assert quiet.returncode == 0 and "all interfaces" not in quiet.stdout + quiet.stderr


def _running(exe):
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.readlink(f"/proc/{name}/exe") == exe and alive(int(name)):
                    pids.append(int(name))
            except OSError:
                continue
    return pids


@pytest.mark.skipif(not have("poll"), reason="poll reference server not built")
def test_a_gate_whose_output_closes_mid_run_leaves_no_server(tmp_path):
    """Regression: `./iogate gate 2>&1 | head -c 1`: the first progress line
    after the reader left raised BrokenPipeError in the main thread, the
    process ended, and the servers of the cells still running (on daemon
    threads) stayed, one of them SIGSTOPped by its case."""
    import shutil
    exe = str(tmp_path / "iogate-poll-closed-output")  # a name no other test's server has
    shutil.copy(binary("poll"), exe)
    script = f"{IOGATE} gate --jobs 2 --server-cmd '{exe} --port {{port}}' --model poll 2>&1 | head -c 1 >/dev/null"
    subprocess.run(["bash", "-c", script], env=ENV, timeout=600)
    deadline = time.monotonic() + 10
    while _running(exe) and time.monotonic() < deadline:
        time.sleep(0.05)  # polling a condition with a deadline: SIGKILLed processes vanish at once
    left = _running(exe)
    for pid in left:  # this test's own servers (their binary is its copy): nothing outlives a failure
        os.kill(pid, signal.SIGKILL)
    assert not left, f"servers left running after the gate ended: {left}"
