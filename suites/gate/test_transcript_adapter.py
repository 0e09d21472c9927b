"""The transcript adapter (protocol_transcript.py, transcript_file.py) and
`./iogate record`: the file format round-trips any bytes; the model owes each
complete exchange its recorded reply, accepts replies split anywhere, masks
what varies and refuses the rest; record writes a transcript of a real
client that replays, and refuses what cannot replay. The gate with a
transcript catches a mutant the dedicated adapter catches."""
import os
import sys

import pytest
from hypothesis import given, settings, strategies as st

import gatehelp
from iogate import protocols
from iogate.protocol_transcript import TranscriptModel
from iogate.protocols import CannotJudge, Mismatch
from iogate.transcript_file import Transcript, TranscriptError, escape, parse, unescape

REDIS_LIKE = """# iogate transcript 1
mask :\\d+(?=\\r\\n)
refuse -ERR max number of clients reached\\r\\n
> *1\\r\\n$4\\r\\nPING\\r\\n
< +PONG\\r\\n
> SET k v\\r\\n
< +OK\\r\\n
> INCR n\\r\\n
< :1\\r\\n
"""
SESSION_REPLIES = b"+PONG\r\n+OK\r\n:1\r\n"


@pytest.fixture
def proto(tmp_path):
    path = tmp_path / "t.transcript"
    path.write_text(REDIS_LIKE)
    return protocols.protocol(f"transcript:{path}")


def after(proto, sent):
    m = proto.model()
    m.sent(sent)
    return m


# -- the file ------------------------------------------------------------------------------

@settings(database=None)  # no .hypothesis directory in the checkout
@given(st.binary(max_size=300))
def test_escape_round_trips_any_bytes(data):
    text = escape(data)
    assert "\n" not in text and unescape(text, "t") == data


@settings(max_examples=60, database=None)
@given(st.binary(max_size=40), st.lists(st.tuples(st.binary(min_size=1, max_size=300), st.binary(max_size=300)),
                                        min_size=1, max_size=5))
def test_a_transcript_round_trips_through_its_text(greeting, exchanges):
    t = parse(Transcript(greeting, exchanges, masks=["x+"], refuse=[b"no\r\n"]).format())
    # consecutive exchanges whose reply is empty join their requests: one exchange, as the alternation says
    joined = []
    for q, a in exchanges:
        if joined and not joined[-1][1]:
            joined[-1] = (joined[-1][0] + q, a)
        else:
            joined.append((q, a))
    assert (t.greeting, t.exchanges, t.masks, t.refuse) == (greeting, joined, ["x+"], [b"no\r\n"])


@pytest.mark.parametrize("text, says", [
    ("> x\n", "not a transcript"),
    ("# iogate transcript 1\n< only a greeting\n", "no exchange"),
    ("# iogate transcript 1\n> a\\q\n", "backslash"),
    ("# iogate transcript 1\nfoo\n", "expected '> DATA'"),
    ("# iogate transcript 1\nmask (\n> a\n", "not a regular expression"),
])
def test_bad_files_say_where(text, says):
    with pytest.raises(TranscriptError, match=says.replace("(", r"\(")):
        parse(text, "f")


def test_a_mask_that_ends_a_reply_is_refused(tmp_path):
    path = tmp_path / "t"
    path.write_text("# iogate transcript 1\nmask \\d+\n> a\n< 12\n")
    with pytest.raises(ValueError, match="last bytes"):
        protocols.protocol(f"transcript:{path}")


def test_unknown_files_are_one_line_errors(tmp_path):
    with pytest.raises(ValueError, match="cannot read the transcript"):
        protocols.protocol(f"transcript:{tmp_path}/none")
    r = gatehelp.run("gate", "--protocol", f"transcript:{tmp_path}/none", "--cases", "x")
    assert r.returncode == 2 and "cannot read the transcript" in r.stderr and "Traceback" not in r.stderr


# -- the model -----------------------------------------------------------------------------

@pytest.mark.parametrize("cut", range(1, len(SESSION_REPLIES)))
def test_replies_split_anywhere_and_masked_counters_are_accepted(proto, cut):
    replies = SESSION_REPLIES.replace(b":1", b":4096")
    m = after(proto, proto.session)
    m.received(replies[:cut])
    assert m.owed()
    m.received(replies[cut:])
    assert not m.owed() and m.replies == 3


