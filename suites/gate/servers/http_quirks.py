#!/usr/bin/python3
"""A small HTTP/1.1 server for the http adapter's tests: correct, or wrong
in one chosen way, each legal behaviour of RFC 9112 a real server shows.

    http_quirks.py --port N [--keepalive-max N] [--http10] [--unframed]
                   [--truncated none|400|408|200] [--no-linger]
                   [--drop-after N] [--cut-at N]

* every GET (request head up to CRLF CRLF, no body) gets one response;
  pipelined requests are answered in order.
* --keepalive-max N: response N of a connection says 'Connection: close'
  and the connection ends after it (nginx's keepalive_requests, apache's
  MaxKeepAliveRequests); 1 closes after every response.
* --http10: responses are HTTP/1.0 without keep-alive: the connection ends
  after each one (no Connection header: HTTP/1.0 closes by default).
* --unframed: responses have neither Content-Length nor chunked coding:
  their body runs to the close (RFC 9112 section 6.3 rule 8); implies
  closing after each response.
* --truncated S: when the client ends (EOF) in the middle of a request,
  answer it with status S (400, or 408 without Content-Length: its body runs
  to the close), then close. 200 is the bug: a truncated request answered as
  if it were complete. none (the default): just close.
* the bugs the adapter must still catch: --drop-after N closes after
  response N without announcing it; --cut-at N sends only half of
  response N, then closes.
* closing: shutdown(SHUT_WR), then read and discard until the client's EOF
  (lingering close, as nginx and apache do) unless --no-linger.

Thread per connection, blocking sockets, binds 127.0.0.1.
"""
import argparse
import socket
import struct
import threading
import time

BODY = b"hello from http_quirks\n"


def response(args, close):
    version = b"HTTP/1.0" if args.http10 else b"HTTP/1.1"
    head = version + b" 200 OK\r\nServer: http_quirks\r\nContent-Type: text/plain\r\n"
    if not args.unframed:
        head += b"Content-Length: %d\r\n" % len(BODY)
    if close and not args.http10:
        head += b"Connection: close\r\n"
    return head + b"\r\n" + BODY


def truncated_response(status):
    if status == 408:  # no length: the body runs to the close
        return b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\ntoo slow\n"
    reason = {400: b"Bad Request", 200: b"OK"}.get(status, b"Error")
    body = b"incomplete request\n"
    return (b"HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % (status, reason, len(body))) + body


def finish(args, conn):
    try:
        conn.shutdown(socket.SHUT_WR)
        if not args.no_linger:  # a kernel timeout: the socket stays blocking (no poll() per connection)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 5, 0))
            while conn.recv(65536):
                pass
    except OSError:
        pass
    conn.close()


def serve(args, conn):
    buf = bytearray()
    answered = 0
    limit = 1 if (args.http10 or args.unframed) else args.keepalive_max
    try:
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                del buf[:end + 4]
                answered += 1
                close = bool(limit) and answered >= limit
                out = response(args, close)
                if answered == args.cut_at:
                    conn.sendall(out[:len(out) - 5])
                    break
                conn.sendall(out)
                if close or answered == args.drop_after:
                    break
                continue
            data = conn.recv(65536)
            if not data:
                if buf.strip() and args.truncated != "none":
                    conn.sendall(truncated_response(int(args.truncated)))
                break
            buf += data
    except OSError:
        conn.close()
        return
    finish(args, conn)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--keepalive-max", type=int, default=0)
    p.add_argument("--http10", action="store_true")
    p.add_argument("--unframed", action="store_true")
    p.add_argument("--truncated", choices=["none", "400", "408", "200"], default="none")
    p.add_argument("--no-linger", action="store_true")
    p.add_argument("--drop-after", type=int, default=0)
    p.add_argument("--cut-at", type=int, default=0)
    args = p.parse_args()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", args.port))
    ls.listen(128)
    print(f"listening on {ls.getsockname()[1]}", flush=True)
    while True:
        try:
            conn, _ = ls.accept()
        except OSError:  # EMFILE and the like: wait for a descriptor to be freed, do not spin
            time.sleep(0.05)
            continue
        threading.Thread(target=serve, args=(args, conn), daemon=True).start()


if __name__ == "__main__":
    main()
