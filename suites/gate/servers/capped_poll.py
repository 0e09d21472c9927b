#!/usr/bin/python3
"""A correct echo server with a fixed connection table (a test double of
servers written by others): poll(2), non-blocking sockets, at most --cap
connections. At the cap it applies back-pressure, as real servers do:
  --mode queue  stops polling the listener (clients wait in the backlog)
  --mode shed   accepts and closes at once, before sending anything
and takes clients again as others leave."""
import argparse
import select
import socket
import time

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--cap", type=int, default=64)
p.add_argument("--mode", choices=["queue", "shed"], default="queue")
p.add_argument("--backlog", type=int, default=4096, help="listen() backlog (CPython's socketserver: 5)")
p.add_argument("--slow-accept", type=float, default=0.0, help="seconds of work after each accept (a server "
               "that starts a thread or process per connection takes its queue slowly)")
p.add_argument("--defer-accept", action="store_true", help="TCP_DEFER_ACCEPT (apache2's default): a connection "
               "is accepted only once its first bytes arrived")
p.add_argument("--bind", default="127.0.0.1", help="the address to listen on (0.0.0.0: every interface)")
a = p.parse_args()

lsock = socket.socket(socket.AF_INET6 if ":" in a.bind else socket.AF_INET)
lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if a.defer_accept:
    lsock.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 30)
lsock.bind((a.bind, a.port))
lsock.listen(a.backlog)
lsock.setblocking(False)
poller = select.poll()
poller.register(lsock, select.POLLIN)
conns, out = {}, {}
listening = True
while True:
    for fd, ev in poller.poll():
        if fd == lsock.fileno():
            while True:
                try:
                    c, _ = lsock.accept()
                except BlockingIOError:
                    break
                except (ConnectionAbortedError, InterruptedError):
                    continue  # accept(2): a connection aborted while queued; try the next
                if len(conns) >= a.cap:
                    c.close()  # shed mode only reaches here
                    continue
                c.setblocking(False)
                if a.slow_accept:
                    time.sleep(a.slow_accept)  # the server's own per-connection work, not a wait for anything
                conns[c.fileno()], out[c.fileno()] = c, b""
                poller.register(c, select.POLLIN)
                if a.mode == "queue" and len(conns) >= a.cap:
                    poller.unregister(lsock)
                    listening = False
                    break
            continue
        c = conns[fd]
        try:
            if ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                data = c.recv(65536)
                if not data:
                    raise ConnectionResetError
                out[fd] += data
            if out[fd]:
                n = c.send(out[fd])
                out[fd] = out[fd][n:]
            poller.modify(c, select.POLLIN | (select.POLLOUT if out[fd] else 0))
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            poller.unregister(c)
            c.close()
            del conns[fd], out[fd]
            if not listening:
                poller.register(lsock, select.POLLIN)
                listening = True
