"""RESP2, the Redis protocol (imported by protocols.py at its end; adds
itself to PROTOCOLS): the client sends arrays of bulk strings (PING,
SET, GET, INCR, MGET), the model knows the one reply a correct Redis sends to
each and parses the replies as they come (split anywhere, several per chunk).

Keys. request() has no model and no connection, only the case's rng: each
call draws 64 random bits and names its keys after them
(`iogate:<64 bits hex>:<i>`), and its GET, INCR and MGET name only keys of
that same call. Two calls share no key (a collision needs the same 64 bits),
so the replies to a call's commands depend only on what the connection that
sent it sent before: the model simulates that with its own dict. The one way
the same bytes reach the server twice is on the same connection (a script
sending one chunk again and again), which the dict follows exactly.

Closes. Redis ends a connection only on a protocol error, a client timeout
(0 = none by default) or a refusal at `maxclients`; so a close while a reply
is owed is a failure. The refusal ("-ERR max number of clients reached" as
the first reply, then the close) is legal back-pressure: CannotJudge (N/A).

Bytes that are not RESP commands (no case script sends any: slow_reader_bounded
resumes a short send() where it stopped) would mean what the server's parser
makes of them (Redis: inline commands, protocol errors). The model stops
judging at the first such byte
(`lost`): the replies to the commands before it are still owed and judged
exactly; after them it accepts only well-formed RESP replies, and a close.
"""
import collections

from .protocols import PROTOCOLS, CannotJudge, Mismatch, Model, Protocol

CRLF = b"\r\n"
MAX_VALUE = 1 << 20          # the largest SET value request() makes
LINE_MAX = 64 * 1024         # a reply line (+, -, :, $, *) longer than this is not Redis's
REFUSED = ("-", b"ERR max number of clients reached")
NOT_INT = ("-", b"ERR value is not an integer or out of range")
INT64 = (-(1 << 63), (1 << 63) - 1)


def command(*args: bytes) -> bytes:
    """One RESP2 command: an array of bulk strings."""
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def show(v, limit=40) -> str:
    """A reply as a reader wants it in a message."""
    kind, val = v
    if kind in "+-":
        return kind + repr(val[:limit])[2:-1]
    if kind == ":":
        return f":{val}"
    if kind == "$":
        return "$-1 (nil)" if val is None else f"${len(val)} {val[:limit]!r}" + ("..." if len(val) > limit else "")
    return "*-1 (nil)" if val is None else f"*{len(val)} [" + ", ".join(show(x, 16) for x in val[:4]) + \
        (", ..." if len(val) > 4 else "") + "]"


def _int(digits: bytes):
    """Redis's string2ll: an optional '-', no leading zero, no sign '+', int64."""
    s = digits[1:] if digits[:1] == b"-" else digits
    if not s.isdigit() or (len(s) > 1 and s[:1] == b"0") or len(digits) > 20:
        return None
    n = int(digits)
    return n if INT64[0] <= n <= INT64[1] else None


