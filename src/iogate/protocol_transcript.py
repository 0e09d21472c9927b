"""`--protocol transcript:FILE`: any protocol, from a user's recorded
exchanges (transcript_file.py has the format; `./iogate record` writes one).

A differential oracle: a correct server answers each recorded request with
the bytes it answered while recorded, fault-free, except inside the masked
spans (a Date header, an id), which must match their mask. So the adapter
needs no knowledge of the protocol, and makes three assumptions that the
recorder and the gate's fault-free warm-up check on the real server:

* Replayable: the recorded session, replayed from its first exchange on any
  connection, any number of times and on several connections at once, gets
  the same replies (its state is its own: a session that sets a key before it
  reads it; a counter masked).
* Prefix-safe: a replay may stop after any exchange and start over from the
  first on the same connection: request(rng, size) hands out the first k
  exchanges (k by size) or whole sessions. When the first request and a later
  one are prefixes of each other the model could not tell where a new session
  starts, and whole sessions are sent instead.
* Persistent connections: the server ends a connection only after the
  client's FIN or reset (a transcript of a server that closes after each
  reply cannot be recorded).

After the client's FIN in the middle of an exchange, whatever the server
sends about that incomplete request is accepted: the adapter does not know
the protocol's error replies.
"""
import os
from collections import deque

import regex

from .protocols import FAMILIES, CannotJudge, Mismatch, Model, Protocol
from .transcript_file import TranscriptError, escape, load

PREFIX = "transcript:"
SLACK = 64 * 1024  # bytes a masked response may exceed its recorded length by before it is refused


class Template:
    """One recorded response with its masked spans: `literal` bytes, or a
    pattern that any bytes filling the spans with their mask's matches fit."""

    def __init__(self, recorded: bytes, masks, what: str):
        self.recorded = recorded
        self.what = what
        spans = sorted({(m.start(), m.end(), k) for k, p in enumerate(masks) for m in p.finditer(recorded)
                        if m.end() > m.start()})
        merged = []
        for s, e, k in spans:
            if merged and s < merged[-1][1]:
                raise TranscriptError(f"{what}: two masks match overlapping spans of {escape(recorded[s:e])!r}: "
                                      f"make them disjoint")
            merged.append((s, e, k))
        if merged and merged[-1][1] == len(recorded):
            raise TranscriptError(f"{what}: a mask matches the response's last bytes "
                                  f"({escape(recorded[merged[-1][0]:])!r}); a masked field must be followed by "
                                  f"recorded bytes (the end of its line), else the response's end is unknown")
        self.masked = len(merged)
        self.pattern = None
        if merged:
            parts, at = [], 0
            for s, e, k in merged:
                parts.append(regex.escape(recorded[at:s]))
                parts.append(b"(?:" + masks[k].pattern + b")")
                at = e
            parts.append(regex.escape(recorded[at:]))
            self.pattern = regex.compile(b"".join(parts), regex.DOTALL)


