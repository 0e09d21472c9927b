"""Grading rules of judge.py and runner.run_case: a case whose faults never
reached the server is N/A with the reason, whatever its script saw; a
failure seen only under robustness faults is a WARN."""
import dataclasses
import json
import random

import pytest

import gatehelp
from iogate import catalogue, judge
from iogate.runner import Target, run_case
from iogate.verdicts import CaseFailed, Verdict


def test_plan_classes():
    assert judge.plan_classes("recv.eagain:every=2;send.partial:max=7;seed=3") == {"recv", "send"}
    assert judge.plan_classes("seed=1") == set()
    assert judge.plan_classes("") == set()


def test_plan_without_robustness_replaces_the_switch():
    assert judge.plan_without_robustness("send.partial:max=7;seed=2") == "send.partial:max=7;seed=2;robust=off"
    assert judge.plan_without_robustness("send.partial:max=7;robust=on;seed=2") == \
        "send.partial:max=7;seed=2;robust=off"


def test_reason_empty_trace():
    assert "static binary" in judge.not_injectable_reason([{"call": "plan"}], "recv.eof:conn=1")


def test_reason_no_call_of_the_class():
    recs = [{"call": "accept4", "ret": 5}, {"call": "uring_send", "conn": 1}]
    why = judge.not_injectable_reason(recs, "recv.eof:conn=1;seed=1")
    assert "no recv call" in why and "accept4" in why


def test_reason_legality_note():
    recs = [{"call": "recv", "conn": 1, "note": "non-blocking call never sleeps: EINTR impossible, not injected (V5)"}]
    assert "EINTR impossible" in judge.not_injectable_reason(recs, "recv.eintr:every=2")


def test_reason_unnumbered_socket():
    recs = [{"call": "read", "conn": 0, "fd": 0}]
    assert "numbered" in judge.not_injectable_reason(recs, "recv.reset:conn=1")


def test_robust_reasons_counted():
    recs = [{"fault": "send.partial:max=7", "robust": "V4: blocking"}, {"fault": "send.partial:max=7",
                                                                        "robust": "V4: blocking"},
            {"fault": "recv.eof"}]
    assert judge.robust_reasons(recs) == "V4: blocking (×2)"


def _failing_after_one_reply(ctx):
    c = ctx.client()
    c.greet()
    c.ask(ctx.request(random.Random(1), 6), "one reply")
    raise CaseFailed("the script's oracle said no")


@pytest.mark.skipif(not gatehelp.have("io_uring"), reason="io_uring reference server not built")
def test_no_fault_fired_is_na_even_when_the_script_failed():
    """Regression: a case with a plan FAILed although none of its faults fired
    (tcpserver + cat: `cat` reads fd 0, which no accept() of its process
    numbered). The io_uring server makes no recv() call, so a recv plan
    cannot reach it."""
    case = dataclasses.replace(catalogue.find("recv.error.closes"), plan="recv.reset:conn=1", needs_fault=True,
                               script=_failing_after_one_reply)
    target = Target("io_uring", str(gatehelp.binary("io_uring")) + " --port 0", None)
    res = run_case(case, target)
    assert res.verdict == Verdict.NA, res.message
    assert "not injectable" in res.message and "the script's oracle said no" in res.message


def test_blocking_reads_count_only_in_readiness_threads():
    """Regression: accept.nonblock-set-explicitly judged every accepted socket,
    so a worker thread or a forked child reading its own connection blocking
    (correct: it waits for nothing else) was a FAIL."""
    from iogate import case_scripts
    loop = [{"pid": 1, "tid": 1, "call": "epoll_wait", "ret": 1},
            {"pid": 1, "tid": 1, "call": "accept4", "ret": 7, "conn": 1, "nonblock": 0}]
    worker_reads = loop + [{"pid": 1, "tid": 2, "call": "recv", "fd": 7, "conn": 1, "ret": 5}]
    assert case_scripts.blocking_accepted(worker_reads) == []
    child_reads = loop + [{"pid": 2, "tid": 2, "call": "read", "fd": 7, "conn": 1, "ret": 5}]
    assert case_scripts.blocking_accepted(child_reads) == []
    loop_reads = loop + [{"pid": 1, "tid": 1, "call": "recv", "fd": 7, "conn": 1, "ret": 5}]
    assert case_scripts.blocking_accepted(loop_reads) == ["fd 7 (connection 1) read while blocking"]
    fionbio = loop + [{"pid": 1, "tid": 1, "call": "ioctl", "fd": 7, "cmd": "FIONBIO", "arg": 1},
                      {"pid": 1, "tid": 1, "call": "recv", "fd": 7, "conn": 1, "ret": 5}]
    assert case_scripts.blocking_accepted(fionbio) == []


