"""A learner's commands: explain's try-it block, patch paths and
did-you-mean; list's titles and --ids; run's summary of the faults it
injected and its exit status."""
import fcntl
import os
import pty
import re
import select
import shlex
import signal
import subprocess
import sys
import termios
import textwrap
import time

from iogate import catalogue, cli, learn, models, paths, timeouts, trace

IOGATE = str(paths.ROOT / "iogate")
ENV = dict(os.environ, IOGATE_NO_BUILD="1")


def run(*args, timeout=120):
    return subprocess.run([IOGATE, *args], capture_output=True, text=True, timeout=timeout, env=ENV)


# -- explain ---------------------------------------------------------------------------------

def try_lines(out):
    """The commands of the "Try it:" block (the lines that are not comments)."""
    block = out.split("\nTry it:\n", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_explain_prints_gate_commands_that_the_parser_takes_for_the_case_and_its_mutants(capsys):
    with_mutants = [c for c in catalogue.load() if any(m.case == c.id for m in models.MUTANTS)]
    assert with_mutants
    for c in with_mutants:
        assert cli.main(["explain", c.id]) == 0
        out = capsys.readouterr().out
        commands = [shlex.split(line) for line in try_lines(out)]
        mutants = [m for m in models.MUTANTS if m.case == c.id]
        assert len(commands) == len(mutants) + 2  # a reference server, each mutant, the mutation matrix
        for words in commands:
            assert words[0] == paths.COMMAND and words[1] == "gate"
            args = cli.parser().parse_args(words[1:])  # every option exists, every value parses
            assert args.cases == c.id
        servers = [words[words.index("--server-cmd") + 1] for words in commands if "--server-cmd" in words]
        for m in mutants:
            assert any(s.split()[0] == str(m.binary) for s in servers), (c.id, m.name)
        assert commands[-1][2:] == ["--mutants", "--cases", c.id]


def test_explain_names_each_mutants_patch_by_a_real_absolute_path(capsys):
    m = models.MUTANTS[0]
    assert cli.main(["explain", m.case]) == 0
    out = capsys.readouterr().out
    path = re.search(rf"^  {re.escape(m.name)}: (\S+)$", out, re.M).group(1)
    assert os.path.isabs(path) and os.path.isfile(path) and path == os.path.realpath(path)
    assert open(path).read().startswith("Mutant:") or "Mutant:" in open(path).read().split("\n--- ", 1)[0]


def test_a_case_without_a_mutant_still_gets_its_reference_line():
    """(Every case of the table has a mutant today: the block is built for one that has none.)"""
    c = catalogue.load()[0]
    lines = learn.try_it(c, [])
    commands = [line.strip() for line in lines if line.startswith("  ") and not line.strip().startswith("#")]
    assert len(commands) == 1 and shlex.split(commands[0])[-1] == c.id
    ref = learn.reference_for(c, [])
    assert models.expected_na(ref, c) is None  # a server the case judges, not an N/A cell
    assert not any("mutant" in line for line in lines)


def test_an_unknown_id_exits_2_with_the_nearest_ids():
    ids = [c.id for c in catalogue.load()]
    typo = ids[0].replace("a", "e", 1)
    assert typo not in ids
    out = run("explain", typo)
    assert out.returncode == 2 and not out.stdout
    assert f"no case {typo!r}; did you mean {ids[0]!r}" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    start = "recv.eagan"  # a typo in the first words of an id: too short for a whole-id match
    assert f"did you mean 'recv.eagain." in run("explain", start).stderr
    far = run("explain", "zzzz-nothing-like-it")
    assert far.returncode == 2 and "did you mean" not in far.stderr and "list` shows the ids" in far.stderr


def test_a_mutant_name_given_to_explain_points_at_its_case(capsys):
    m = models.MUTANTS[0]
    assert cli.main(["explain", m.name]) == 2
    assert f"did you mean its case {m.case!r}" in capsys.readouterr().err


# -- list ------------------------------------------------------------------------------------

def test_list_prints_each_id_beside_its_title_aligned_and_ids_alone_with_ids():
    out = run("list")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    cases = catalogue.load()
    assert len(lines) == len(cases)
    column = {len(line) - len(line[len(c.id):].lstrip()) for line, c in zip(lines, cases)}
    assert len(column) == 1  # every title starts in the same column
    for line, c in zip(lines, cases):
        assert line.startswith(c.id + " ") and line.endswith(c.summary)
    ids = run("list", "--ids")
    assert ids.stdout.splitlines() == [c.id for c in cases]
    assert run("list", "mutants", "--ids").stdout.splitlines() == [m.name for m in models.MUTANTS]


# -- run -------------------------------------------------------------------------------------

CLIENT_SERVER = textwrap.dedent("""
    import socket
    lst = socket.socket(); lst.bind(("127.0.0.1", 0)); lst.listen()
    c = socket.create_connection(lst.getsockname()); s, _ = lst.accept()
    c.sendall(b"x" * 6)
    got = 0
    while got < 6:
        got += len(s.recv(64))
    s.sendall(b"abcdefgh")
""")


def test_run_ends_with_the_count_of_each_fault_of_its_trace(tmp_path):
    tr = tmp_path / "t.jsonl"
    out = run("run", "--faults", "recv.partial:max=1;send.partial:max=3", "--trace", str(tr), "--",
              sys.executable, "-c", CLIENT_SERVER)
    assert out.returncode == 0, out.stderr
    counts = {}
    for r in trace.faults(trace.read(tr)):
        head = r["fault"].split(":")[0]
        counts[head] = counts.get(head, 0) + 1
    assert counts.get("recv.partial", 0) >= 5 and counts.get("send.partial", 0) >= 2  # one byte a recv, 3 a send
    total = sum(counts.values())
    assert out.stderr.splitlines()[-1] == (f"iogate run: {total} faults injected: "
                                           + ", ".join(f"{h} x{n}" for h, n in counts.items()))


def test_run_without_a_trace_says_no_faults_and_leaves_no_scratch_directory(tmp_path):
    env = dict(ENV, TMPDIR=str(tmp_path))
    out = subprocess.run([IOGATE, "run", "--faults", "recv.partial:max=1", "--", "sh", "-c", "exit 3"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 3
    assert out.stderr.splitlines()[-1] == "iogate run: no faults injected"
    assert list(tmp_path.iterdir()) == []


def test_run_exits_128_plus_the_signal_that_ended_the_program():
    out = run("run", "--faults", "seed=1", "--", "sh", "-c", "kill -KILL $$")
    assert out.returncode == 128 + signal.SIGKILL, out.stderr


def test_a_sigterm_sent_to_run_reaches_the_program():
    proc = subprocess.Popen([IOGATE, "run", "--faults", "seed=1", "--", "sh", "-c", "echo ready; exec sleep 600"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                            start_new_session=True)
    try:
        assert proc.stdout.readline() == "ready\n"  # the program runs: iogate waits for it
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=timeouts.timeout("stop"))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the session this test started
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.splitlines()[-1] == "iogate run: no faults injected"


def test_ctrl_c_on_the_terminal_reaches_the_program_from_the_terminal_and_run_reports_its_status():
    """The program shares iogate's foreground process group: the terminal's
    SIGINT reaches it directly (si_code SI_KERNEL: had iogate passed it on,
    it would be SI_USER from iogate's pid), no second one follows within a
    moment, and the status is the program's, not iogate's own interruption."""
    counter = ("import signal\n"
               "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})\n"
               "print('ready', flush=True)\n"
               "first = signal.sigwaitinfo({signal.SIGINT})\n"
               "again = signal.sigtimedwait({signal.SIGINT}, 1.0)\n"
               "print('si_code', first.si_code, 'again', again is not None, flush=True)\n"
               "signal.raise_signal(signal.SIGTERM)\n")
    master, slave = pty.openpty()
    proc = subprocess.Popen([IOGATE, "run", "--faults", "seed=1", "--", sys.executable, "-c", counter],
                            stdin=slave, stdout=slave, stderr=slave, env=ENV, start_new_session=True,
                            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    os.close(slave)
    text = b""
    try:
        end = time.monotonic() + timeouts.timeout("start")
        while b"ready" not in text and time.monotonic() < end:
            if select.select([master], [], [], end - time.monotonic())[0]:
                text += os.read(master, 4096)
        assert b"ready" in text, text
        os.write(master, b"\x03")  # Ctrl-C: the terminal signals its foreground process group
        proc.wait(timeouts.timeout("stop"))
        while select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            text += chunk
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the session this test started
            proc.wait()
        os.close(master)
    shown = text.decode(errors="replace")
    assert f"si_code {0x80} again False" in shown, shown  # SI_KERNEL: the terminal's, and only it
    assert proc.returncode == 128 + signal.SIGTERM, shown
    assert "iogate run: no faults injected" in shown and "interrupted" not in shown
