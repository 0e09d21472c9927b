"""The memcached text protocol (memcached's doc/protocol.txt): `set` with
binary data blocks, `get` and multi-get, `noreply` sets.

Keys: request() has no model, so it cannot know what other connections
store. Each key carries 80 random bits drawn from the case's seeded rng:
two connections use the same key only when they send the very same bytes
(a crowd client sending its request again on a new connection), and then
they store the same value. So each connection's model judges its gets by
its own sets alone: a key it never set is a miss ("END"), a key it set
comes back with the last value it set.

What a correct memcached may answer is exact, given its default config
(-m 64, -I 1m, -c 1024): a case stores at most about 9 MiB per server, so
no item is evicted or refused for memory (SERVER_ERROR is a FAIL), and every
value stays below the item size limit. The one legal deviation is
memcached's refusal at its connection limit: "ERROR Too many open
connections" on accept, then the close (the crowd's refused client; N/A for
any other client).
"""
from collections import deque

from .protocols import PROTOCOLS, CannotJudge, Mismatch, Model, Protocol

VALUE_MAX = 1000 * 1024   # below -I 1m (1048576) with the item header and key to spare
KEY_BITS = 80
REFUSAL = b"ERROR Too many open connections\r\n"  # memcached.c, conn_listening with maxconns_fast (default)
# Bytes a value may carry that look like the protocol's own framing: a parser
# that scans for terminators instead of counting bytes gets them wrong.
MARKERS = (b"\r\n", b"\r\nEND\r\n", b"\r\nSTORED\r\n", b"END\r\nVALUE k 0 1\r\n")


def _key(rng) -> bytes:
    return b"iog%020x" % rng.getrandbits(KEY_BITS)


def _value(rng, n) -> bytes:
    data = bytearray(rng.randbytes(n))
    if n >= 24 and rng.random() < 0.5:
        mark = rng.choice(MARKERS)
        at = rng.randrange(n - len(mark) + 1)
        data[at:at + len(mark)] = mark
    return bytes(data)


def _set(key, flags, data, noreply=False) -> bytes:
    return b"set %s %d 0 %d%s\r\n%s\r\n" % (key, flags, len(data), b" noreply" if noreply else b"", data)


def _get(keys) -> bytes:
    return b"get " + b" ".join(keys) + b"\r\n"


