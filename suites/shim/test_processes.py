"""The shim in real process shapes: threads, fork, exec. Decisions stay a
pure function of (seed, rule, connection, call index), so one plan and one
client script give one fault sequence, whatever the threads do."""
import os
import signal
import subprocess
import sys
import textwrap

from iogate import paths, trace
from iogate.client import Client

IOGATE = str(paths.ROOT / "iogate")
PLAN = "recv.partial:max=2,p=0.5;send.partial:max=1,p=0.3;seed=42"


def per_connection_faults(srv):
    seq = {}
    for r in trace.read(srv.trace_path):
        if r.get("fault"):
            seq.setdefault(r["conn"], []).append((r["call"], r["fault"], r["ret"], r["req"]))
    return seq


def run_script(iogate_server, model, plan):
    srv = iogate_server(model, plan=plan)
    clients = [Client(srv.port, f"c{i}") for i in range(4)]  # four connections served by four threads
    for c in clients:
        c.greet()
    for k in range(5):
        for c in clients:
            c.ask(b"^abcdefghij$")
    for c in clients:
        c.close()
    srv.stop()
    return per_connection_faults(srv)


def test_twenty_runs_against_a_threaded_server_inject_the_same_faults(iogate_server):
    runs = [run_script(iogate_server, "threads", PLAN) for _ in range(20)]
    assert runs[0] and len(runs[0]) == 4, "every connection should see faults"
    for i, r in enumerate(runs[1:], 2):
        assert r == runs[0], f"run {i} injected a different fault sequence"


def test_a_forked_child_keeps_the_plan_and_its_connection_number(iogate_server):
    srv = iogate_server("fork", plan="recv.partial:max=1")
    for i in range(3):
        c = Client(srv.port, f"c{i}")
        c.greet()
        c.ask(b"^abc$")
        c.close()
    srv.stop()
    records = trace.read(srv.trace_path)
    parent = records[0]["pid"]
    child_reads = [r for r in records if r["call"] in ("recv", "read") and r["pid"] != parent and r["fault"]]
    assert {r["conn"] for r in child_reads} == {1, 2, 3}
    assert all(r["ret"] <= 1 for r in child_reads)
    assert len({r["pid"] for r in child_reads}) == 3


def test_an_exec_reloads_the_shim_with_the_same_plan(tmp_path):
    import socket
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    client = tmp_path / "c.py"
    client.write_text(textwrap.dedent("""
        import socket, sys
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        n = 0
        while True:
            b = s.recv(100)
            if not b:
                break
            n += 1
        print(n)
    """))
    tr = tmp_path / "t.jsonl"
    proc = subprocess.Popen([IOGATE, "run", "--faults", "recv.partial:max=1", "--trace", str(tr), "--", "sh", "-c",
                             f'exec "{sys.executable}" "{client}" {srv.getsockname()[1]}'],
                            stdout=subprocess.PIPE, text=True)
    conn, _ = srv.accept()
    conn.sendall(b"x" * 20)
    conn.close()
    out, _ = proc.communicate(timeout=60)
    srv.close()
    assert out.strip() == "20"  # one byte per recv() in the exec'd program
    plans = [r for r in trace.read(tr) if r["call"] == "plan"]
    # iogate-fresh (iogate run starts every program through it), sh, then the program: one pid, three images
    assert len(plans) == 3 and len({p["pid"] for p in plans}) == 1


PREFORK = textwrap.dedent("""
    # N children accept on one listener, one connection each, and echo it.
    import os, socket, sys
    lst = socket.socket(); lst.bind(("127.0.0.1", 0)); lst.listen(16)
    kids = []
    for _ in range(int(sys.argv[1])):
        pid = os.fork()
        if pid == 0:
            conn, _ = lst.accept()
            while True:
                b = conn.recv(100)
                if not b:
                    break
                conn.sendall(b)
            os._exit(0)
        kids.append(pid)
    print("listening on", lst.getsockname()[1], flush=True)
    for pid in kids:
        os.waitpid(pid, 0)
""")


def prefork_three_clients(srv):
    clients = []
    try:
        clients.append(Client(srv.port, "c1", "echo"))
        clients[0].ask(b"one")  # accepted first, by whichever child
        clients.append(Client(srv.port, "c2", "echo"))
        clients[1].send_maybe(b"two")
        ended = clients[1].expect_end()
        clients.append(Client(srv.port, "c3", "echo"))
        clients[2].ask(b"three")
        return ended
    finally:
        for c in clients:
            c.close()


def check_global_numbering(records):
    accepted = [r for r in records if r["call"] in ("accept", "accept4") and r["ret"] >= 0]
    assert sorted(r["conn"] for r in accepted) == [1, 2, 3]
    assert len({r["pid"] for r in accepted}) == 3  # three processes, one numbering
    faulted = [r for r in records if r.get("fault")]
    assert faulted and {r["conn"] for r in faulted} == {2}


def test_conn_k_is_the_kth_connection_accepted_by_any_process_of_the_server(iogate_server, tmp_path):
    script = tmp_path / "prefork.py"
    script.write_text(PREFORK)
    srv = iogate_server(f"{sys.executable} {script} 3", plan="recv.eof:conn=2")
    assert prefork_three_clients(srv) in ("EOF", "RST")
    srv.stop()
    check_global_numbering(trace.read(srv.trace_path))


def test_forked_children_share_the_numbering_without_the_harness_variable(tmp_path):
    # ./iogate run sets no IOGATE_SHARED: the first process's own shared region is inherited by fork.
    script = tmp_path / "prefork.py"
    script.write_text(PREFORK)
    tr = tmp_path / "t.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "IOGATE_SHARED"}
    proc = subprocess.Popen([IOGATE, "run", "--faults", "recv.eof:conn=2", "--trace", str(tr), "--",
                             sys.executable, str(script), "3"], stdout=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        port = int(proc.stdout.readline().split()[-1])
        assert prefork_three_clients(type("Srv", (), {"port": port})) in ("EOF", "RST")
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this test started
            proc.wait()
    check_global_numbering(trace.read(tr))


INETD = textwrap.dedent("""
    # inetd/tcpserver style: accept, fork, the connection on fd 0 and 1, exec cat.
    import os, socket
    lst = socket.socket(); lst.bind(("127.0.0.1", 0)); lst.listen(16)
    print("listening on", lst.getsockname()[1], flush=True)
    while True:
        conn, _ = lst.accept()
        if os.fork() == 0:
            os.dup2(conn.fileno(), 0); os.dup2(conn.fileno(), 1)
            os.execv("/bin/cat", ["cat"])
        conn.close()
""")


def test_an_execd_program_reading_its_socket_on_fd_0_keeps_the_connection_number(iogate_server, tmp_path):
    script = tmp_path / "inetd.py"
    script.write_text(INETD)
    srv = iogate_server(f"{sys.executable} {script}", plan="recv.partial:max=1,conn=1")
    c = Client(srv.port, "c1", "echo")
    c.ask(b"hello")
    c.close()
    c2 = Client(srv.port, "c2", "echo")
    c2.ask(b"world")
    c2.close()
    srv.stop()
    records = trace.read(srv.trace_path)
    server_pid = records[0]["pid"]
    reads = [r for r in records if r["call"] == "read" and r["fd"] == 0 and r["pid"] != server_pid]
    assert {r["conn"] for r in reads} == {1, 2}, reads
    faulted = [r for r in reads if r["fault"]]
    assert faulted and all(r["conn"] == 1 and r["ret"] <= 1 for r in faulted)
    assert all(not r["fault"] for r in reads if r["conn"] == 2)
