"""The transcript file: a user's own request/response exchanges, recorded by
`./iogate record` or written by hand (docs/protocols.md, "transcript").

    # iogate transcript 1
    mask Date: [^\\r\\n]*
    refuse -ERR max number of clients reached\\r\\n
    < greeting bytes, if the server speaks first
    > request bytes\\r\\n
    < response bytes\\r\\n

Data lines start with '>' (client to server) or '<' (server to client) and a
space; the bytes are escaped: printable ASCII stands for itself, '\\\\',
'\\r', '\\n', '\\t' and '\\xHH' for the rest. Consecutive lines of one
direction join (no newline is implied: a line break in the data is the
escape '\\n'). An exchange is a run of '>' lines and the '<' lines after it;
'<' lines before the first '>' are the greeting. `mask REGEX` (a Python
`regex` bytes pattern, the rest of the line) makes every span of a recorded
response that REGEX matches a field any match of REGEX may fill; `refuse
BYTES` (escaped) is a reply a server may send instead, as its first bytes on
a connection, when it refuses a client at a connection cap. '#' lines and
blank lines are comments.
"""
import regex

MAGIC = "# iogate transcript 1"
WRAP = 100  # escaped characters per data line when written


class TranscriptError(ValueError):
    """A transcript file that cannot be read: one line naming the place."""


def escape(data: bytes) -> str:
    out = []
    for b in data:
        if b == 0x5C:
            out.append("\\\\")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append({0x0D: "\\r", 0x0A: "\\n", 0x09: "\\t"}.get(b) or f"\\x{b:02x}")
    return "".join(out)


_UNESCAPE = regex.compile(r"\\(?:x([0-9a-fA-F]{2})|([rnt\\]))|\\")


def unescape(text: str, where: str) -> bytes:
    def one(m):
        if m.group(1):
            return chr(int(m.group(1), 16))
        if m.group(2):
            return {"r": "\r", "n": "\n", "t": "\t", "\\": "\\"}[m.group(2)]
        raise TranscriptError(f"{where}: a backslash that starts no escape (\\\\ \\r \\n \\t \\xHH)")
    try:
        return _UNESCAPE.sub(one, text).encode("latin-1")
    except UnicodeEncodeError as e:
        raise TranscriptError(f"{where}: a character outside latin-1 ({text[e.start:e.end]!r}); write bytes as "
                              f"\\xHH")


class Transcript:
    """What a transcript file holds."""

    def __init__(self, greeting=b"", exchanges=(), masks=(), refuse=(), comments=()):
        self.greeting = bytes(greeting)
        self.exchanges = [(bytes(q), bytes(a)) for q, a in exchanges]  # (request, response)
        self.masks = list(masks)       # regex source strings
        self.refuse = [bytes(r) for r in refuse]
        self.comments = list(comments)  # lines written after the magic line

    def compiled_masks(self):
        out = []
        for src in self.masks:
            try:
                out.append(regex.compile(src.encode("latin-1")))
            except (regex.error, UnicodeEncodeError) as e:
                raise TranscriptError(f"mask {src!r}: not a regular expression over bytes: {e}")
        return out

    def format(self) -> str:
        lines = [MAGIC] + [f"# {c}" for c in self.comments]
        lines += [f"mask {m}" for m in self.masks] + [f"refuse {escape(r)}" for r in self.refuse]
        if self.greeting:
            lines += _data("<", self.greeting)
        for q, a in self.exchanges:
            lines += _data(">", q) + _data("<", a)
        return "\n".join(lines) + "\n"


def _data(mark: str, data: bytes):
    """Data lines: a new line after each newline byte and every WRAP characters."""
    out = []
    for piece in regex.split(rb"(?<=\n)", data):
        for i in range(0, len(piece), WRAP):
            text = escape(piece[i:i + WRAP])
            if text:
                out.append(f"{mark} {text}")
    return out


def parse(text: str, name: str = "transcript") -> Transcript:
    lines = text.split("\n")
    if not lines or lines[0].strip() != MAGIC:
        raise TranscriptError(f"{name}:1: not a transcript (the first line must be {MAGIC!r})")
    greeting, exchanges, masks, refuse = bytearray(), [], [], []
    direction, req, resp = None, bytearray(), bytearray()
    for no, raw in enumerate(lines[1:], 2):
        line = raw.rstrip("\r")
        where = f"{name}:{no}"
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("mask "):
            masks.append(line[5:])
            continue
        if line.startswith("refuse "):
            refuse.append(unescape(line[7:], where))
            continue
        if line[:2] not in ("> ", "< ") and line not in (">", "<"):
            raise TranscriptError(f"{where}: expected '> DATA', '< DATA', 'mask REGEX', 'refuse DATA' or a "
                                  f"'#' comment, got {line[:40]!r}")
        mark, data = line[0], unescape(line[2:], where)
        if mark == ">":
            if direction == "<" and req:
                exchanges.append((bytes(req), bytes(resp)))
                req, resp = bytearray(), bytearray()
            req += data
        elif req:
            resp += data
        else:
            greeting += data
        direction = mark
    if req:
        exchanges.append((bytes(req), bytes(resp)))
    if not exchanges:
        raise TranscriptError(f"{name}: no exchange ('> request' lines): nothing to replay")
    t = Transcript(greeting, exchanges, masks, refuse)
    t.compiled_masks()  # a bad mask is the file's error, found when it is read
    return t


def load(path: str) -> Transcript:
    try:
        with open(path, "rb") as f:
            text = f.read().decode("latin-1")
    except OSError as e:
        raise TranscriptError(f"cannot read the transcript {path}: {e.strerror}")
    return parse(text, path)
