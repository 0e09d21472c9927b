"""The memcache adapter: its model accepts exactly what a correct memcached
answers, however TCP splits it, and refuses anything else with the expected
reply beside what came; its requests are complete, seeded, near their size.
The last tests talk to a real memcached (Debian's, default configuration;
skipped where it is not installed)."""
import os
import pwd
import random
import shutil
import socket
import subprocess
import time

import pytest

from iogate import procfs
from iogate.client import Client, exchange
from iogate.crowd import Crowd
from iogate.protocol_memcache import REFUSAL, VALUE_MAX
from iogate.protocols import CannotJudge, Mismatch, protocol

TRICKY = b"a\r\nEND\r\nVALUE k 0 1\r\nb"  # a data block that looks like the end of a reply


def model():
    return protocol("memcache").model()


def splits(reply):
    """Every way to cut the reply in two, and one byte at a time."""
    yield [reply]
    for i in range(1, len(reply)):
        yield [reply[:i], reply[i:]]
    yield [reply[i:i + 1] for i in range(len(reply))]


def accepts(sent, reply):
    for chunks in splits(reply):
        m = model()
        m.sent(sent)
        for i, chunk in enumerate(chunks):
            assert m.owed()
            m.received(chunk)
        assert not m.owed() and m.matched == len(reply), chunks


def refuses(sent, reply, *words):
    """Mismatch however the reply is split; whole, the message has the words
    (split, `got` shows what had come when the first wrong byte did)."""
    for chunks in splits(reply):
        m = model()
        m.sent(sent)
        with pytest.raises(Mismatch) as e:
            for chunk in chunks:
                m.received(chunk)
            if m.owed():  # a reply cut short is a failure too (the client waits, then reports it)
                raise Mismatch("still owed")
        if len(chunks) == 1:
            assert all(w in str(e.value) for w in words), str(e.value)


SET_A = b"set ka 7 0 %d\r\n%s\r\n" % (len(TRICKY), TRICKY)
VALUE_A = b"VALUE ka 7 %d\r\n%s\r\n" % (len(TRICKY), TRICKY)


# -- the model ------------------------------------------------------------------------

def test_a_set_then_a_get_whose_data_holds_the_end_marker():
    accepts(SET_A + b"get ka\r\n", b"STORED\r\n" + VALUE_A + b"END\r\n")


def test_pipelined_commands_are_answered_in_order_split_anywhere():
    sent = SET_A + b"set kb 0 0 0\r\n\r\nget kb ka nobody\r\nget nobody\r\nset ka 1 0 2\r\n\r\n\r\nget ka\r\n"
    reply = (b"STORED\r\nSTORED\r\nVALUE kb 0 0\r\n\r\n" + VALUE_A + b"END\r\nEND\r\nSTORED\r\n"
             b"VALUE ka 1 2\r\n\r\n\r\nEND\r\n")
    accepts(sent, reply)
    m = model()
    for i in range(len(sent)):  # what was sent, split anywhere too
        m.sent(sent[i:i + 1])
    m.received(reply)
    assert not m.owed() and m.replies == 6


def test_noreply_owes_nothing_and_a_stored_for_it_fails():
    sent = b"set kn 0 0 3 noreply\r\nabc\r\nget kn\r\n"
    accepts(sent, b"VALUE kn 0 3\r\nabc\r\nEND\r\n")
    refuses(sent, b"STORED\r\nVALUE kn 0 3\r\nabc\r\nEND\r\n", "expected b'VALUE kn 0 3", "got b'STORED")
    m = model()
    m.sent(b"set kn 0 0 3 noreply\r\nabc\r\n")
    assert not m.owed()
    with pytest.raises(Mismatch, match="no reply is owed"):
        m.received(b"STORED\r\n")


@pytest.mark.parametrize("reply, words", [
    (b"STORED\r\nEND\r\n", ["reply 2", "expected b'VALUE ka 7", "got b'END"]),  # a lost value (or an eviction)
    (b"STORED\r\n" + VALUE_A.replace(b"END", b"ENX") + b"END\r\n", ["byte", "got"]),  # a corrupted data block
    (b"STORED\r\n" + VALUE_A.replace(b" 7 ", b" 8 ") + b"END\r\n", ["expected b'VALUE ka 7"]),  # wrong flags
    (b"SERVER_ERROR out of memory storing object\r\n", ["reply 1", "expected b'STORED", "got b'SERVER_ERROR"]),
    (b"STORED\r\n" + VALUE_A + b"END\r\nEND\r\n", ["no reply is owed"]),  # one reply too many
    (b"ERROR\r\n", ["expected b'STORED"]),
])
def test_wrong_replies_raise_mismatch_with_expected_and_got(reply, words):
    refuses(SET_A + b"get ka\r\n", reply, *words)


def test_an_end_in_the_middle_of_a_reply_cuts_it():
    m = model()
    m.sent(SET_A + b"get ka\r\n")
    m.received(b"STORED\r\nVAL")
    assert m.ended("EOF") is False
    m = model()
    m.sent(SET_A)
    m.received(b"STORED\r\n")
    assert m.ended("EOF") is True


