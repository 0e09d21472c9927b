"""The import rules of docs/architecture.md, checked on the tree."""
import ast
import re

from iogate import paths

SRC = paths.ROOT / "src" / "iogate"
BOTTOM = {"verdicts", "paths", "atomic", "deferral", "trace", "faultseq", "judge", "timeouts", "tables", "timeline",
          "timeline_svg"}
PROCESS_OR_SOCKET = {"server", "client", "procfs", "sockdiag", "processes", "crowd", "context", "socket", "select",
                     "subprocess"}


def imports(module: str):
    """The modules a file of src/iogate imports: package modules by their
    name, the standard library by its top-level name."""
    tree = ast.parse((SRC / f"{module}.py").read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level and not node.module:  # from . import a, b
                out |= {a.name for a in node.names}
            elif node.level or (node.module or "").startswith("iogate"):
                out.add((node.module or "").split(".")[-1])
            else:
                out.add(node.module.split(".")[0])
    return out


def test_the_cli_maps_options_to_calls_and_opens_nothing():
    assert not imports("cli") & PROCESS_OR_SOCKET, imports("cli") & PROCESS_OR_SOCKET


def test_the_bottom_of_the_product_imports_nothing_above_it():
    package = {p.stem for p in SRC.glob("*.py")}
    for module in BOTTOM:
        inside = imports(module) & package
        assert inside <= BOTTOM, f"{module} imports {inside - BOTTOM}"
        assert not imports(module) & PROCESS_OR_SOCKET, module


def test_the_case_table_imports_only_the_case_machinery():
    package = {p.stem for p in SRC.glob("*.py")}
    assert imports("cases") & package <= {"catalogue", "case_scripts"}


def test_the_shim_knows_nothing_of_python():
    for path in (p for p in (paths.ROOT / "injectors").rglob("*") if p.is_file()):
        text = path.read_text(errors="replace")
        assert not re.search(r"\b(src/iogate|fixtures/|suites/)", text), path.name


def test_no_server_includes_another_servers_file():
    shared = {p.name for d in ("core", "reactor_framework", "tls") for p in (paths.ROOT / "reference-servers" / d).iterdir()}
    for path in (paths.ROOT / "reference-servers").glob("*.cc"):
        for header in re.findall(r'^#include "([^"]+)"', path.read_text(), re.M):
            assert header.split("/")[-1] in shared, f"{path.name} includes {header}"


def test_no_sys_path_manipulation_anywhere():
    files = [*paths.ROOT.glob("src/**/*.py"), *paths.ROOT.glob("fixtures/**/*.py"), *paths.ROOT.glob("suites/**/*.py"),
             *(p for p in paths.ROOT.glob("bench/*") if p.is_file()), paths.ROOT / "iogate", paths.ROOT / "conftest.py"]
    offenders = [str(f.relative_to(paths.ROOT)) for f in files
                 if re.search(r"sys\.path\.(insert|append)|sys\.path\s*=", f.read_text(errors="replace"))]
    assert not offenders, offenders


def test_every_model_file_has_a_row_and_every_row_a_file():
    """CMake builds every reference-servers/*.cc; the model table gives each
    its profile: neither spells the other's list."""
    from iogate import models
    files = {p.stem for p in (paths.ROOT / "reference-servers").glob("*.cc")}
    files |= {p.stem for p in (paths.ROOT / "reference-servers" / "go").glob("*.go") if p.stem != "go_http"}
    assert files == {m.name for m in models.MODELS}


def test_every_mutant_patch_header_is_read():
    from iogate import models
    patches = {p.stem for p in models.MUTANT_DIR.glob("*.patch")}
    assert patches == {m.name for m in models.MUTANTS}
    assert all(m.bug and m.expect in ("FAIL", "WARN") for m in models.MUTANTS)


def test_the_plan_keys_the_shim_parses_are_the_documented_ones():
    """The parser's keys come from the shim's tables (plan.h kRuleKeys,
    through build/tables.json); docs/faults.md must name each, and no other."""
    from iogate import tables
    keys = set(tables.load()["rule_keys"]) | set(tables.load()["plan_items"])
    documented = set(re.findall(r"`([a-z]+)=", (paths.ROOT / "docs" / "faults.md").read_text()))
    assert documented == keys
