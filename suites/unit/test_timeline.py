"""timeline.py turns a trace into calls per 10 ms bucket with the injected
faults marked; timeline_svg.py draws it. In process, made-up traces."""
import re
import xml.etree.ElementTree as ET

from iogate import report_html, reports, timeline, timeline_svg

MS = 1_000_000  # ns
CLASSES = {"epoll_wait": "wait", "recv": "recv", "send": "send", "accept4": "accept"}


def rec(ms, call, fault=None, **kw):
    return dict(ts=1_000 * MS + int(ms * MS), pid=1, tid=1, call=call, fault=fault, **kw)


def test_a_spin_is_a_wall_of_calls_in_every_bucket():
    records = [rec(0, "plan")] + [rec(i * 0.1, "epoll_wait") for i in range(1000)]  # 100 ms of 10 calls/ms
    t = timeline.build(records, CLASSES)
    rows = timeline.counts(t)
    assert t["bucket_ms"] == 10 and t["buckets"] == 10 and t["calls"] == 1000
    assert set(rows) == {"wait"} and rows["wait"] == [100] * 10  # the plan record is no call


def test_a_stall_is_a_gap_between_calls():
    records = [rec(0, "recv"), rec(5, "send"), rec(500, "recv"), rec(505, "send")]
    t = timeline.build(records, CLASSES)
    total = [sum(col) for col in zip(*timeline.counts(t).values())]
    assert total[0] == 2 and total[50] == 2 and not any(total[1:50])
    assert t["counts"]["recv"].split() == ["1", "0*49", "1"]  # a run of empty buckets is one word


def test_the_cell_end_extends_the_picture_past_the_last_call():
    t = timeline.build([rec(0, "recv"), rec(20, "send")], CLASSES, end_ns=rec(300, "x")["ts"])
    assert t["buckets"] == 31 and t["end"] == 2  # the last call in bucket 2, then silence until the end


def test_injected_faults_are_marked_at_their_bucket():
    records = [rec(0, "recv"), rec(31, "recv", "recv.eagain:count=1", ret=-1), rec(32, "recv", "recv.eagain:count=1"),
               rec(70, "accept4", "accept.emfile:count=1")]
    t = timeline.build(records, CLASSES)
    assert t["faults"] == [[3, "recv.eagain:count=1", 2], [7, "accept.emfile:count=1", 1]]
    assert timeline.counts(t)["accept"][7] == 1 and "other" not in t["counts"]


def test_unknown_calls_count_as_other():
    t = timeline.build([rec(0, "close"), rec(1, "epoll_ctl")], CLASSES)
    assert timeline.counts(t) == {"other": [2]}


def test_a_long_trace_gets_wider_buckets_and_says_so():
    records = [rec(i * 60, "recv") for i in range(200)]  # 11.94 s: 10 ms and 50 ms buckets are too many
    t = timeline.build(records, CLASSES)
    assert t["buckets"] <= timeline.MAX_BUCKETS and t["bucket_ms"] == 100
    assert "widened to 100 ms" in t["note"] and sum(timeline.counts(t)["recv"]) == 200


def test_fault_marks_are_capped():
    records = [rec(i * 10, "recv", f"rule{i}") for i in range(timeline.MAX_MARKS + 5)]
    t = timeline.build(records, CLASSES)
    assert len(t["faults"]) == timeline.MAX_MARKS and t["faults_more"] == 5


def test_no_timed_record_no_timeline():
    assert timeline.build([{"cut": {"records": 3}}], CLASSES) == {} and timeline_svg.render({}) == ""


def test_the_encoding_round_trips():
    for row in ([], [0], [3, 3], [0, 0, 0, 5, 5, 5, 5, 1], [7] * 40):
        assert timeline.decode(timeline.encode(row)) == row


def test_the_svg_is_well_formed_and_marks_each_fault_and_the_bucket_width():
    records = [rec(0, "recv"), rec(31, "recv", "recv.<eagain>&count=1"), rec(90, "send")]
    svg = timeline_svg.render(timeline.build(records, CLASSES))
    root = ET.fromstring(svg)  # escaped: the rule's < and & do not break it
    assert root.tag.endswith("svg")
    texts = " ".join(t.text or "" for t in root.iter() if t.text)
    assert "calls per 10 ms bucket" in texts and "recv.<eagain>&count=1" in texts
    assert len([g for g in root.iter() if g.get("class") == "fault"]) == 1
    assert not re.search(r"<script|href=", svg)


def test_an_old_report_without_timelines_renders_and_says_why():
    cell = {"target": "s", "case": "c", "verdict": "FAIL", "plan": "", "seed": 1, "protocol": "seq", "message": "m"}
    na = dict(cell, case="d", verdict="N/A", message="does not apply: epoll servers only")
    report = {"format": "iogate-report", "version": 1, "targets": [{"name": "s", "command": "x"}], "cases": [],
              "results": [cell, na], "seconds": 0, "started": "", "protocol": "seq", "seed": 1, "exit_code": 1}
    reports.settle(report)
    page = report_html.render(report)
    assert "timeline: N/A (this report was written by an iogate without timelines)" in page
    assert "does not apply: epoll servers only" in page.split('id="not-applicable"')[1]
    broken = report_html.render(dict(report, results=[dict(cell, timeline={"buckets": "x", "counts": 3})]))
    assert "its timeline data could not be read" in broken
