"""Hostile servers (docs/containment.md): nothing a server does may hang the
gate, escape it or outlive it. One probe per behaviour; each ends within
its bound with the exit status of the contract, leaves no process of the
gate (none carries its IOGATE_INSTANCE marker), no control group of it, and
writes its report."""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from gatehelp import ENV, IOGATE, binary, have, run

HERE = os.path.dirname(__file__)
HOSTILE = os.path.join(HERE, "servers", "hostile.py")
CRASH_THIRD = os.path.join(HERE, "servers", "crash_third.py")
CASE = "recv.zero.closes"  # one short case: the probes are about the server's processes, not its IO

pytestmark = pytest.mark.skipif(not have("epoll_et"), reason="reference servers not built")


def hostile_cmd(mode):
    return f"{sys.executable} {HOSTILE} {mode} iogate-hostile-probe -- {binary('epoll_et')} --port {{port}}"


def marked(gate_pid):
    """Pids of live processes that a gate with pid `gate_pid` started for a server."""
    token = f"IOGATE_INSTANCE={gate_pid}.".encode()
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                environ = f.read()
            with open(f"/proc/{name}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(v.startswith(token) for v in environ.split(b"\0")):
            out.append(int(name))
    return out


def groups_of(gate_pid):
    return glob.glob(f"/sys/fs/cgroup/**/iogate.{gate_pid}.*", recursive=True)


def gate(mode_cmd, tmp_path, *extra, env=None):
    """Run a gate to its end: (exit status, stdout, stderr, its pid, its own peak resident KiB, report)."""
    out_path, err_path = tmp_path / "stdout", tmp_path / "stderr"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen([IOGATE, "gate", "--server-cmd", mode_cmd, "--report", str(tmp_path / "report"),
                                 *extra], stdout=out, stderr=err, env=dict(ENV, **(env or {})),
                                start_new_session=True)
    status, peak = wait4(proc.pid, 300)
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    return status, out_path.read_text(), err_path.read_text(), proc.pid, peak, report


def wait4(pid, bound):
    """(exit status, peak resident KiB of that process alone), killing its group past `bound` seconds."""
    deadline = time.monotonic() + bound
    while True:
        got, status, usage = os.wait4(pid, os.WNOHANG)
        if got:
            return os.waitstatus_to_exitcode(status), usage.ru_maxrss
        if time.monotonic() >= deadline:
            os.killpg(pid, signal.SIGKILL)
            os.wait4(pid, 0)
            pytest.fail(f"the gate did not end within {bound} s")
        time.sleep(0.05)  # polling its exit with a deadline


def nothing_left(gate_pid):
    assert not marked(gate_pid), f"processes of the gate outlived it: {marked(gate_pid)}"
    assert not groups_of(gate_pid), f"control groups of the gate left: {groups_of(gate_pid)}"


def error_line(out):
    return next(line for line in out.splitlines() if line.startswith("iogate gate: ERROR"))


# Containment by control group where the machine allows it, by the environment marker elsewhere: both.
MEANS = pytest.mark.parametrize("means", [{}, {"IOGATE_NO_CGROUPS": "1"}], ids=["cgroup-if-any", "marker"])


@MEANS
def test_a_daemonizing_server_is_one_clear_error_and_nothing_of_it_is_left(tmp_path, means):
    rc, out, err, pid, _, report = gate(hostile_cmd("daemonize"), tmp_path, "--model", "epoll_et",
                                        "--cases", CASE, env=means)
    assert rc == 2, out + err
    assert "it daemonized" in error_line(out) and "foreground" in error_line(out), out
    assert report["exit_code"] == 2
    nothing_left(pid)


@MEANS
def test_a_helper_in_its_own_session_is_killed_and_named_in_the_report(tmp_path, means):
    rc, out, err, pid, _, report = gate(hostile_cmd("setsid-helper"), tmp_path, "--model", "epoll_et",
                                        "--cases", CASE, env=means)
    assert rc == 0, out + err
    [cell] = report["results"]
    assert cell["verdict"] == "PASS" and "left 1 process behind" in cell["contained"], cell
    assert "(sleep)" in cell["contained"] and cell["contained"].endswith("killed")
    assert "NOTE: " in out and "left 1 process behind" in out and report["contained"], out
    nothing_left(pid)


def test_a_server_that_ignores_sigterm_is_killed(tmp_path):
    rc, out, err, pid, _, report = gate(hostile_cmd("ignore-term"), tmp_path, "--model", "epoll_et",
                                        "--cases", CASE, env={"IOGATE_TIMEOUT_SCALE": "0.3"})
    assert rc == 0, out + err
    nothing_left(pid)


def test_100_mb_of_output_without_a_newline_costs_the_gate_one_cap_of_memory(tmp_path):
    rc, out, err, pid, peak_kib, report = gate(hostile_cmd("flood"), tmp_path, "--model", "epoll_et",
                                               "--cases", CASE, env={"FLOOD_MB": "100"})
    assert rc == 0, out + err
    [cell] = report["results"]
    assert "stdout: 99 MiB more not kept" in cell["output"], cell
    # The gate held ~650 MB when it kept every byte; a cap is 1 MiB per stream.
    assert peak_kib < 200 * 1024, f"peak resident memory of the gate or a server: {peak_kib} KiB"
    nothing_left(pid)


@MEANS
def test_a_server_eating_memory_is_ended_at_its_limit_as_an_error(tmp_path, means):
    rc, out, err, pid, _, report = gate(hostile_cmd("eat-memory"), tmp_path, "--model", "epoll_et",
                                        "--cases", CASE, "--max-memory", "200M", env=means)
    assert rc == 2, out + err
    assert "memory" in error_line(out) and "--max-memory" in error_line(out), out
    nothing_left(pid)


@MEANS
def test_a_fork_bomb_is_ended_at_its_process_limit_as_an_error(tmp_path, means):
    rc, out, err, pid, _, report = gate(hostile_cmd("fork-bomb"), tmp_path, "--model", "epoll_et",
                                        "--cases", CASE, "--max-procs", "40", env=means)
    assert rc == 2, out + err
    assert "40 processes" in error_line(out) and "--max-procs" in error_line(out), out
    nothing_left(pid)


def test_a_server_crashing_on_its_third_connection_fails_and_is_reported(tmp_path):
    rc, out, err, pid, _, report = gate(f"{sys.executable} {CRASH_THIRD} {{port}}", tmp_path, "--protocol", "echo",
                                        "--model", "threads", "--cases", "recv.zero.closes,many.clients.served")
    assert rc in (1, 2), out + err
    assert any("SIGABRT" in r["message"] for r in report["results"]), report["results"]
    nothing_left(pid)


def test_a_server_path_with_spaces_runs(tmp_path):
    where = tmp_path / "dir with space"
    where.mkdir()
    shutil.copy(binary("epoll_et"), where / "epoll et")
    rc, out, err, pid, _, report = gate(f"'{where / 'epoll et'}' --port {{port}}", tmp_path, "--model", "epoll_et",
                                        "--cases", CASE)
    assert rc == 0, out + err
    nothing_left(pid)


def test_a_missing_binary_is_one_clear_line_and_exit_2(tmp_path):
    rc, out, err, pid, _, report = gate("/nonexistent/server --port {port}", tmp_path, "--model", "epoll_et",
                                        "--cases", CASE)
    assert rc == 2
    assert "cannot run /nonexistent/server" in error_line(out), out
    assert "Traceback" not in out + err
    nothing_left(pid)


def test_sigint_during_the_warm_up_of_a_daemon_ends_everything_with_exit_2(tmp_path):
    proc = subprocess.Popen([IOGATE, "gate", "--server-cmd", hostile_cmd("daemon-hang"), "--model", "epoll_et",
                             "--cases", CASE, "--report", str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(marked(proc.pid)) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)  # polling /proc until the server and its daemon child exist (bounded)
        assert len(marked(proc.pid)) >= 2, "the hostile server never started"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 2, out + err
    assert "interrupted by SIGINT" in err and "Traceback" not in err
    assert json.loads((tmp_path / "report.json").read_text())["interrupted"]
    nothing_left(proc.pid)


def test_two_gates_at_once_share_nothing(tmp_path):
    results = {}

    def one(name):
        (tmp_path / name).mkdir()
        results[name] = run("gate", "--server-cmd", f"{binary('epoll_et')} --port {{port}}", "--model", "epoll_et",
                            "--cases", "recv.*", "--report", str(tmp_path / name), timeout=300)

    threads = [threading.Thread(target=one, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(320)
    for name in ("a", "b"):
        assert results[name].returncode == 0, results[name].stdout + results[name].stderr
        assert json.loads((tmp_path / name / "report.json").read_text())["exit_code"] == 0