@pytest.mark.parametrize("cut", range(len(b"*1\r\n$4\r\nPING\r\nSET k v\r\n") + 1))
def test_requests_split_anywhere_owe_the_same(proto, cut):
    m = proto.model()
    data = proto.session
    m.sent(data[:cut])
    m.sent(data[cut:])
    m.received(SESSION_REPLIES)
    assert not m.owed()


@pytest.mark.parametrize("wrong, says", [
    (b"+PONG\r\n+NO", "exchange 2's response, byte 1"),
    (b"+PONG\r\n+OK\r\n:x\r\n", "masked field"),
    (b"+PONG\r\n+OK\r\n:1\r\n+", "no reply is owed"),
])
def test_wrong_replies_say_which_exchange(proto, wrong, says):
    m = after(proto, proto.session)
    with pytest.raises(Mismatch, match=says):
        m.received(wrong)


def test_sessions_restart_after_any_exchange_and_requests_follow_size(proto):
    first, second = proto.requests[0], proto.requests[1]
    assert proto.prefix_safe
    assert proto.request(None, 4) == first
    assert proto.request(None, len(first) + 1) == first + second
    assert proto.request(None, 3 * len(proto.session)) == proto.session * 3
    m = after(proto, first + second + first + proto.session)
    m.received(b"+PONG\r\n+OK\r\n+PONG\r\n" + SESSION_REPLIES)
    assert not m.owed()


def test_a_first_request_that_prefixes_a_later_one_sends_whole_sessions(tmp_path):
    path = tmp_path / "t"
    path.write_text("# iogate transcript 1\n> GET\n< 1\n> GET GET\n< 2\n")
    p = protocols.protocol(f"transcript:{path}")
    assert not p.prefix_safe and p.request(None, 1) == p.session


def test_a_refusal_is_not_judged_and_bytes_off_script_are_the_servers(proto):
    m = after(proto, proto.session)
    m.received(b"-ERR max number")
    m.received(b" of clients reached\r\n")
    assert m.refused
    with pytest.raises(CannotJudge, match="refused"):
        m.ended("EOF")
    m = after(proto, b"x" + proto.session)  # a script's filler byte: from there on, not judged
    assert m.lost and not m.owed()
    m.received(b"-ERR unknown\r\n")


def test_a_fin_in_the_middle_of_an_exchange_allows_any_answer(proto):
    m = after(proto, proto.requests[0][:5])
    m.shutdown_write()
    assert m.extra_allowed()
    m.received(b"-ERR Protocol error\r\n")


# -- record and gate -----------------------------------------------------------------------

SEQ_CLIENT = """
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
assert s.recv(1) == b"*"
for frame in (b"^hello$", b"^" + b"abcdefghij" * 50 + b"$", b"^x$"):
    s.sendall(frame)
    got = b""
    while len(got) < len(frame) - 2:
        got += s.recv(65536)
s.close()
"""


@pytest.fixture(scope="module")
def seq_transcript(tmp_path_factory):
    if not gatehelp.have("epoll_et"):
        pytest.skip("no epoll_et reference server built")
    d = tmp_path_factory.mktemp("rec")
    (d / "client.py").write_text(SEQ_CLIENT)
    out = d / "seq.transcript"
    r = gatehelp.run("record", "--server-cmd", f"{gatehelp.binary('epoll_et')} --port {{port}}", "--out", str(out),
                     "--", sys.executable, str(d / "client.py"), "{port}")
    assert r.returncode == 0, r.stderr
    assert "every reply matched" in r.stderr
    return out


def test_record_writes_the_greeting_and_three_exchanges(seq_transcript):
    t = parse(seq_transcript.read_text(encoding="latin-1"))
    assert t.greeting == b"*" and [q[:3] for q, _ in t.exchanges] == [b"^he", b"^ab", b"^x$"]
    assert t.exchanges[0][1] == b"ifmmp" and len(t.exchanges[1][1]) == 500


