"""A timeline dict (timeline.py) drawn as one inline SVG string: stacked bars
of calls per bucket by call class, the injected faults marked above the
bars (a red triangle and a line), axes with labels, a caption that says the
bucket width. Every text is escaped; no script, no external reference."""
from html import escape

from . import timeline as tl

W, H = 960, 206
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 40, 164  # the plot area: x in [LEFT, W - RIGHT], y in [TOP, BOTTOM]
COLOURS = {"wait": "#8250df", "recv": "#0969da", "send": "#1a7f37", "accept": "#bf8700", "aio": "#0a7b83",
           "uring": "#953800", tl.OTHER: "#8c959f"}
ORDER = ("wait", "recv", "send", "accept", "aio", "uring", tl.OTHER)
FAULT = "#cf222e"
NICE = (1, 2, 5)


def when(ms: float) -> str:
    """A time in ms as a short label: "0", "250 ms", "1.5 s", "2.65 s" (3 significant digits)."""
    if ms == 0:
        return "0"
    return f"{float(f'{ms:.3g}'):g} ms" if ms < 1000 else f"{float(f'{ms / 1000:.3g}'):g} s"


def tick_step(span_ms: float, most: int = 10) -> float:
    """A 1-2-5 step in ms giving at most `most` ticks over span_ms."""
    scale = 1.0
    while True:
        for k in NICE:
            if span_ms / (k * scale) <= most:
                return k * scale
        scale *= 10


def render(timeline) -> str:
    """The SVG, or "" for an empty timeline (no timed trace record)."""
    if not timeline or not timeline.get("buckets"):
        return ""
    rows = tl.counts(timeline)
    classes = [c for c in ORDER if c in rows] + sorted(c for c in rows if c not in ORDER)
    n, width = timeline["buckets"], timeline["bucket_ms"]
    totals = [sum(rows[c][i] for c in classes) for i in range(n)]
    peak = max(totals + [1])
    plot_w, plot_h = W - RIGHT - LEFT, BOTTOM - TOP
    bw = plot_w / n
    marks = timeline.get("faults") or []
    injected = sum(k for _, _, k in marks)
    title = (f"calls per {width} ms bucket: {timeline.get('calls', 0)} calls in {when(timeline.get('span_ms', 0))}; "
             + (f"{injected} injected fault{'s' if injected > 1 else ''} marked" if marks else "no injected fault")
             + (f" ({timeline['faults_more']} more marks left out)" if timeline.get("faults_more") else ""))
    out = [f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" '
           f'font-family="system-ui, sans-serif" font-size="12">',
           f"<title>{escape(title)}</title>",
           f'<text x="{LEFT}" y="14" font-weight="600">{escape(title)}</text>']
    if timeline.get("note"):
        out.append(f'<text x="{LEFT}" y="28" fill="#656d76" font-size="11">{escape(timeline["note"])}</text>')
    # axes: y (0 and the peak), x (1-2-5 ticks in time)
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#f6f8fa" stroke="#d0d7de"/>')
    out.append(f'<text x="{LEFT - 6}" y="{TOP + 9}" text-anchor="end" font-size="11">{peak}</text>')
    out.append(f'<text x="{LEFT - 6}" y="{BOTTOM}" text-anchor="end" font-size="11">0</text>')
    out.append(f'<text x="14" y="{(TOP + BOTTOM) // 2}" text-anchor="middle" font-size="11" '
               f'transform="rotate(-90 14 {(TOP + BOTTOM) // 2})">calls</text>')
    span = n * width
    step = tick_step(span)
    t = 0.0
    while t <= span + 1e-9:
        x = LEFT + t / span * plot_w
        out.append(f'<line x1="{x:.1f}" y1="{BOTTOM}" x2="{x:.1f}" y2="{BOTTOM + 4}" stroke="#656d76"/>')
        out.append(f'<text x="{x:.1f}" y="{BOTTOM + 16}" text-anchor="middle" font-size="11">{escape(when(t))}</text>')
        t += step
    # bars: one stack per bucket, a bucket with any call at least 1 px tall
    for i in range(n):
        if not totals[i]:
            continue
        h_total = max(1.0, totals[i] / peak * plot_h)
        y = BOTTOM
        for c in classes:
            v = rows[c][i]
            if not v:
                continue
            h = h_total * v / totals[i]
            y -= h
            out.append(f'<rect x="{LEFT + i * bw:.2f}" y="{y:.2f}" width="{max(bw - 0.5, 0.8):.2f}" height="{h:.2f}" '
                       f'fill="{COLOURS.get(c, COLOURS[tl.OTHER])}"><title>{escape(when(i * width))}: {v} '
                       f'{escape(c)}</title></rect>')
    end = timeline.get("end")
    if isinstance(end, int) and end < n - 1:
        x = LEFT + (end + 1) * bw
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{BOTTOM}" stroke="#656d76" stroke-dasharray="3 3"/>'
                   f'<text x="{x + 3:.1f}" y="{TOP + 12}" font-size="11" fill="#656d76">last call; the cell ended '
                   f'{escape(when((n - end - 1) * width))} later</text>')
    for b, rule, k in marks:
        x = LEFT + (b + 0.5) * bw
        out.append(f'<g class="fault"><title>{escape(when(b * width))}: injected {escape(str(rule))}'
                   f'{" ×" + str(k) if k > 1 else ""}</title>'
                   f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{BOTTOM}" stroke="{FAULT}" stroke-opacity=".45"/>'
                   f'<path d="M{x - 5:.1f} {TOP - 9} L{x + 5:.1f} {TOP - 9} L{x:.1f} {TOP - 1} Z" fill="{FAULT}"/></g>')
    # legend
    x = LEFT
    for c in classes:
        label = f"{c} ({sum(rows[c])})"
        out.append(f'<rect x="{x}" y="{H - 14}" width="10" height="10" fill="{COLOURS.get(c, COLOURS[tl.OTHER])}"/>'
                   f'<text x="{x + 14}" y="{H - 5}" font-size="11">{escape(label)}</text>')
        x += 24 + 7 * len(label)
    out.append(f'<path d="M{x:.0f} {H - 14} L{x + 10:.0f} {H - 14} L{x + 5:.0f} {H - 5} Z" fill="{FAULT}"/>'
               f'<text x="{x + 14}" y="{H - 5}" font-size="11">injected fault</text>')
    out.append("</svg>")
    return "".join(out)