def test_the_refusal_at_the_connection_limit_split_anywhere():
    for chunks in splits(REFUSAL):
        m = model()
        m.sent(b"get k\r\n")
        for chunk in chunks:
            m.received(chunk)
        assert m.refused
        with pytest.raises(CannotJudge, match="connection limit"):
            m.ended("EOF")
    refuses(b"get k\r\n", REFUSAL + b"END\r\n", "after the server's refusal")
    m = model()
    m.sent(b"get k\r\n")
    m.received(b"END\r\n")  # a reply first: a later refusal line is just wrong
    m.sent(b"get k\r\n")
    with pytest.raises(Mismatch):
        m.received(REFUSAL)


def test_bytes_the_adapter_never_builds_cannot_be_judged():
    with pytest.raises(CannotJudge):
        model().sent(b"delete k\r\n")
    with pytest.raises(CannotJudge):
        model().sent(b"set k 0 0 2\r\nabc\r\n")  # a data block longer than announced


# -- the requests -------------------------------------------------------------------------

@pytest.mark.parametrize("size", [4, 8, 47, 48, 64, 200, 4096, 64 * 1024, 3 * 1024 * 1024])
def test_requests_are_complete_seeded_near_their_size_and_end_with_a_get(size):
    p = protocol("memcache")
    for seed in range(5):
        req = p.request(random.Random(seed), size)
        assert req == p.request(random.Random(seed), size)
        assert req.startswith((b"set ", b"get "))
        assert size < 48 or req.rsplit(b"\r\n", 2)[-2].startswith(b"get ")  # a reply even if all sets are noreply
        m = model()
        m.sent(req)
        assert m._set is None and m._at == len(m._in) and m.owed()  # every command complete
        assert max((len(v) for _, v in m.store.values()), default=0) <= VALUE_MAX
        if size >= 4096:
            assert abs(len(req) - size) < 200


def test_keys_differ_between_requests_and_values_carry_framing_markers():
    p, rng = protocol("memcache"), random.Random(1)
    keys, marked = [], 0
    for _ in range(200):
        m = model()
        req = p.request(rng, 300)
        m.sent(req)
        keys += list(m.store)
        marked += b"\r\nEND\r\n" in req or b"\r\nSTORED\r\n" in req
    assert len(keys) == len(set(keys)) and marked > 10


# -- a real memcached --------------------------------------------------------------------------

def memcached_cmd(port, *more):
    """memcached refuses to run as root without -u: Debian's /etc/memcached.conf says -u memcache."""
    user = []
    if os.geteuid() == 0:
        try:
            user = ["-u", pwd.getpwnam("memcache").pw_name]
        except KeyError:
            user = ["-u", "nobody"]
    return ["memcached", "-l", "127.0.0.1", "-p", str(port), "-U", "0", *user, *more]


@pytest.fixture
def memcached():
    if not shutil.which("memcached"):
        pytest.skip("memcached is not installed (apt-get install memcached; ci/debian-packages.txt)")
    procs = []

    def start(*more):
        from iogate.server import free_port
        port = free_port()
        proc = subprocess.Popen(memcached_cmd(port, *more), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(proc)
        deadline = time.monotonic() + 10
        while port not in procfs.listening_ports():  # polling the condition, bounded
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.01)
        return port
    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def test_a_plain_client_exchange_with_memcached(memcached):
    port = memcached()
    rng, p = random.Random(7), protocol("memcache")
    a, b = Client(port, "a", "memcache"), Client(port, "b", "memcache")
    for size in (4, 8, 64, 300, 4096):
        a.ask(p.request(rng, size))
        b.ask(b"".join(p.request(rng, size) for _ in range(5)))  # pipelined
    a.ask(SET_A + b"set kn 0 0 3 noreply\r\nabc\r\nget ka kn nobody\r\n")
    exchange([a, b], [p.request(rng, 3 * 1024 * 1024), p.request(rng, 256 * 1024)], kind="bulk")
    assert a.model.replies > 10 and not a.model.owed() and not b.model.owed()
    a.close()
    b.close()


class _Plain:
    """What the crowd asks of a server, for one started without the gate."""
    def __init__(self, port):
        self.port = port

    def alive(self):
        return True

    def trace_records(self):
        return []


def test_the_crowd_takes_memcacheds_refusals_at_its_connection_limit_as_refusals(memcached):
    port = memcached("-c", "40")
    rng, p = random.Random(3), protocol("memcache")
    Crowd(_Plain(port), "memcache", [p.request(rng, 32) for _ in range(120)]).run()  # no FAIL: all served
    with socket.create_connection(("127.0.0.1", port)) as s:  # memcached's own count: it did refuse some
        s.sendall(b"stats\r\n")
        stats = b""
        while not stats.endswith(b"END\r\n"):
            stats += s.recv(65536)
    assert int(stats.split(b"STAT rejected_connections ")[1].split()[0]) > 0
