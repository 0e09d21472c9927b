"""Every file iogate writes goes through a private temporary file in the
target's directory (atomic.py: mkstemp, then rename): never a predictable
`<path>.tmp`, never through a symlink planted there. Each test plants
symlinks to a victim file at the names a careless writer would open and
shows the victim untouched."""
import json
import os

import pytest

from gatehelp import binary, have, run
from iogate import docs, tls

VICTIM = "precious data\n"


def plant(directory, names, tmp_path):
    """Symlinks directory/NAME -> a victim file; returns the victim."""
    victim = tmp_path / "victim"
    victim.write_text(VICTIM)
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).symlink_to(victim)
    return victim


REPORT_TMPS = ["report.json.tmp", "report.html.tmp", "junit.xml.tmp"]


def test_merge_never_writes_through_a_symlink_at_a_predictable_name(tmp_path):
    from test_cli_edges import report_with
    (tmp_path / "in.json").write_text(json.dumps(report_with()))
    out_dir = tmp_path / "out"
    victim = plant(out_dir, REPORT_TMPS, tmp_path)
    out = run("merge", str(out_dir), str(tmp_path / "in.json"), timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert victim.read_text() == VICTIM
    assert all(os.path.islink(out_dir / n) for n in REPORT_TMPS)  # left as they were
    assert sorted(os.listdir(out_dir)) == sorted(REPORT_TMPS + ["report.json", "report.html", "junit.xml"])


@pytest.mark.skipif(not have("epoll_et"), reason="epoll_et is not built")
def test_the_gate_never_writes_through_a_symlink_at_a_predictable_name(tmp_path):
    rep = tmp_path / "rep"
    victim = plant(rep, REPORT_TMPS, tmp_path)
    out = run("gate", "--server-cmd", f"{binary('epoll_et')} --port {{port}}", "--model", "epoll_et",
              "--cases", "recv.zero.closes", "--report", str(rep), "--junit", str(rep / "junit.xml"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert victim.read_text() == VICTIM
    assert json.loads((rep / "report.json").read_text())["verdict"] == "PASS"
    assert "<testcase" in (rep / "junit.xml").read_text()


def test_the_tls_material_opens_no_predictable_temporary_name(tmp_path, monkeypatch):
    own = tmp_path / "material"
    victim = plant(own, ["key.pem.tmp", "cert.pem.tmp"], tmp_path)
    monkeypatch.setattr(tls.scratch, "mkdtemp", lambda prefix: str(own))
    try:
        m = tls.Material()
    except tls.SetupError as e:
        pytest.skip(str(e))
    try:
        assert victim.read_text() == VICTIM
        assert "PRIVATE KEY" in open(m.key).read() and "CERTIFICATE" in open(m.cert).read()
    finally:
        m.close()


def test_the_generated_docs_replace_a_symlink_instead_of_writing_through_it(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_text(VICTIM)
    for name in ("CASES_MD", "FAULTS_MD", "PROTOCOLS_MD"):
        real = getattr(docs, name)
        target = victim
        if name != "CASES_MD":  # rendered into their own text: the link leads to a copy
            target = tmp_path / real.name
            target.write_text(real.read_text())
        link = tmp_path / f"link-{real.name}"
        link.symlink_to(target)
        monkeypatch.setattr(docs, name, link)
    docs.write_all()
    assert victim.read_text() == VICTIM
    assert not docs.CASES_MD.is_symlink() and docs.CASES_MD.read_text() == docs.render_cases_md()