@pytest.mark.skipif(not gatehelp.have("io_uring"), reason="io_uring reference server not built")
def test_no_fault_fired_failure_of_plain_traffic_stands_when_the_oracle_needs_no_fault():
    """An edge-triggered server that never drains makes one recv() per event,
    so `recv.eagain:every=2` never fires: its stall is still its bug."""
    case = dataclasses.replace(catalogue.find("et.read.drains-until-eagain"), plan="recv.reset:conn=1",
                               script=_failing_after_one_reply, needs_fault=False)
    target = Target("io_uring", str(gatehelp.binary("io_uring")) + " --port 0", None)
    res = run_case(case, target)
    assert res.verdict == Verdict.FAIL and "plain traffic" in res.message, res.message


def test_eagain_made_short_transfers_only():
    """Regression: on blocking sockets the shim turns send.eagain into 1-byte
    writes; a server that loses the rest of a short write then FAILed the
    EAGAIN cases with 'the reply whose first send() hit EAGAIN' (ncat,
    inetd): the failure belongs to send.partial.resumes-at-offset."""
    conv = {"fault": "send.eagain:count=1", "note": "blocking socket: shortened to 1 byte instead of EAGAIN (V1)"}
    assert judge.converted_only([conv, {"call": "send"}])
    assert not judge.converted_only([conv, {"fault": "send.eagain:count=1", "errno": "EAGAIN"}])
    assert not judge.converted_only([])


_runs = []


def _fails_first_time_only(ctx):
    c = ctx.client()
    c.greet()
    c.ask(ctx.request(random.Random(1), 6), "one reply")
    _runs.append(1)
    if len(_runs) == 1:
        raise CaseFailed("waited 5s for the reply; the server stalled")


@pytest.mark.skipif(not gatehelp.have("epoll_lt"), reason="epoll_lt reference server not built")
def test_a_failure_that_does_not_reproduce_is_not_a_fail():
    """Regression: tcpserver's child waited 3-6 s on a dropped DNS query
    before exec'ing cat, and eintr.retried FAILed on that stall. A FAIL must
    reproduce with the same plan and seed."""
    _runs.clear()
    case = dataclasses.replace(catalogue.find("recv.zero.closes"), script=_fails_first_time_only)
    target = Target("epoll_lt", str(gatehelp.binary("epoll_lt")) + " --port 0", None)
    res = run_case(case, target)
    assert len(_runs) == 2
    assert res.verdict == Verdict.NA and res.message.startswith("not reproducible: waited 5s"), res.message


# -- Case.hit: a PASS exercised the call its case names ------------------------------------------

GREETING = catalogue.Hit(("send.eagain",), "the greeting's send()", first=True)


def _send(conn, fault=None, errno=None, **kw):
    return {"call": "send", "conn": conn, "fault": fault, "errno": errno, "ret": -1 if errno else 1, **kw}


def test_hit_is_the_fault_on_the_named_call():
    greeting_eagain = _send(1, "send.eagain:count=1", "EAGAIN")
    assert judge.hit_records(GREETING, [greeting_eagain]) == [greeting_eagain]
    # the same EAGAIN on a later send of the connection is not the greeting's
    assert judge.hit_records(GREETING, [_send(1), _send(1, "send.eagain:count=1", "EAGAIN")]) == []
    # each connection has its own first send
    assert judge.hit_records(GREETING, [_send(1), _send(2, "send.eagain", "EAGAIN")])
    # an EAGAIN the legality rules made a 1-byte transfer (blocking socket) is not an EAGAIN
    converted = _send(1, "send.eagain:count=1", None, shortened_to=1, note="instead of EAGAIN (V1)")
    assert judge.hit_records(GREETING, [converted]) == []
    assert "shortened to 1 bytes" in judge.missed_reason(GREETING, [converted])
    assert judge.missed_reason(GREETING, [_send(1)]) == "no send.eagain fault fired"


def test_every_fault_says_what_its_record_shows():
    """faults.def's `seen` column, read through the shim's tables: a record
    built from it took effect, an empty one did not."""
    from iogate import tables
    for f in tables.faults():
        key, _, values = f["seen"].partition("=")
        assert key in ("errno", "ret", "shortened_to", "spurious_fd"), f
        shown = {key: (int(values.split("|")[0]) if key == "ret" else values.split("|")[0]) if values else 1}
        assert judge.took_effect(f["name"], {"call": "recv", **shown}), f
        assert not judge.took_effect(f["name"], {"call": "recv", "ret": 5}), f


