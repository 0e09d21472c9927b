"""Is a parsed report.json one this iogate can read? `./iogate replay` and
`./iogate merge` read files a user names, which may be valid JSON and
still no report (a list, null, a result without its case): problem() says
what is wrong in one phrase, so the command can say it in one line (exit 2)
instead of failing somewhere inside on a missing key.

Only what replay, merge and the renderers index into is checked: the
fields reports.py documents as always present."""
from .outcome import ORDER

JSON_TYPES = ((bool, "true/false"), (dict, "an object"), (list, "an array"), (str, "a string"),
              ((int, float), "a number"), (type(None), "null"))


def kind(value) -> str:
    """The JSON name of a value's type ("an object", "null", ...)."""
    return next(name for t, name in JSON_TYPES if isinstance(value, t))


def _is(value, want) -> bool:
    return isinstance(value, want) and not (isinstance(value, bool) and want in (int, (int, float)))


# (field, type, required) of each part of a report
TOP = (("targets", list, True), ("cases", list, True), ("results", list, True), ("mode", str, False),
       ("shard", (dict, type(None)), False), ("planned", (int, type(None)), False),
       ("seconds", (int, float), False), ("started", str, False), ("argv", list, False),
       ("harness_error", (str, type(None)), False))
TARGET = (("name", str, True), ("command", str, True), ("profile", (dict, type(None)), False))
CASE = (("id", str, True), ("requirement", dict, True), ("teaching", dict, True))
REQUIREMENT = (("source", str, True), ("quote", str, True))
TEACHING = (("bug", str, True), ("symptom", str, True), ("fix", str, True))
RESULT = (("target", str, True), ("case", str, True), ("verdict", str, True), ("plan", str, True),
          ("seed", int, True), ("protocol", str, True), ("message", str, False), ("faults", list, False),
          ("sequences", dict, False), ("seconds", (int, float), False), ("transcript", list, False),
          ("excerpt", list, False), ("evidence", dict, False), ("replay", str, False),
          ("artefacts", dict, False), ("timeline", dict, False))
SHARD = (("index", int, True), ("count", int, True), ("cells", int, False), ("matrix", str, False))


def _fields(obj, spec, where):
    """where: "" for the top level, else the item ("results[3]")."""
    for name, want, required in spec:
        if name not in obj:
            if required:
                return f"{where or 'it'} has no \"{name}\""
            continue
        if not _is(obj[name], want):
            return f"{where + '.' if where else ''}{name} is {kind(obj[name])}"
    return None


def _items(obj, key, spec):
    for i, item in enumerate(obj[key]):
        where = f"{key}[{i}]"
        if not isinstance(item, dict):
            return f"{where} is {kind(item)}, not an object"
        why = _fields(item, spec, where)
        if why:
            return why
    return None


def problem(report):
    """None when the report can be read, else what is wrong with it."""
    if not isinstance(report, dict):
        return f"the top level is {kind(report)}, not an object"
    why = (_fields(report, TOP, "") or _items(report, "targets", TARGET) or _items(report, "cases", CASE)
           or _items(report, "results", RESULT))
    if why:
        return why
    for i, case in enumerate(report["cases"]):
        why = (_fields(case["requirement"], REQUIREMENT, f"cases[{i}].requirement")
               or _fields(case["teaching"], TEACHING, f"cases[{i}].teaching"))
        if why:
            return why
    bad = next((i for i, r in enumerate(report["results"]) if r["verdict"] not in ORDER), None)
    if bad is not None:
        return f"results[{bad}] has the verdict {report['results'][bad]['verdict']!r} (not one of {', '.join(ORDER)})"
    shard = report.get("shard")
    if shard is not None:
        why = _fields(shard, SHARD, "shard")
        if why:
            return why
        if not 1 <= shard["index"] <= shard["count"]:
            return f"its shard is {shard['index']}/{shard['count']}"
    return None
