"""`./iogate record`: a transcript of a user's own client talking to the
server, for `--protocol transcript:FILE` (docs/protocols.md).

    ./iogate record --server-cmd 'redis-server --port {port} ...' --out redis.transcript \\
        -- redis-cli -p {port}  < commands.txt

The server starts as the gate starts it (no fault); the client runs with
'{port}' pointing at a loopback proxy that records every byte both ways.
Then the transcript is written (atomically) and checked: replayed fault-free
on a fresh server, on two connections, twice on the first, every reply must
match (masks applied). Exit 0: written and it replays; 1: written, but it
does not replay (the line says where: add a --mask, or edit the file); 2:
nothing written (usage, the client or the server failed, nothing recorded).
"""
import os
import shlex
import signal
import subprocess
import sys
import time

from . import atomic, bootstrap, outputs, processes, timeouts
from .client import Client
from .protocols import protocol as protocol_named
from .record_proxy import Proxy, RecordError
from .server import Server
from .transcript_file import Transcript, TranscriptError, unescape
from .verdicts import CaseFailed, HarnessError


def transcript_of(proxy, masks, refuse, command, client_argv) -> Transcript:
    """The recorded connections, in the order they opened, as one session."""
    conns = [c for c in proxy.connections if c.events]
    if not conns:
        raise RecordError("the client sent nothing through the proxy (is '{port}' where its port goes?)")
    greeting, exchanges, notes = b"", [], []
    for conn in conns:
        if conn.server_ended_first():
            raise RecordError(f"the server ended connection {conn.number} first ({conn.ends[0]}): a transcript "
                              f"replays on connections only the client ends; leave out the request that ends it "
                              f"(QUIT) or record a client that keeps its connection")
        events = list(conn.events)
        first = b""
        if events[0][0] == "<":
            first = bytes(events.pop(0)[1])
        if conn is conns[0]:
            greeting = first
        elif first != greeting:
            notes.append(f"connection {conn.number} had another greeting ({first[:40]!r}): the replay uses the "
                         f"first connection's")
        if events and events[-1][0] == ">" and any(e.startswith("server") for e in conn.ends):
            # a last request the server answered by closing (memcached's 'quit'): a replay cannot go on after it
            notes.append(f"left out connection {conn.number}'s last request {bytes(events[-1][1])[:40]!r}: the "
                         f"server answered it by closing the connection")
            events.pop()
        for i in range(0, len(events), 2):
            reply = bytes(events[i + 1][1]) if i + 1 < len(events) else b""
            exchanges.append((bytes(events[i][1]), reply))
    if not exchanges:
        raise RecordError("the client sent no request (only the server spoke)")
    comments = [f"recorded {time.strftime('%Y-%m-%d %H:%M:%S')}: {len(conns)} connection(s), "
                f"{len(exchanges)} exchange(s)", f"server: {command}",
                f"client: {shlex.join(client_argv)}"] + notes
    return Transcript(greeting, exchanges, masks, refuse, comments)


def run_client(proxy, argv):
    """Run the user's client with the proxy's port; forward its connections until it exits and they end."""
    argv = [a.replace("{port}", str(proxy.port)) for a in argv]
    try:
        # its own session: the client and whatever it starts (sh -c '...; redis-cli') end together with it
        proc = subprocess.Popen(argv, start_new_session=True)
    except OSError as e:
        raise RecordError(f"cannot start the client {argv[0]}: {e.strerror}")
    try:
        deadline = time.monotonic() + timeouts.timeout("record")
        while proc.poll() is None:
            if time.monotonic() > deadline:
                raise RecordError(f"the client ran longer than {timeouts.timeout('record'):.0f}s; a transcript "
                                  f"records a short session")
            proxy.step(0.05)
        # its connections: the last bytes still in flight, the FINs
        deadline = time.monotonic() + timeouts.timeout("reply")
        while proxy.open and time.monotonic() < deadline:
            proxy.step(0.05)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the group it leads (its own, by pid): nothing of it outlives us
        except ProcessLookupError:
            pass
        proc.wait()
    if proc.returncode != 0:
        raise RecordError(f"the client exited with status {proc.returncode}: nothing written (a failed client "
                          f"makes no transcript)")


def check(path, command) -> str:
    """Replay the transcript fault-free on a fresh server: '' when every reply matches, else why not."""
    proto = protocol_named("transcript:" + path)
    server = Server(command, plan="seed=1", name="server")
    try:
        server.start()
        one = Client(server.port, "replay connection 1", proto.name)
        if proto.greeting:
            one.greet()
        one.ask(proto.session, "the session, replayed")
        one.ask(proto.session, "the session, replayed again on the same connection")
        two = Client(server.port, "replay connection 2", proto.name)
        if proto.greeting:
            two.greet()
        two.ask(proto.session, "the session, replayed on a second connection")
        for c in (one, two):
            c.close()
        return ""
    except CaseFailed as e:
        return str(e)
    finally:
        server.stop()


def main(args):
    """SIGINT, SIGTERM, SIGHUP, SIGQUIT: the server and the client are ended (the finally blocks) and the
    command line says 'interrupted', exit 2."""
    with processes.Interruptible():
        return _main(args)


def _main(args):
    argv = list(args.client)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("iogate record: no client command (after --)", file=sys.stderr)
        return 2
    if not any("{port}" in a for a in argv):
        print("iogate record: the client command has no '{port}': it must connect to the recording proxy",
              file=sys.stderr)
        return 2
    try:
        refuse = [unescape(r, "--refuse") for r in args.refuse or []]
        Transcript(masks=args.mask or []).compiled_masks()
    except TranscriptError as e:
        print(f"iogate record: {e}", file=sys.stderr)
        return 2
    out = os.path.abspath(args.out)
    problem = outputs.file_problem(out, make_parents=False)
    if problem:
        print(f"iogate record: cannot write --out {args.out}: {problem}", file=sys.stderr)
        return 2
    bootstrap.prepare(bootstrap.GATE, install=not args.no_install)  # the shim and the launchers only
    server = Server(args.server_cmd, plan="seed=1", name="server")
    proxy = None
    try:
        server.start()
        proxy = Proxy(server.port)
        print(f"iogate record: the server listens on {server.port}; the client talks to the proxy on "
              f"{proxy.port}", file=sys.stderr, flush=True)
        run_client(proxy, argv)
        t = transcript_of(proxy, args.mask or [], refuse, args.server_cmd, argv)
    except (RecordError, HarnessError) as e:
        print(f"iogate record: {e}", file=sys.stderr)
        return 2
    finally:
        if proxy:
            proxy.close()
        server.stop()
    try:
        atomic.write_text(out, t.format())
    except OSError as e:
        print(f"iogate record: cannot write {args.out}: {e.strerror}", file=sys.stderr)
        return 2
    print(f"iogate record: wrote {args.out}: {len(t.exchanges)} exchange(s), "
          f"{sum(len(q) for q, _ in t.exchanges)} request bytes", file=sys.stderr)
    if args.no_check:
        return 0
    try:
        why = check(out, args.server_cmd)
    except (HarnessError, ValueError) as e:
        print(f"iogate record: the check could not run: {e}", file=sys.stderr)
        return 2
    if why:
        print(f"iogate record: {args.out} does not replay the same bytes fault-free: {why}; mask what varies "
              f"(--mask REGEX, or a 'mask' line in the file) or record a session whose replies depend only on "
              f"itself", file=sys.stderr)
        return 1
    print("iogate record: checked: replayed fault-free on a fresh server (twice on one connection, once on "
          "another), every reply matched", file=sys.stderr)
    return 0
