"""The shim's own tables, as the build wrote them (build/tables.json, by
injectors/tables.cc from faults.def and calls.def): call classes, faults,
robustness rules, the calls the shim traces per class, plan keys. Python
reads them here and spells none of them again."""
import functools
import json

from . import paths


@functools.lru_cache(maxsize=None)
def load() -> dict:
    path = paths.TABLES
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise SystemExit(f"iogate: cannot read the shim's tables {path} ({e}): "
                         + ("the installation is incomplete" if paths.INSTALLED else
                            "build first (./iogate builds when IOGATE_NO_BUILD is unset)"))


@functools.lru_cache(maxsize=None)
def class_calls() -> dict:
    """{class: frozenset of trace call names}: 'recv' -> {'recv', 'recvfrom', ...}."""
    names = {c["name"]: set() for c in load()["classes"]}
    for call in load()["calls"]:
        names[call["class"]].add(call["name"])
    return {cls: frozenset(calls) for cls, calls in names.items()}


@functools.lru_cache(maxsize=None)
def call_class() -> dict:
    """{trace call name: its class}: 'recvfrom' -> 'recv' (class_calls the other way; read it, do not change it: it is shared)."""
    return {call["name"]: call["class"] for call in load()["calls"]}


@functools.lru_cache(maxsize=None)
def wait_mechanism() -> dict:
    """{wait call: 'epoll' | 'poll' | 'select'} (read it, do not change it: it is shared)."""
    return {c["name"]: c["mechanism"] for c in load()["calls"] if c["class"] == "wait"}


@functools.lru_cache(maxsize=None)
def fault_seen() -> dict:
    """{fault name: its `seen` column}: what a record shows when the fault took effect."""
    return {f["name"]: f["seen"] for f in faults()}


def faults():
    """[{name, classes, needs_max, stalls, seen, doc}] in faults.def order."""
    return load()["faults"]


def classes():
    """[{name, doc}] in faults.def order."""
    return load()["classes"]


def robust():
    """[{id, classes, action, op, needs, forbids, reason}]: the robustness table (V18)."""
    return load()["robust"]