class RespModel(Model):
    """One connection: what it sent (parsed as commands, run on its own dict)
    and the replies it got (parsed, each compared with the one owed)."""

    def __init__(self):
        self.matched = 0         # reply bytes accepted
        self.replies = 0         # complete replies judged
        self.lost = ""           # why the commands sent can no longer be judged ("" = they can)
        self.unjudged = 0        # well-formed replies after the point the model lost the commands
        self._store = {}         # key -> value, what this connection SET and INCRed
        self._owed = collections.deque()  # (expected reply, "the command") in order
        # the client's stream: a command being parsed
        self._in = bytearray()
        self._argc = None        # None: a '*N' line is next
        self._args = []
        self._arglen = None      # None: a '$L' line is next
        # the replies: a parser that keeps its place between chunks
        self._buf = bytearray()
        self._stack = []         # [elements still to come, elements so far] of open arrays
        self._bulk = None        # bytes of bulk data (without CRLF) still to come

    # -- what the client sent ------------------------------------------------------
    def sent(self, data: bytes):
        if self.lost:
            return
        self._in += data
        while self._command_step():
            pass

    def _lose(self, why):
        self.lost = why
        self._in = bytearray()

    def _command_step(self) -> bool:
        buf = self._in
        if self._argc is not None and self._arglen is not None:  # bulk data, then CRLF
            if len(buf) < self._arglen + 2:
                return False
            if buf[self._arglen:self._arglen + 2] != CRLF:
                self._lose(f"an argument of {self._arglen} bytes not followed by CRLF")
                return False
            self._args.append(bytes(buf[:self._arglen]))
            del buf[:self._arglen + 2]
            self._arglen = None
            if len(self._args) == self._argc:
                self._run(self._args)
                self._argc, self._args = None, []
            return True
        mark = b"*" if self._argc is None else b"$"
        if buf and buf[:1] != mark:
            self._lose(f"{bytes(buf[:16])!r} where a RESP command expects {mark.decode()!r}")
            return False
        eol = buf.find(CRLF)
        if eol < 0:
            return False
        n = _int(bytes(buf[1:eol]))
        if n is None or n < (1 if self._argc is None else 0):  # an empty argument is fine, an empty command not
            self._lose(f"a bad length line {bytes(buf[:eol])!r}")
            return False
        del buf[:eol + 2]
        if self._argc is None:
            self._argc = n
        else:
            self._arglen = n
        return True

    def _run(self, args):
        """What Redis answers, on this connection's own dict."""
        name, keys = args[0].upper(), args[1:]
        what = b" ".join([name] + [a if len(a) <= 40 else b"<%d bytes>" % len(a) for a in keys]).decode("latin-1")
        if name == b"PING" and not keys:
            reply = ("+", b"PONG")
        elif name == b"SET" and len(keys) == 2:
            self._store[keys[0]] = keys[1]
            reply = ("+", b"OK")
        elif name == b"GET" and len(keys) == 1:
            reply = ("$", self._store.get(keys[0]))
        elif name == b"MGET" and keys:
            reply = ("*", [("$", self._store.get(k)) for k in keys])
        elif name == b"INCR" and len(keys) == 1:
            n = _int(self._store.get(keys[0], b"0"))
            if n is None or n == INT64[1]:
                reply = NOT_INT if n is None else ("-", b"ERR increment or decrement would overflow")
            else:
                self._store[keys[0]] = b"%d" % (n + 1)
                reply = (":", n + 1)
        else:
            self._lose(f"a command the model does not know: {what[:60]}")
            return
        self._owed.append((reply, what))

    # -- what the server sent ------------------------------------------------------
    def owed(self) -> bool:
        return bool(self._owed) or bool(self._buf) or bool(self._stack) or self._bulk is not None

    def ended(self, how: str) -> bool:
        if self.lost and not self._owed:
            return True  # after bytes the model cannot judge, Redis may close (a protocol error)
        return not self._buf and not self._stack and self._bulk is None

    def extra_allowed(self) -> bool:
        return bool(self.lost)

    def received(self, chunk: bytes):
        self._buf += chunk
        while self._reply_step():
            pass
        self.matched += len(chunk)

    def _fail(self, what):
        n = self.replies + 1
        to = f" (to {self._owed[0][1]})" if self._owed else ""
        raise Mismatch(f"reply {n}{to}: {what}")

    def _reply_step(self) -> bool:
        buf = self._buf
        if self._bulk is not None:
            if len(buf) < self._bulk + 2:
                return False
            if buf[self._bulk:self._bulk + 2] != CRLF:
                self._fail(f"a bulk string of {self._bulk} bytes not followed by CRLF: "
                           f"{bytes(buf[self._bulk:self._bulk + 8])!r}")
            data = bytes(buf[:self._bulk])
            del buf[:self._bulk + 2]
            self._bulk = None
            self._element(("$", data))
            return True
        if not buf:
            return False
        if not self._stack and not self._owed and not self.lost:
            self._fail(f"{len(buf)} bytes arrived but no command is waiting for a reply "
                       f"({self.replies} replies so far): {bytes(buf[:40])!r}")
        kind = chr(buf[0])
        if kind not in "+-:$*":
            self._fail(f"expected a RESP2 reply (+ - : $ *), got {bytes(buf[:40])!r}")
        eol = buf.find(CRLF)
        if eol < 0:
            if len(buf) > LINE_MAX:
                self._fail(f"no CRLF in the first {len(buf)} bytes of a reply line: {bytes(buf[:40])!r}")
            return False
        rest = bytes(buf[1:eol])
        del buf[:eol + 2]
        if kind in "+-":
            self._element((kind, rest))
            return True
        n = _int(rest)
        if n is None or (kind != ":" and n < -1):
            self._fail(f"a bad number in the reply line {kind}{rest[:40]!r}")
        if kind == ":":
            self._element((":", n))
        elif n == -1:
            self._element((kind, None))
        elif kind == "$":
            want = self._owed[0][0] if self._owed and not self._stack else None
            if want and want[0] == "$" and want[1] is not None and len(want[1]) != n:
                self._fail(f"expected {show(want)}, got a bulk string of {n} bytes")  # before its data comes
            self._bulk = n
        elif n == 0:
            self._element(("*", []))
        else:
            self._stack.append([n, []])
        return True

    def _element(self, v):
        while self._stack:
            top = self._stack[-1]
            top[1].append(v)
            top[0] -= 1
            if top[0]:
                return
            self._stack.pop()
            v = ("*", top[1])
        self._judge(v)

    def _judge(self, got):
        if not self._owed:  # only after the model lost the commands (else refused in _reply_step)
            self.unjudged += 1
            return
        if self.replies == 0 and got == REFUSED:
            raise CannotJudge("the server refused the connection ('-ERR max number of clients reached', then "
                              "the close): Redis's maxclients, legal back-pressure the case cannot judge")
        want, what = self._owed[0]
        if got != want:
            at = ""
            if want[0] == got[0] == "$" and want[1] is not None and got[1] is not None:
                at = next((i for i, (a, b) in enumerate(zip(want[1], got[1])) if a != b), -1)
                at = f" (the bulk data differs from byte {at} on)" if at >= 0 else ""
            self._fail(f"expected {show(want)}, got {show(got)}{at}")
        self._owed.popleft()
        self.replies += 1


