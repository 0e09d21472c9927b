"""The resp adapter (src/iogate/protocol_resp.py): the model owes the one
reply a correct Redis sends to each command, accepts the replies split at any
byte and several in one chunk, and refuses what no correct Redis sends. The
last tests talk to a real redis-server (skipped where it is not installed)."""
import random
import re
import shutil

import pytest

from iogate import protocols
from iogate.client import Client, exchange
from iogate.protocol_resp import RespModel, command
from iogate.protocols import CannotJudge, Mismatch
from iogate.server import Server

RESP = protocols.protocol("resp")
VALUE = b"a\r\nb\x00\xff\r\n"  # CRLF inside: a bulk string ends by its length
CMDS = (command(b"PING") + command(b"SET", b"k", VALUE) + command(b"GET", b"k") + command(b"GET", b"nope")
        + command(b"INCR", b"n") + command(b"INCR", b"n") + command(b"MGET", b"k", b"nope", b"n"))
REPLIES = (b"+PONG\r\n+OK\r\n$8\r\n" + VALUE + b"\r\n$-1\r\n:1\r\n:2\r\n"
           b"*3\r\n$8\r\n" + VALUE + b"\r\n$-1\r\n$1\r\n2\r\n")


def model_after(sent=CMDS):
    m = RESP.model()
    m.sent(sent)
    return m


def test_resp_is_registered():
    assert isinstance(RESP.model(), RespModel) and RESP.greeting == b""


@pytest.mark.parametrize("cut", range(len(CMDS) + 1))
def test_commands_split_at_every_byte_owe_the_same_replies(cut):
    m = RESP.model()
    m.sent(CMDS[:cut])
    m.sent(CMDS[cut:])
    m.received(REPLIES)
    assert not m.owed() and m.replies == 7


@pytest.mark.parametrize("cut", range(1, len(REPLIES)))
def test_replies_split_at_every_byte_are_accepted(cut):
    m = model_after()
    m.received(REPLIES[:cut])
    assert m.owed()
    m.received(REPLIES[cut:])
    assert not m.owed() and m.matched == len(REPLIES)


def test_replies_one_byte_at_a_time_and_all_in_one_chunk():
    m = model_after()
    for b in REPLIES:
        m.received(bytes([b]))
    assert not m.owed()
    m = model_after(CMDS * 3)  # pipelined: the replies in order, the dict carried along
    m.received(REPLIES + REPLIES.replace(b":1\r\n:2", b":3\r\n:4").replace(b"$1\r\n2", b"$1\r\n4")
               + REPLIES.replace(b":1\r\n:2", b":5\r\n:6").replace(b"$1\r\n2", b"$1\r\n6"))
    assert not m.owed() and m.replies == 21


@pytest.mark.parametrize("wrong, says", [
    (b"+OK\r\n", "expected +PONG, got +OK"),
    (b"-ERR unknown command\r\n", "got -ERR unknown command"),
    (b"$4\r\nPONG\r\n", "expected +PONG, got $4"),
    (b"HTTP/1.1 200 OK\r\n", "expected a RESP2 reply"),
    (b":x\r\n", "a bad number"),
])
def test_a_wrong_first_reply_is_a_mismatch(wrong, says):
    with pytest.raises(Mismatch, match=r"reply 1 \(to PING\): .*" + re.escape(says)):
        model_after().received(wrong)


@pytest.mark.parametrize("wrong, says", [
    (b"+PONG\r\n+OK\r\n$8\r\na\r\nb\x00\xfe\r\n\r\n", r"\(the bulk data differs from byte 5 on\)"),
    (b"+PONG\r\n+OK\r\n$9\r\n", "expected \\$8 .*, got a bulk string of 9 bytes"),  # at once, not after 9 bytes
    (b"+PONG\r\n+OK\r\n$8\r\n" + VALUE + b"XY", "not followed by CRLF"),
    (b"+PONG\r\n+OK\r\n$8\r\n" + VALUE + b"\r\n$0\r\n\r\n", r"reply 4 \(to GET nope\): expected \$-1 \(nil\)"),
    (REPLIES.replace(b":2", b":1"), r"reply 6 \(to INCR n\): expected :2, got :1"),
    (REPLIES + b"+PONG\r\n", "no command is waiting for a reply"),
])
def test_wrong_later_replies_are_mismatches_that_say_which(wrong, says):
    with pytest.raises(Mismatch, match=says):
        model_after().received(wrong)


