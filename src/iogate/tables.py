"""The shim's own tables, as the build wrote them (build/tables.json, by
injectors/tables.cc from faults.def and calls.def): call classes, faults,
robustness rules, the calls the shim traces per class, plan keys. Python
reads them here and spells none of them again."""
import functools
import json

from . import paths


@functools.lru_cache(maxsize=None)
def load() -> dict:
    path = paths.BUILD / "tables.json"
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise SystemExit(f"iogate: cannot read the shim's tables {path} ({e}): build first "
                         f"(./iogate builds when IOGATE_NO_BUILD is unset)")


def class_calls() -> dict:
    """{class: {trace call names}}: 'recv' -> {'recv', 'recvfrom', ...}."""
    out = {c["name"]: set() for c in load()["classes"]}
    for call in load()["calls"]:
        out[call["class"]].add(call["name"])
    return out


def wait_mechanism() -> dict:
    """{wait call: 'epoll' | 'poll' | 'select'}."""
    return {c["name"]: c["mechanism"] for c in load()["calls"] if c["class"] == "wait"}


def data_calls(cls: str):
    """The wrapped data calls of a class in calls.def order ('recv' -> recv, recvfrom, ...)."""
    return [c["name"] for c in load()["calls"] if c["class"] == cls and c["generated"]]


def faults():
    """[{name, classes, needs_max, stalls, doc}] in faults.def order."""
    return load()["faults"]


def classes():
    """[{name, doc}] in faults.def order."""
    return load()["classes"]


def robust():
    """[{id, classes, action, op, needs, forbids, reason}]: the robustness table (V18)."""
    return load()["robust"]
