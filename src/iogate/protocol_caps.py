"""What a protocol adapter can drive: its declared capabilities, and the one
rule that turns a case's needs into N/A with the reason.

Each adapter declares three class attributes beside its greeting and noise():

    framing     how a request ends: "frame" (seq's '^...$'), "line", "length"
                (a header or a count: http, resp, memcache), "bytes" (echo: no
                request boundary), "recorded" (a transcript's exchanges)
    keep_alive  "persistent" (the server ends a connection only after the
                client's FIN or reset) or "may-close" (after any complete
                reply, announced: HTTP's Connection: close)
    exchange    "request-response" (a reply per request) or "stream" (every
                byte comes back, no request needed)

and two follow from what it sends: `greeting` (the server speaks first on
accept) and `noise` (bytes a fresh connection ignores). A case names what it
needs in the case table (`Case.needs`); `unmet()` says why an adapter cannot
drive it, and the runner gives that cell N/A with the reason before any
server starts. docs/protocols.md shows the table (`./iogate docs`).
"""
from dataclasses import dataclass

# capability -> (what it means, what it takes to have it): the words of the N/A reasons and the docs
NEEDS = {
    "greeting": "the server speaks first on accept (a greeting)",
    "noise": "bytes a fresh connection ignores and owes nothing for",
    "persistent": "connections that only the client ends",
    "request-response": "one reply per request",
}


@dataclass(frozen=True)
class Capabilities:
    greeting: bool
    noise: bool
    framing: str
    keep_alive: str
    exchange: str

    def has(self, need: str) -> bool:
        if need == "greeting":
            return self.greeting
        if need == "noise":
            return self.noise
        if need == "persistent":
            return self.keep_alive == "persistent"
        if need == "request-response":
            return self.exchange == "request-response"
        raise KeyError(f"unknown capability {need!r} (known: {', '.join(NEEDS)})")


def of(proto) -> Capabilities:
    return Capabilities(greeting=bool(proto.greeting), noise=bool(proto.noise()), framing=proto.framing,
                        keep_alive=proto.keep_alive, exchange=proto.exchange)


def needs_text(needs) -> str:
    return " and ".join(NEEDS[n] for n in needs)


def unmet(needs, proto):
    """Why the adapter cannot drive a case that needs `needs` ('' when it can)."""
    caps = of(proto)
    missing = [n for n in needs if not caps.has(n)]
    if not missing:
        return ""
    name = proto.name if not proto.name.startswith("transcript:") else "this transcript"
    return (f"the {name} protocol adapter cannot drive this case: it needs "
            + needs_text(missing) + " (docs/protocols.md, capabilities)")


def render_table(protocols, families, cases) -> str:
    """The capability table of docs/protocols.md: one row per adapter (families: (display name, class), whose
    greeting depends on the file), and the cases each cannot drive."""
    lines = ["| adapter | greeting | noise | framing | keep-alive | exchange | N/A for |", "|---|---|---|---|---|---|---|"]

    def row(name, c, greeting_text):
        na = []
        for case in cases:
            missing = [n for n in case.needs if not c.has(n)]
            if missing == ["greeting"] and greeting_text == "as recorded":
                na.append(f"`{case.id}` (without a recorded greeting)")
            elif missing:
                na.append(f"`{case.id}`")
        lines.append(f"| `{name}` | {greeting_text} | {'yes' if c.noise else 'no'} | {c.framing} | {c.keep_alive} "
                     f"| {c.exchange} | {', '.join(na) or '-'} |")
    for p in protocols:
        row(p.name, of(p), "yes" if p.greeting else "no")
    for name, cls in families:
        caps = Capabilities(greeting=False, noise=False, framing=cls.framing, keep_alive=cls.keep_alive,
                            exchange=cls.exchange)
        row(name, caps, "as recorded")
    return "\n".join(lines)
