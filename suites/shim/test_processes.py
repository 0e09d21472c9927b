"""The shim in real process shapes: threads, fork, exec. Decisions stay a
pure function of (seed, rule, connection, call index), so one plan and one
client script give one fault sequence, whatever the threads do."""
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
    assert len(plans) == 2 and plans[0]["pid"] == plans[1]["pid"]  # sh, then the same pid after exec