def test_record_usage_and_failing_clients_write_nothing(tmp_path):
    out = tmp_path / "t"
    srv = f"{gatehelp.binary('epoll_et')} --port {{port}}"
    r = gatehelp.run("record", "--server-cmd", srv, "--out", str(out), "--", "true")
    assert r.returncode == 2 and "no '{port}'" in r.stderr
    r = gatehelp.run("record", "--server-cmd", srv, "--out", str(out), "--", "sh", "-c", "exit 3 # {port}")
    assert r.returncode == 2 and "status 3" in r.stderr and not out.exists()
    r = gatehelp.run("record", "--server-cmd", srv, "--out", str(out), "--", "true", "{port}")
    assert r.returncode == 2 and "sent nothing" in r.stderr and not out.exists()


def test_a_recording_that_does_not_replay_exits_1_and_says_where(tmp_path):
    """A counter without a mask: the second replay answers :2 where :1 was recorded."""
    if not gatehelp.shutil.which("redis-server") or not gatehelp.shutil.which("redis-cli"):
        pytest.skip("redis-server and redis-cli are not installed")
    out = tmp_path / "t"
    r = gatehelp.run("record", "--server-cmd", "redis-server --port {port} --bind 127.0.0.1 --save '' "
                     "--appendonly no", "--out", str(out), "--", "redis-cli", "-p", "{port}", "INCR", "n")
    assert r.returncode == 1 and out.exists(), r.stderr
    assert "does not replay" in r.stderr and "expected b':1\\r\\n', got b':2" in r.stderr


def test_the_gate_with_a_transcript_passes_the_reference_and_fails_a_mutant(seq_transcript):
    """The short-send and split-read cases: the reference server passes, the mutant that ignores send()'s count
    fails (bench/transcript_equivalence and docs/protocols.md: the whole matrix)."""
    cases = "recv.partial.state-preserved,send.partial.resumes-at-offset"
    r = gatehelp.run("gate", "--server-cmd", f"{gatehelp.binary('epoll_et')} --port {{port}}", "--model", "epoll_et",
                     "--protocol", f"transcript:{seq_transcript}", "--cases", cases, "--jobs", "2")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    mutant = "epoll_et--send-ignores-count"
    if not gatehelp.mutant_binary(mutant).exists():
        pytest.skip("mutants not built")
    r = gatehelp.run("gate", "--server-cmd", f"{gatehelp.mutant_binary(mutant)} --port {{port}}", "--model",
                     "epoll_et", "--protocol", f"transcript:{seq_transcript}", "--cases", cases, "--jobs", "2")
    assert r.returncode == 1 and "FAIL: send.partial.resumes-at-offset" in r.stdout, r.stdout[-3000:]


def test_a_signal_ends_record_with_its_server_and_client(tmp_path):
    """SIGTERM while the client runs: exit 2, one line, the server and the client's whole group ended."""
    import signal
    import subprocess
    from iogate import procfs
    pidfile = tmp_path / "client.pid"
    p = subprocess.Popen([gatehelp.IOGATE, "record", "--server-cmd", f"{gatehelp.binary('epoll_et')} --port {{port}}",
                          "--out", str(tmp_path / "t"), "--", "sh", "-c",
                          f"sleep 60 & echo $! > {pidfile}; wait # {{port}}"],
                         env=gatehelp.ENV, stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    assert "the server listens on" in line, line
    port = int(line.split("listens on ")[1].split(";")[0])
    for _ in range(500):  # the client has started when its pid file is written (bounded poll, not a sleep)
        if pidfile.exists() and pidfile.read_text().strip():
            break
        try:
            p.wait(0.01)
        except subprocess.TimeoutExpired:
            pass
    client = int(pidfile.read_text())  # the client's own child: its group must end with it
    p.send_signal(signal.SIGTERM)
    _, rest = p.communicate(timeout=30)  # a client child left alive would hold stderr open for 60 s
    assert p.returncode == 2 and "interrupted" in rest and "Traceback" not in rest
    assert port not in procfs.listening_ports()
    assert not os.path.exists(f"/proc/{client}") or open(f"/proc/{client}/stat").read().split()[2] == "Z"
    assert not (tmp_path / "t").exists()
