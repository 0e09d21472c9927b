"""An echo server that dies (SIGABRT) when its third connection arrives:
a server that crashes partway through a run (suites/gate/test_hostile.py).

    crash_third.py PORT
"""
import os
import socket
import sys
import threading


def serve(conn):
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            conn.sendall(data)


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", int(sys.argv[1])))
    srv.listen(64)
    for n in range(1, 1000):
        conn, _ = srv.accept()
        if n == 3:
            os.abort()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