class Resp(Protocol):
    """RESP2 commands on a persistent connection, pipelined when a case sends
    several at once. A request of `size` bytes: a PING when small; else SETs
    of binary values (up to 1 MiB, a GET of each big one, so that the
    replies are as large as the request), GETs, INCRs, MGETs, PINGs."""
    framing, keep_alive, exchange = "length", "persistent", "request-response"
    name = "resp"

    def request(self, rng, size=16):
        tag = b"iogate:%016x:" % rng.getrandbits(64)
        out, keys, counters = [], [], []
        total = 0
        while True:
            left = size - total
            if out and left < 14:  # 14: a PING, the smallest command
                return b"".join(out)
            key = tag + b"%d" % (len(keys) + len(counters))
            pick = rng.random()
            if left < 40:
                cmd = [command(b"PING")]
            elif left >= 256:  # a big value and its GET: the reply is as large as the request
                value = self._value(rng, min(MAX_VALUE, left - 40 - 2 * len(key)))
                keys.append(key)
                cmd = [command(b"SET", key, value), command(b"GET", key)]
            elif pick < 0.3:
                keys.append(key)
                cmd = [command(b"SET", key, self._value(rng, rng.randrange(0, max(1, left - 40 - len(key)))))]
            elif pick < 0.5:
                cmd = [command(b"GET", rng.choice(keys) if keys and rng.random() < 0.7 else key + b"x")]
            elif pick < 0.7:
                if not counters or rng.random() < 0.4:
                    counters.append(key)
                cmd = [command(b"INCR", rng.choice(counters))]
            elif pick < 0.85:
                names = [rng.choice(keys) for _ in range(min(2, len(keys)))] + [key + b"x"]
                cmd = [command(b"MGET", *names)]
            else:
                cmd = [command(b"PING")]
            out += cmd
            total += sum(map(len, cmd))

    @staticmethod
    def _value(rng, n):
        """Binary, with a CRLF inside (the length, not a delimiter, ends a bulk string)."""
        value = bytearray(rng.randbytes(max(0, n)))
        if n >= 4:
            at = rng.randrange(n - 1)
            value[at:at + 2] = CRLF
        return bytes(value)

    def model(self):
        return RespModel()


PROTOCOLS[Resp.name] = Resp()
