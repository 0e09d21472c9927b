"""`--summary FILE` of `gate` and `merge`: the run as GitHub-flavoured
Markdown, appended to FILE (GitHub Actions' job summary,
$GITHUB_STEP_SUMMARY, is a file each step appends to).

What it holds: a headline (verdict, exit status and its reason), the
counts; a table of the cells that fail the run (server, case, verdict, the
requirement, the reason) and each one's replay line in a code block; the
WARN cells likewise in their own section; the N/A cells as a count, their
reasons collapsed in a <details> block. The grades and the exit status are
outcome.py's, as in every other report.

The text is built whole, then appended with one write(2) on an O_APPEND
descriptor with the stop signals held (deferral.Held): another step's text
in the same file is never overwritten, and this one is never cut in half.
GitHub shows at most 1 MiB of a step's summary: past LISTED cells of a
section the rest are counted, and report.html has them all."""
import os

from . import deferral, outcome

LISTED = 50  # cells listed per section; the others are counted (GitHub caps a step's summary at 1 MiB)


def cell_text(text, limit=300):
    """One table cell: one line, `|` escaped, HTML markup neutral, at most limit characters."""
    text = " ".join((text or "").split())
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def code_block(text):
    """A fenced block that no run of backticks inside it can close."""
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}sh\n{text}\n{fence}"


def requirement_text(case):
    req = (case or {}).get("requirement") or {}
    if not req:
        return ""
    return f"{req.get('source', '')}: \"{req.get('quote', '')}\""


def section(title, cells, cases, strict):
    """A table of cells and, below it, each one's replay line."""
    if not cells:
        return []
    lines = [f"#### {title} ({len(cells)})", "", "| server | case | verdict | requirement | reason |",
             "|---|---|---|---|---|"]
    shown = cells[:LISTED]
    for c in shown:
        g = outcome.grade(c)
        reason = outcome.warning_reason(c) if g == outcome.WARN else (c.get("message") or "").split("\n")[0]
        verdict = f"{g} (fails under --strict)" if g == outcome.WARN and strict else g
        lines.append(f"| {cell_text(c.get('target'))} | `{cell_text(c.get('case'))}` | {verdict} | "
                     f"{cell_text(requirement_text(cases.get(c.get('case'))))} | {cell_text(reason)} |")
    lines.append("")
    for c in shown:
        if c.get("replay"):
            lines += [f"Replay {cell_text(c.get('target'))} × `{cell_text(c.get('case'))}`:", "",
                      code_block(c["replay"]), ""]
    if len(cells) > LISTED:
        lines += [f"… and {len(cells) - LISTED} more: report.html lists every one.", ""]
    return lines


def not_applicable(cells):
    """The N/A count, the reasons collapsed: a reason with the cases it covers."""
    if not cells:
        return []
    reasons = {}
    for c in cells:
        reasons.setdefault((c.get("message") or "not applicable").split("\n")[0], []).append(c.get("case"))
    lines = ["<details><summary>" + f"{len(cells)} N/A: cases that do not apply to this server</summary>", ""]
    for reason, ids in reasons.items():
        lines.append(f"* {cell_text(reason)}: " + ", ".join(f"`{cell_text(i)}`" for i in ids[:LISTED])
                     + (f" and {len(ids) - LISTED} more" if len(ids) > LISTED else ""))
    return lines + ["", "</details>", ""]


def render(report):
    """The Markdown of one report.json dict."""
    cells = report.get("results", [])
    cases = {c.get("id"): c for c in report.get("cases", [])}
    strict = bool(report.get("strict"))
    names = ", ".join(t.get("name", "") for t in report.get("targets", [])) or "no server"
    shard = report.get("shard")
    where = f" (shard {shard['index']}/{shard['count']})" if shard else ""
    lines = [f"### iogate {report.get('verdict')}: {cell_text(names)}{where}", "",
             f"**exit {report.get('exit_code')}**: {cell_text(report.get('exit_reason'))}", "",
             f"{outcome.count_text(report.get('counts') or outcome.counts(cells))}; protocol "
             f"`{cell_text(report.get('protocol'))}`, seed {report.get('seed')}"
             + (", TLS" if report.get("tls") else "") + (", --strict" if strict else ""), ""]
    for line in report.get("warnings", []) or []:
        lines += [f"> **warning:** {cell_text(line, 600)}", ""]
    if report.get("mode") == "mutants":  # a mutant's FAIL is the expected verdict: list the ones not caught
        failing = [c for c in cells if not outcome.caught(c, strict)]
        lines += section("Mutants not caught", failing, cases, strict)
        return "\n".join(lines) + "\n"
    failing = [c for c in cells if outcome.effective(outcome.grade(c), strict) in outcome.BAD]
    warned = [c for c in cells if outcome.grade(c) == outcome.WARN and not strict]
    lines += section("Failing cells", failing, cases, strict)
    lines += section("Warnings (a robustness fault only; they pass without --strict)", warned, cases, strict)
    lines += not_applicable([c for c in cells if outcome.grade(c) == outcome.NA])
    return "\n".join(lines) + "\n"


def append(report, path):
    """Append the report's Markdown to path (made when missing)."""
    data = render(report).encode("utf-8")
    with deferral.Held():
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            done = os.write(fd, data)
            while done < len(data):  # a regular file takes it whole; anything else may take less
                done += os.write(fd, data[done:])
        finally:
            os.close(fd)
    return path
