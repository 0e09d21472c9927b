"""Which matrix a shard belongs to, and whether shard reports can be
merged into one.

A shard report says which slice it is ("index" of "count") and of what:
"cells", the size of the whole matrix, and "matrix", a digest of its cells
in order (server name, case id; the mutation matrix's mutants and their
cases). Shards of one `./iogate gate` command line agree on all of it;
a 1/2 shard merged with a 2/3 one, or shards of other servers or other
--cases, would leave cells of the matrix without a result while every
shard present looks complete: `./iogate merge` refuses them (one line,
exit 2) instead of writing a report that is not the matrix's.

Reports written before the digest are checked on what they have: the
split, and (conformance) the servers and cases they list."""
import hashlib


def identity(keys):
    """{"cells", "matrix"} of a whole matrix: keys are its (server name,
    case id) in the order shard_cells slices them."""
    text = "\n".join(f"{t}\t{c}" for t, c in keys)
    return {"cells": len(keys), "matrix": hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]}


def _listed(report):
    return [t["name"] for t in report["targets"]], [c["id"] for c in report["cases"]]


def _difference(a, b):
    """What differs between two conformance reports' matrices, in words."""
    (ta, ca), (tb, cb) = _listed(a), _listed(b)
    for what, x, y in (("servers", ta, tb), ("cases", ca, cb)):
        if x != y:
            only = [v for v in x if v not in y][:3] or [v for v in y if v not in x][:3]
            return f"their {what} differ ({', '.join(only) or 'the same ones in another order'})"
    return None


def check(reports, names):
    """Raise ValueError naming the mismatch when the reports are not shards
    of one matrix (or mix shards with whole runs). Returns (note,
    incomplete): what the merge is, and why it lacks cells or False."""
    shards = [(n, r) for n, r in zip(names, reports) if r.get("shard")]
    if not shards:
        return "", False
    whole = next((n for n, r in zip(names, reports) if not r.get("shard")), None)
    if whole:
        raise ValueError(f"{whole} is a whole run and {shards[0][0]} a shard ({_slice(shards[0][1])}): merge the "
                         f"shards of one run")
    (first_name, first), rest = shards[0], shards[1:]
    for name, rep in rest:
        if rep["shard"]["count"] != first["shard"]["count"]:
            raise ValueError(f"the shards come from different splits: {first_name} is shard {_slice(first)}, "
                             f"{name} is shard {_slice(rep)}")
        mine, theirs = first["shard"].get("matrix"), rep["shard"].get("matrix")
        why = None
        if mine and theirs and (mine, first["shard"].get("cells")) != (theirs, rep["shard"].get("cells")):
            why = (_difference(first, rep) if first.get("mode") != "mutants" else None) or \
                f"{first['shard'].get('cells')} and {rep['shard'].get('cells')} cells, other servers or cases"
        elif first.get("mode") != "mutants":
            why = _difference(first, rep)
        if why:
            raise ValueError(f"{first_name} and {name} are shards of different matrices: {why}")
    count = first["shard"]["count"]
    seen = {r["shard"]["index"] for _, r in shards}
    missing = sorted(set(range(1, count + 1)) - seen)
    if missing:
        note = f"shards {', '.join(map(str, missing))} of {count} are missing"
        return note, note
    return f"merged {len(reports)} shard reports", False


def _slice(report):
    return f"{report['shard']['index']}/{report['shard']['count']}"
