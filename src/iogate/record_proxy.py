"""The loopback proxy `./iogate record` puts between a user's client and the
server: it forwards every byte both ways, unchanged and without faults, and
keeps each connection's bytes in order of direction (the alternation of
client and server bytes is what splits a recording into exchanges).

One thread, non-blocking sockets and one selector: a side that does not read
holds only its own direction, never the other (no deadlock on a large reply
meeting a large request). Bounded: at most MAX_CONNECTIONS connections and
MAX_BYTES bytes recorded in all.
"""
import errno
import selectors
import socket

HOST = "127.0.0.1"
MAX_CONNECTIONS = 64
MAX_BYTES = 256 << 20
CHUNK = 65536


class RecordError(Exception):
    """The recording cannot be made: one line."""


class Connection:
    """One proxied connection: the client side, the server side, what went each way."""

    def __init__(self, number, client, server):
        self.number = number
        self.events = []        # [">" or "<", bytearray]: runs of one direction, in order
        self.ends = []          # "client FIN" / "server FIN" / "client RST" / "server RST", in order
        self.sides = {"client": client, "server": server}
        self.out = {"client": bytearray(), "server": bytearray()}  # bytes waiting to be written to that side
        self.eof = {"client": False, "server": False}             # that side sent its FIN
        self.shut = {"client": False, "server": False}            # the FIN was passed on to that side
        self.closed = False

    def note(self, direction, data):
        if self.events and self.events[-1][0] == direction:
            self.events[-1][1].extend(data)
        else:
            self.events.append([direction, bytearray(data)])

    def server_ended_first(self) -> bool:
        return bool(self.ends) and self.ends[0].startswith("server")


class Proxy:
    def __init__(self, server_port):
        self.server_port = server_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((HOST, 0))
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.listener, selectors.EVENT_READ, None)
        self.connections = []
        self.recorded = 0

    @property
    def open(self) -> int:
        return sum(1 for c in self.connections if not c.closed)

    def step(self, timeout):
        for key, mask in self.sel.select(timeout):
            if key.data is None:
                self._accept()
            else:
                conn, side = key.data
                if not conn.closed and mask & selectors.EVENT_WRITE:
                    self._flush(conn, side)
                if not conn.closed and mask & selectors.EVENT_READ:
                    self._read(conn, side)

    def _accept(self):
        try:
            client, _ = self.listener.accept()
        except BlockingIOError:
            return
        if len(self.connections) >= MAX_CONNECTIONS:
            client.close()
            raise RecordError(f"the client opened more than {MAX_CONNECTIONS} connections; a transcript records "
                              f"a short session")
        try:
            server = socket.create_connection((HOST, self.server_port), timeout=5)
        except OSError as e:
            client.close()
            raise RecordError(f"the proxy could not connect to the server on port {self.server_port}: {e}")
        conn = Connection(len(self.connections) + 1, client, server)
        self.connections.append(conn)
        for side, sock in conn.sides.items():
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sel.register(sock, selectors.EVENT_READ, (conn, side))

    @staticmethod
    def other(side):
        return "server" if side == "client" else "client"

    def _read(self, conn, side):
        try:
            data = conn.sides[side].recv(CHUNK)
        except BlockingIOError:
            return
        except OSError as e:
            conn.ends.append(f"{side} RST ({errno.errorcode.get(e.errno, e.errno)})")
            return self._close(conn)
        to = self.other(side)
        if not data:
            conn.eof[side] = True
            conn.ends.append(f"{side} FIN")
            self._watch(conn, side)
            self._flush(conn, to)
            return
        self.recorded += len(data)
        if self.recorded > MAX_BYTES:
            raise RecordError(f"more than {MAX_BYTES >> 20} MiB went through the proxy; a transcript records a "
                              f"short session")
        conn.note(">" if side == "client" else "<", data)
        conn.out[to] += data
        self._flush(conn, to)

    def _flush(self, conn, side):
        """Write what waits for `side`; pass the other side's FIN on once it is all written."""
        out = conn.out[side]
        try:
            while out:
                n = conn.sides[side].send(out)
                del out[:n]
        except BlockingIOError:
            pass
        except OSError as e:
            conn.ends.append(f"{side} RST ({errno.errorcode.get(e.errno, e.errno)})")
            return self._close(conn)
        if not out and conn.eof[self.other(side)] and not conn.shut[side]:
            conn.shut[side] = True
            try:
                conn.sides[side].shutdown(socket.SHUT_WR)
            except OSError:
                pass
        if all(conn.eof.values()) and all(conn.shut.values()):
            return self._close(conn)
        self._watch(conn, side)

    def _watch(self, conn, side):
        """Read a side until its FIN; write to it while bytes wait for it."""
        events = (0 if conn.eof[side] else selectors.EVENT_READ) | (selectors.EVENT_WRITE if conn.out[side] else 0)
        sock = conn.sides[side]
        registered = sock in self.sel.get_map()
        if events and registered:
            self.sel.modify(sock, events, (conn, side))
        elif events:
            self.sel.register(sock, events, (conn, side))
        elif registered:
            self.sel.unregister(sock)

    def _close(self, conn):
        if conn.closed:
            return
        conn.closed = True
        for sock in conn.sides.values():
            if sock in self.sel.get_map():
                self.sel.unregister(sock)
            sock.close()

    def close(self):
        for conn in self.connections:
            self._close(conn)
        self.sel.close()
        self.listener.close()
