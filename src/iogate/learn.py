"""`./iogate list` and `./iogate explain CASE`: the case table (and the
model and mutant tables) as a reader meets them. explain ends with the gate
commands that run the case against its mutants and a reference server (the
command as invoked: paths.COMMAND) and the real path of each mutant's
patch; an unknown id is exit 2 with the nearest ids."""
import difflib
import shlex
import sys

from . import catalogue, models, paths, protocol_caps


def listing(what="cases", ids=False) -> int:
    """cases: ID  TITLE, aligned (--ids: the ids alone); servers:
    MODEL<TAB>COMMAND<TAB>PROFILE; mutants: NAME<TAB>CASE<TAB>COMMAND
    (--ids: the first field alone). Scripts read --ids or the tab fields."""
    if what == "cases":
        cases = catalogue.load()
        width = max(len(c.id) for c in cases)
        for c in cases:
            print(c.id if ids else f"{c.id.ljust(width)}  {c.summary}")
    elif what == "servers":
        for m in models.MODELS:
            print(m.name if ids else f"{m.name}\t{m.command()}\t{m.profile.describe()}")
    else:  # mutants
        for m in models.MUTANTS:
            print(m.name if ids else f"{m.name}\t{m.case}\t{m.command()}")
    return 0


def patch_path(mutant):
    """The mutant's patch file, its real absolute path (the mutant table is its header)."""
    return (paths.MUTANT_DIR / f"{mutant.name}.patch").resolve()


def gate_line(target, case_id) -> str:
    """The gate command that runs one case against one reference server or
    mutant, pasteable as printed (shlex.join)."""
    base = getattr(target, "base", target)
    words = [paths.COMMAND, "gate", "--server-cmd", target.command(), "--model", base.name, "--cases", case_id]
    return shlex.join(words + (["--tls"] if base.tls else []))


def reference_for(case, mutants):
    """A reference server the case judges (not N/A): the first mutant's own
    base when it has one, else the first built model of the table; None when
    no reference server applies."""
    candidates = [m.base for m in mutants] + list(models.MODELS)
    for m in candidates:
        if m.built and models.expected_na(m, case) is None:
            return m
    return None


def try_it(case, mutants) -> list:
    """The "Try it" block of explain."""
    lines = ["", "Try it:"]
    ref = reference_for(case, mutants)
    if ref is not None:
        lines += [f"  # a reference server ({ref.name}): PASS, exit 0", f"  {gate_line(ref, case.id)}"]
    for m in mutants:
        lines += [f"  # the mutant {m.name}: {m.expect}, exit {1 if m.expect == 'FAIL' else 0}",
                  f"  {gate_line(m, case.id)}"]
    if mutants:
        lines += ["  # every mutant written for this case (the mutation matrix: exit 0 when each is caught)",
                  f"  {shlex.join([paths.COMMAND, 'gate', '--mutants', '--cases', case.id])}"]
        lines += ["", "mutant patches:"] + [f"  {m.name}: {patch_path(m)}" for m in mutants]
    if ref is None and not mutants:
        lines.append("  (no reference server is judged by this case: each cell of it is N/A)")
    return lines


def unknown(name) -> str:
    """The line for an id that is no case: what it is instead, or the nearest case ids."""
    mutant = next((m for m in models.MUTANTS if m.name == name), None)
    if mutant:
        return f"iogate explain: {name!r} is a mutant, not a case; did you mean its case {mutant.case!r}?"
    if any(m.name == name for m in models.MODELS):
        return f"iogate explain: {name!r} is a reference server, not a case; `{paths.COMMAND} list` shows the ids"
    ids = [c.id for c in catalogue.load()]
    near = difflib.get_close_matches(name, ids, n=3, cutoff=0.6)
    if not near:  # a mistyped start: "recv.eagan" is close to the first 10 characters of recv.eagain.*
        scored = sorted((-difflib.SequenceMatcher(None, name, i[:len(name)]).ratio(), i) for i in ids)
        near = [i for score, i in scored[:3] if -score >= 0.8]
    if not near:  # a fragment: "eagain" names recv.eagain.keeps-connection
        near = [i for i in ids if name and name.lower() in i][:3]
    hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
    return f"iogate explain: no case {name!r}{hint} (`{paths.COMMAND} list` shows the ids)"


def explain(case_id) -> int:
    try:
        c = catalogue.find(case_id)
    except KeyError:
        print(unknown(case_id), file=sys.stderr)
        return 2
    t = c.teaching
    mutants = [m for m in models.MUTANTS if m.case == c.id]
    print(f"{c.id}\n  {c.summary}\n")
    print(f"requirement ({c.requirement.source}):\n  \"{c.requirement.quote}\"\n")
    print(f"applies to: {c.applies_text}")
    if c.needs:
        print(f"protocol:   the adapter must have {protocol_caps.needs_text(c.needs)} (else N/A)")
    print(f"fault plan: {c.plan or '(none: the client provokes it for real)'}")
    if c.hit:
        print(f"must hit:   {c.hit.what} (no such record in the trace: N/A, never PASS)")
    print(f"oracle:     {c.oracle}")
    print(f"accepted:   {c.accepted}")
    print(f"under --tls: {'N/A: ' + c.tls_na if c.tls_na else 'applies (docs/protocols.md, TLS)'}\n")
    print(f"the bug:     {t.bug}\nthe symptom: {t.symptom}\nthe fix:     {t.fix}")
    if mutants:
        print(f"\nmutants that must fail it: {', '.join(m.name for m in mutants)}")
    print("\n".join(try_it(c, mutants)))
    return 0