class MemcacheModel(Model):
    """One connection: parses what the client sent into commands, keeps the
    values this connection stored, and compares every reply byte with the
    replies owed, in order (STORED per set without noreply, VALUE blocks and
    END per get). Replies may come split at any byte or several at once."""

    COMPACT = 1 << 20

    def __init__(self):
        self.store = {}          # key -> (flags, data) as this connection last set it
        self.owed_replies = deque()  # (command, reply bytes) not yet fully received
        self.head = 0            # bytes of owed_replies[0] received
        self.matched = 0         # reply bytes accepted
        self.replies = 0         # complete replies received
        self.refused = False     # the server refused this connection at its limit (REFUSAL)
        self._first = bytearray()  # reply bytes held while they may still be REFUSAL
        self._deciding = True    # nothing decided about the first bytes yet
        self._in = bytearray()   # bytes sent, from _at on not yet parsed
        self._at = 0
        self._set = None         # (key, flags, length, noreply, line) of a set waiting for its data block

    # -- what the client sent ------------------------------------------------------
    def sent(self, data: bytes):
        self._in += data
        while self._command():
            pass
        if self._at > self.COMPACT:
            del self._in[:self._at]
            self._at = 0

    def _command(self) -> bool:
        """Parse one command (and its data block) if complete; True when one was."""
        buf, at = self._in, self._at
        if self._set:
            key, flags, n, noreply, line = self._set
            if len(buf) - at < n + 2:
                return False
            if buf[at + n:at + n + 2] != b"\r\n":
                raise CannotJudge(f"the client sent a data block not ended by CRLF after {line!r} (the memcache "
                                  f"adapter builds only well-formed commands)")
            self.store[key] = (flags, bytes(buf[at:at + n]))
            self._at += n + 2
            self._set = None
            if not noreply:
                self.owed_replies.append((line, b"STORED\r\n"))
            return True
        eol = buf.find(b"\n", at)
        if eol < 0:
            return False
        line = bytes(buf[at:eol]).rstrip(b"\r")
        self._at = eol + 1
        words = line.split()
        if len(words) in (5, 6) and words[0] == b"set" and words[5:] in ([], [b"noreply"]) \
                and words[2].isdigit() and words[4].isdigit():
            self._set = (words[1], int(words[2]), int(words[4]), len(words) == 6, line.decode("latin-1"))
        elif len(words) >= 2 and words[0] == b"get":
            reply = b"".join(b"VALUE %s %d %d\r\n%s\r\n" % (k, self.store[k][0], len(self.store[k][1]),
                                                            self.store[k][1]) for k in words[1:] if k in self.store)
            self.owed_replies.append((line.decode("latin-1"), reply + b"END\r\n"))
        else:
            raise CannotJudge(f"the client sent {line[:60]!r}, a command the memcache adapter does not build")
        return True

    def owed(self) -> bool:
        return bool(self.owed_replies) or bool(self._first)

    # -- what the server sent ------------------------------------------------------------
    def received(self, chunk: bytes):
        if self._deciding:  # the first bytes of a connection may be memcached's refusal at its limit
            self._first += chunk
            first = bytes(self._first)
            if REFUSAL.startswith(first):
                if first == REFUSAL:
                    self._deciding, self.refused = False, True
                    self._first.clear()
                return
            if first.startswith(REFUSAL):
                raise Mismatch(f"bytes after the server's refusal {REFUSAL!r}: {first[len(REFUSAL):][:40]!r}")
            self._deciding = False
            self._first.clear()
            chunk = first
        if self.refused:
            raise Mismatch(f"bytes after the server's refusal {REFUSAL!r}: {chunk[:40]!r}")
        pos = 0
        while pos < len(chunk):
            if not self.owed_replies:
                raise Mismatch(f"{len(chunk) - pos} bytes arrived but no reply is owed ({self.replies} replies "
                               f"to the commands sent so far, set noreply owes none): {chunk[pos:pos + 40]!r}")
            command, want = self.owed_replies[0]
            take = min(len(want) - self.head, len(chunk) - pos)
            got = chunk[pos:pos + take]
            if got != want[self.head:self.head + take]:
                self._mismatch(command, want, chunk[pos:])
            pos += take
            self.head += take
            self.matched += take
            if self.head == len(want):
                self.owed_replies.popleft()
                self.head = 0
                self.replies += 1

    def _mismatch(self, command, want, got):
        at = next(i for i in range(len(got)) if got[i] != want[self.head + i])
        start = want.rfind(b"\n", 0, self.head + at) + 1  # show both from the start of the line that differs
        raise Mismatch(f"reply {self.replies + 1} (to {command[:60]!r}), byte {self.head + at}: expected "
                       f"{want[start:start + 48]!r}, got {(want[start:self.head] + got)[:48]!r}")

    def ended(self, how: str) -> bool:
        if self.refused:
            raise CannotJudge(f"the server refused this connection at its connection limit ({REFUSAL!r}, then "
                              f"the close: memcached -c, legal back-pressure); the case cannot judge this client")
        return self.head == 0 and not self._first


class Memcache(Protocol):
    """memcached's text protocol: sets of binary values (some noreply), gets
    and multi-gets of the keys just set and of keys nobody set."""
    framing, keep_alive, exchange = "length", "persistent", "request-response"
    name = "memcache"

    def request(self, rng, size=16):
        if size < 48:  # one small command: a set, or a get of a key nobody set
            if rng.random() < 0.5:
                return _get([_key(rng)])
            return _set(_key(rng), rng.getrandbits(32), _value(rng, rng.randrange(1, 5)))
        out, keys = bytearray(), []
        while not keys or len(out) < size - 96:
            budget = max(1, size - len(out) - 96)  # room for a set's line and the final get
            n = min(VALUE_MAX, budget if budget < 256 else rng.randrange(budget // 4, budget + 1))
            keys.append(_key(rng))
            out += _set(keys[-1], rng.choice((0, rng.getrandbits(32))), _value(rng, n), rng.random() < 0.25)
            if rng.random() < 0.3:  # a multi-get mid-way: keys set so far, and one nobody set
                out += _get(rng.sample(keys, min(len(keys), rng.randrange(1, 4))) + [_key(rng)])
        # Always ends with a get: the request gets a reply even when its sets were noreply.
        return bytes(out + _get(keys[-1:] + ([_key(rng)] if rng.random() < 0.5 else [])))

    def model(self):
        return MemcacheModel()


PROTOCOLS[Memcache.name] = Memcache()
