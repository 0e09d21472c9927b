"""A failing cell's calls over time, from its trace: how many calls the
server made in each bucket of 10 ms, split by call class, with the injected
faults marked at their bucket. A spin is a wall of calls, a stall a gap.

Pure (records in, a dict out); runner.py makes it while the trace exists and
keeps it in the cell's result, so report.json carries it and a merged report
draws it again (timeline_svg.py). Its size is bounded: past MAX_BUCKETS the
buckets are widened (10 ms to 20, 50, 100 ms ...) and the dict says so; at
most MAX_MARKS fault marks are kept.

The dict (report.json "timeline" of a FAIL, ERROR or WARN cell):

    {"bucket_ms": 10, "asked_ms": 10, "buckets": n, "span_ms": 1234.5, "calls": total,
     "counts": {"wait": "0*12 3 5 ...", "recv": ..., ...}  (classes with a call only; RLE: "v*k" is k buckets of v),
     "faults": [[bucket, rule, how many], ...], "faults_more": marks left out,
     "end": bucket of the last trace record, "note": "why the buckets are wider, or the trace cut"}
"""
BUCKET_MS = 10
MAX_BUCKETS = 200
MAX_MARKS = 60
WIDER = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)  # times BUCKET_MS
OTHER = "other"
SKIP = ("plan", "trace_truncated")  # records that are no call of the server


def width_for(span_ms: float, asked_ms: int = BUCKET_MS, max_buckets: int = MAX_BUCKETS) -> int:
    """The narrowest bucket, a step of WIDER times asked_ms, that covers span_ms in max_buckets."""
    for k in WIDER:
        if span_ms < asked_ms * k * max_buckets:
            return asked_ms * k
    return asked_ms * WIDER[-1]


def build(records, call_class=None, end_ns=None, asked_ms=BUCKET_MS, max_buckets=MAX_BUCKETS):
    """records: trace records (docs/trace.md); call_class: {call: class}
    (tables.class_calls inverted), a call not in it counts as "other";
    end_ns: CLOCK_MONOTONIC when the cell ended (a stall at the end shows as
    a gap up to it). {} when the trace has no timed record."""
    call_class = call_class or {}
    timed = [r for r in records if isinstance(r.get("ts"), int)]
    if not timed:
        return {}
    t0 = timed[0]["ts"]
    last = max(r["ts"] for r in timed)
    stop = max(last, end_ns or 0)
    span_ms = (stop - t0) / 1e6
    width = width_for(span_ms, asked_ms, max_buckets)
    n = min(max_buckets, int(span_ms // width) + 1)

    def bucket(ts):
        return min(n - 1, int((ts - t0) / 1e6 // width))

    counts, marks, total = {}, {}, 0
    for r in timed:
        call = r.get("call")
        if call in SKIP:
            continue
        b = bucket(r["ts"])
        row = counts.setdefault(call_class.get(call, OTHER), [0] * n)
        row[b] += 1
        total += 1
        if r.get("fault"):
            key = (b, str(r["fault"]))
            marks[key] = marks.get(key, 0) + 1
    faults = [[b, rule, k] for (b, rule), k in sorted(marks.items())]
    notes = []
    if width != asked_ms:
        notes.append(f"{asked_ms} ms buckets widened to {width} ms: the trace spans {span_ms / 1000:.2f} s "
                     f"(at most {max_buckets} buckets)")
    if any(r.get("call") == "trace_truncated" for r in records):
        notes.append("the trace reached its size cap: the calls after it are not counted")
    return {"bucket_ms": width, "asked_ms": asked_ms, "buckets": n, "span_ms": round(span_ms, 1), "calls": total,
            "counts": {cls: encode(row) for cls, row in counts.items()},
            "faults": faults[:MAX_MARKS], "faults_more": max(0, len(faults) - MAX_MARKS),
            "end": bucket(last), "note": "; ".join(notes)}


def encode(row) -> str:
    """Counts as text: "3 0*40 7" (a run of k > 2 equal counts as v*k)."""
    out, i = [], 0
    while i < len(row):
        j = i
        while j < len(row) and row[j] == row[i]:
            j += 1
        out += [f"{row[i]}*{j - i}"] if j - i > 2 else [str(row[i])] * (j - i)
        i = j
    return " ".join(out)


def decode(text: str):
    out = []
    for word in text.split():
        v, _, k = word.partition("*")
        out += [int(v)] * (int(k) if k else 1)
    return out


def counts(timeline) -> dict:
    """{class: [count per bucket]} of a timeline dict, every row its length."""
    n = timeline.get("buckets", 0)
    rows = {cls: decode(text) for cls, text in (timeline.get("counts") or {}).items()}
    return {cls: (row + [0] * n)[:n] for cls, row in rows.items()}