class TranscriptModel(Model):
    """One connection replaying the session: parses what the client sent into
    exchanges (the first exchange or the one after the last), owes each
    complete exchange its recorded response, and matches the replies as they
    come (split anywhere, several at once)."""

    def __init__(self, proto):
        self.p = proto
        self.owed_q = deque()      # Templates owed, the first one partly received maybe
        if proto.greeting_t:
            self.owed_q.append(proto.greeting_t)
        self.matched = 0
        self.replies = 0
        self.refused = b""         # the transcript's refusal the server sent instead of replying
        self.unjudged = 0          # bytes accepted after the client's FIN cut an exchange
        self._buf = bytearray()    # reply bytes of owed_q[0] not yet consumed
        self._head = 0             # literal templates: bytes of owed_q[0] matched
        self._in = bytearray()     # request bytes of the exchange in progress
        self._next = [0]           # the exchanges the next request bytes may begin
        self.lost = ""             # why the bytes sent stopped following the transcript (then: see received)
        self._fin = False
        self._cut = False          # the client's FIN came in the middle of an exchange

    # -- what the client sent ---------------------------------------------------------------
    def sent(self, data: bytes):
        if self.lost:
            return
        self._in += data
        reqs = self.p.requests
        while self._in:
            buf = bytes(self._in)
            fits = [i for i in self._next if buf[:len(reqs[i])] == reqs[i][:len(buf)]]
            if not fits:  # a script's own bytes (a stalled request's filler): the rest is the server's to judge
                self.lost = (f"the client sent {buf[:40]!r}, which begins no exchange the transcript allows here "
                             f"(exchange {' or '.join(str(i + 1) for i in self._next)})")
                self._in.clear()
                return
            whole = [i for i in fits if len(buf) >= len(reqs[i])]
            if not whole:
                self._next = fits
                return
            i = whole[0]
            del self._in[:len(reqs[i])]
            self.owed_q.append(self.p.templates[i])
            self._next = [i + 1, 0] if i + 1 < len(reqs) else [0]

    def shutdown_write(self):
        self._fin = True
        self._cut = bool(self._in)

    def owed(self) -> bool:
        return bool(self.owed_q) or bool(self._buf)

    def extra_allowed(self) -> bool:
        return (self._cut or bool(self.lost)) and not self.owed_q

    # -- what the server sent -----------------------------------------------------------------
    def received(self, chunk: bytes):
        if self.replies == 0 and not self.matched and self.p.refuse:
            first = bytes(self._buf) + chunk
            if any(r.startswith(first) for r in self.p.refuse) and not self._fits_owed(first):
                self._buf = bytearray(first)
                if first in self.p.refuse:
                    self.refused, self._buf = first, bytearray()
                    self.owed_q.clear()
                return
        if self.refused:
            raise Mismatch(f"bytes after the server's refusal: {chunk[:40]!r}")
        self._buf += chunk
        while self._buf:
            if not self.owed_q:
                if self._cut or self.lost:
                    self.unjudged += len(self._buf)
                    self.matched += len(self._buf)
                    self._buf.clear()
                    return
                raise Mismatch(f"{len(self._buf)} bytes arrived but no reply is owed ({self.replies} replies to "
                               f"the exchanges sent so far): {bytes(self._buf[:40])!r}")
            if not self._step(self.owed_q[0]):
                return

    def _fits_owed(self, first: bytes) -> bool:
        t = self.owed_q[0] if self.owed_q else None
        return t is not None and t.pattern is None and t.recorded.startswith(first)

    def _step(self, t) -> bool:
        """Consume owed_q[0] from _buf if it is there; True when it completed."""
        buf = self._buf
        if t.pattern is None:
            take = min(len(t.recorded) - self._head, len(buf))
            want = t.recorded[self._head:self._head + take]
            if buf[:take] != want:
                at = next(k for k in range(take) if buf[k] != want[k])
                self._mismatch(t, self._head + at, bytes(buf[at:]))
            del buf[:take]
            self._head += take
            self.matched += take
            if self._head < len(t.recorded):
                return False
            self._head = 0
        else:
            m = t.pattern.match(bytes(buf), partial=True)
            if m is None:
                at = next((k for k in range(min(len(buf), len(t.recorded))) if buf[k] != t.recorded[k]), 0)
                self._mismatch(t, at, bytes(buf[at:]), masked=True)
            if m.partial:
                if len(buf) > len(t.recorded) + SLACK:
                    self._mismatch(t, 0, bytes(buf[:40]), masked=True)
                return False
            del buf[:m.end()]
            self.matched += m.end()
        self.owed_q.popleft()
        self.replies += 1
        return True

    def _mismatch(self, t, at, got, masked=False):
        start = t.recorded.rfind(b"\n", 0, at) + 1
        note = f" ({t.masked} masked field(s): a difference may be in or after one)" if masked else ""
        raise Mismatch(f"{t.what}, byte {at}: expected {t.recorded[start:start + 48]!r}, got "
                       f"{(t.recorded[start:at] + got)[:48]!r}{note}")

    def ended(self, how: str) -> bool:
        if self.refused:
            raise CannotJudge(f"the server refused this connection with {self.refused!r} (the "
                              f"transcript's 'refuse' line: a connection cap); the case cannot judge this client")
        return self._head == 0 and not self._buf


class TranscriptProtocol(Protocol):
    framing, keep_alive, exchange = "recorded", "persistent", "request-response"

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self.name = PREFIX + self.path
        t = load(self.path)
        masks = t.compiled_masks()
        self.transcript = t
        self.requests = [q for q, _ in t.exchanges]
        self.templates = [Template(a, masks, f"exchange {i + 1}'s response") for i, (_, a) in
                          enumerate(t.exchanges)]
        self.greeting = t.greeting
        self.greeting_t = Template(t.greeting, masks, "the greeting") if t.greeting else None
        self.refuse = t.refuse
        first = self.requests[0]
        # prefix-safe unless a later request and the first are prefixes of each other
        self.prefix_safe = not any(q.startswith(first) or first.startswith(q) for q in self.requests[1:])
        self.session = b"".join(self.requests)

    def request(self, rng, size=16):
        """Whole sessions while they fit in `size`, then the first exchanges up to `size` (a whole session
        when not prefix-safe); never empty. rng is not needed: the bytes are the recording's."""
        out = bytearray()
        while len(out) + len(self.session) <= size:
            out += self.session
        if out and len(out) >= size:
            return bytes(out)
        if not self.prefix_safe:
            return bytes(out + self.session)
        for q in self.requests:
            out += q
            if len(out) >= size:
                break
        return bytes(out)

    def model(self):
        return TranscriptModel(self)


_loaded = {}


def named(name: str) -> Protocol:
    """The adapter of 'transcript:FILE' (one per file and modification time)."""
    path = os.path.abspath(name[len(PREFIX):])
    if not name[len(PREFIX):]:
        raise ValueError("--protocol transcript:FILE needs a file (`./iogate record` writes one)")
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError as e:
        raise ValueError(f"cannot read the transcript {path}: {e.strerror}")
    key = (path, stamp)
    if key not in _loaded:
        try:
            _loaded[key] = TranscriptProtocol(path)
        except TranscriptError as e:
            raise ValueError(str(e))
    return _loaded[key]


named.cls = TranscriptProtocol  # what the family can drive (protocol_caps, docs/protocols.md)
FAMILIES[PREFIX] = named  # protocols.protocol("transcript:FILE")