def test_a_faulted_submission_counts_as_it_is_and_aio_suspend_by_its_errno():
    # an aio_read's outcome comes later: the faulted submission is the hit
    assert judge.took_effect("reset", {"call": "aio_read", "ret": 0, "fault": "aio.reset"})
    # aio_suspend is a wait, not a submission: its EINTR shows in its own record
    assert judge.took_effect("eintr", {"call": "aio_suspend", "ret": -1, "errno": "EINTR"})
    assert not judge.took_effect("eintr", {"call": "aio_suspend", "ret": 0, "errno": None})


def test_every_case_with_a_plan_names_its_hit_from_its_plan():
    for case in catalogue.load():
        if case.plan:
            assert case.hit and case.hit.what, case.id
            assert judge.hit_applies(case.hit, case.plan), case.id


@pytest.mark.skipif(not gatehelp.have("epoll_lt"), reason="epoll_lt reference server not built")
def test_a_pass_whose_fault_missed_the_named_call_is_na():
    """Regression: greeting.delivered-once PASSed on a blocking server whose
    'EAGAIN' was a 1-byte send somewhere else. Here the fault really is an
    EAGAIN, on the connection's 2nd send (a reply), not on the greeting's:
    the script sees a correct greeting, and the cell is N/A, not PASS."""
    case = catalogue.find("greeting.delivered-once")
    target = Target("epoll_lt", str(gatehelp.binary("epoll_lt")) + " --port 0", None)
    assert run_case(case, target).verdict == Verdict.PASS
    res = run_case(case, target, plan="send.eagain:count=1,after=1;seed=1")
    assert res.verdict == Verdict.NA, res.message
    assert "never hit the greeting's send()" in res.message and "EAGAIN" in res.message, res.message


def test_an_emfile_retry_burst_is_counted_per_thread():
    """Regression: asyncio's 100 EMFILE retries per wake-up, then a one-second
    wait, is about 100 a second: right at the rate limit, so a loaded machine
    turned its FAIL into a PASS. The burst in a row is judged instead; a
    server that sleeps (untraced) between retries makes no burst (the threads
    reference server: blocking accept, 50 ms back-off)."""
    from iogate import case_scripts
    ms = 1_000_000

    def emfile(i, gap, tid=1):
        return {"pid": 1, "tid": tid, "call": "accept4", "ret": -1, "errno": "EMFILE", "ts": i * gap}
    assert case_scripts.emfile_burst([emfile(i, 10_000) for i in range(100)]) == 100   # 10 µs apart
    assert case_scripts.emfile_burst([emfile(i, 50 * ms) for i in range(20)]) == 1     # a 50 ms back-off
    wait = {"pid": 1, "tid": 1, "call": "epoll_wait", "ret": 1, "ts": 0}
    mixed = [rec for i in range(50) for rec in (emfile(i, 10_000), dict(wait, ts=i * 10_000 + 1))]
    assert case_scripts.emfile_burst(mixed) == 1                                         # a wait between
    other = [rec for i in range(50) for rec in (emfile(i, 10_000), emfile(i, 10_000, tid=2))]
    assert case_scripts.emfile_burst(other) == 50                                        # per thread
    assert case_scripts.emfile_burst([]) == 0


def test_a_server_that_refuses_to_start_under_the_case_limits_is_na_not_error(tmp_path):
    """redis-server exits at start under RLIMIT_NOFILE 32 (it wants 32
    descriptors beyond its clients): accept.emfile.no-spin cannot be judged,
    an N/A with what the server said, once it started without the limit."""
    script = tmp_path / "picky"
    script.write_text("#!/bin/sh\n"
                      "[ \"$(ulimit -n)\" -ge 64 ] || { echo \"ulimit -n $(ulimit -n): too few\"; exit 1; }\n"
                      f"exec /usr/bin/python3 {gatehelp.paths.ROOT / 'ci' / 'servers' / 'asyncio-echo'} \"$1\"\n")
    script.chmod(0o755)
    out = gatehelp.run("gate", "--server-cmd", f"{script} {{port}}", "--protocol", "echo", "--report", str(tmp_path),
                       "--cases", "accept.emfile.no-spin,recv.zero.closes")
    assert out.returncode == 0, out.stdout + out.stderr
    verdicts = {r["case"]: r for r in json.loads((tmp_path / "report.json").read_text())["results"]}
    emfile = verdicts["accept.emfile.no-spin"]
    assert emfile["verdict"] == "N/A" and "does not start with RLIMIT_NOFILE 32" in emfile["message"]
    assert "ulimit -n 32: too few" in emfile["message"] and verdicts["recv.zero.closes"]["verdict"] == "PASS"