def test_a_close_in_the_middle_of_a_reply_is_not_clean_and_a_close_while_owed_is_a_failure():
    m = model_after()
    m.received(REPLIES[:20])
    assert not m.ended("EOF")
    m = model_after()
    m.received(b"+PONG\r\n")
    assert m.ended("EOF") and m.owed() and not m.closing()  # the client calls that a failure


def test_a_refusal_at_maxclients_is_not_judged():
    with pytest.raises(CannotJudge, match="maxclients"):
        model_after().received(b"-ERR max number of clients reached\r\n")


def test_a_chunk_sent_again_from_its_start_is_judged_up_to_where_it_broke():
    chunk = command(b"SET", b"k", b"v" * 100) + command(b"GET", b"k")
    m = RESP.model()
    m.sent(chunk[:30])  # a partial send(), then the whole chunk again
    m.sent(chunk)
    assert m.lost and not m.owed()
    m = RESP.model()
    m.sent(chunk + chunk[:40])
    m.sent(chunk)
    assert m.lost and m.owed()
    m.received(b"+OK\r\n$100\r\n" + b"v" * 100 + b"\r\n")
    assert not m.owed()
    m.received(b"-ERR Protocol error: expected '$', got 'v'\r\n")  # what Redis may answer after
    assert m.unjudged == 1 and m.ended("EOF") and m.extra_allowed()
    with pytest.raises(Mismatch, match="expected a RESP2 reply"):
        m.received(b"garbage\r\n")


def test_a_one_mib_binary_value_in_any_chunks():
    value = bytes(random.Random(7).randbytes(1 << 20)) + b"\r\n"
    m = RESP.model()
    req = command(b"SET", b"big", value) + command(b"GET", b"big")
    for at in range(0, len(req), 65521):
        m.sent(req[at:at + 65521])
    reply = b"+OK\r\n$%d\r\n%s\r\n" % (len(value), value)
    rng = random.Random(1)
    at = 0
    while at < len(reply):
        n = rng.choice((1, 7, 4096, 65536, 300000))
        m.received(reply[at:at + n])
        at += n
    assert not m.owed() and m.replies == 2


def test_requests_are_deterministic_near_their_size_and_share_no_key():
    a = [RESP.request(random.Random(5), n) for n in (4, 64, 300, 4096, 64 * 1024)]
    assert a == [RESP.request(random.Random(5), n) for n in (4, 64, 300, 4096, 64 * 1024)]
    assert a[0] == command(b"PING")
    assert all(abs(len(r) - n) <= 64 for r, n in zip(a[2:], (300, 4096, 64 * 1024)))
    big = RESP.request(random.Random(1), 8 << 20)
    assert abs(len(big) - (8 << 20)) < 1024 and big.count(b"\r\n$1048576\r\n") >= 7
    rng = random.Random(2)
    tags = {r.split(b"iogate:")[1][:16] for r in (RESP.request(rng, 200) for _ in range(500)) if b"iogate:" in r}
    assert len(tags) >= 490  # one tag per call: no two calls share a key


# -- a real redis-server ----------------------------------------------------------------

REDIS = shutil.which("redis-server")
REDIS_CMD = "redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no"


@pytest.fixture
def redis(tmp_path):
    if not REDIS:
        pytest.skip("redis-server is not installed (apt-get install redis-server; ci/debian-packages.txt)")
    server = Server(REDIS_CMD, workdir=str(tmp_path), trace=False).start()  # waits for its listening socket
    yield server
    server.stop()


def test_a_plain_client_exchange_with_redis_server(redis):
    rng = random.Random(3)
    c = Client(redis.port, protocol="resp")
    for size in (4, 64, 300, 4096):
        req = RESP.request(rng, size)
        c.ask(req[:len(req) // 2], "the replies to the first half")
        c.ask(req[len(req) // 2:], "the rest")
    c.ask(CMDS, "the fixed pipeline")
    others = [Client(redis.port, f"client {i}", protocol="resp") for i in range(4)]
    exchange(others + [c], [RESP.request(rng, 1 << 20) for _ in others] + [b"".join(RESP.request(rng, 40)
                                                                                    for _ in range(200))])
    assert c.model.replies > 200 and not c.model.lost and not c.reconnects


def test_redis_server_ends_the_connection_after_a_client_fin(redis):
    c = Client(redis.port, protocol="resp")
    c.send(CMDS)
    c.shutdown_write()
    c.read_owed("the replies owed before the FIN")
    assert c.expect_end() in ("EOF", "RST")
