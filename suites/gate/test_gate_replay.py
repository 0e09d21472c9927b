"""./iogate replay REPORT CASE: the same plan and seed, the same faults."""
import json

import pytest

from gatehelp import binary, have, mutant_binary, run


@pytest.mark.skipif(not mutant_binary("select--exit-on-recv-error").exists(), reason="mutant not built")
def test_replay_of_a_failed_cell_fails_again_with_the_same_faults(tmp_path):
    g = run("gate", "--server-cmd", f"{mutant_binary('select--exit-on-recv-error')} --port {{port}}", "--model", "select",
            "--cases", "recv.error.closes", "--seed", "5", "--report", str(tmp_path))
    assert g.returncode == 1
    out = run("replay", str(tmp_path), "recv.error.closes")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "plan: recv.reset:conn=1,after=1;seed=5   seed: 5" in out.stdout
    assert "the same fault sequence on every connection" in out.stdout
    assert ">> " in out.stdout  # the replay's trace excerpt, the injected fault marked


@pytest.mark.skipif(not have("epoll_et"), reason="epoll_et is not built")
@pytest.mark.parametrize("case", ["fd.no-leak-after-close", "recv.partial.state-preserved", "recv.error.closes"])
def test_replay_of_a_passing_cell_injects_the_same_faults(case, tmp_path):
    g = run("gate", "--server-cmd", f"{binary('epoll_et')} --port {{port}}", "--model", "epoll_et",
            "--cases", case, "--report", str(tmp_path))
    assert g.returncode == 0, g.stdout + g.stderr
    faults = json.loads((tmp_path / "report.json").read_text())["results"][0]["faults"]
    assert faults
    out = run("replay", str(tmp_path / "report.json"), case)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "the same fault sequence on every connection" in out.stdout, out.stdout


def test_replay_of_an_unknown_cell_or_report_exits_2(tmp_path):
    assert run("replay", str(tmp_path), "recv.zero.closes").returncode == 2
    (tmp_path / "report.json").write_text('{"format": "something else"}')
    out = run("replay", str(tmp_path), "recv.zero.closes")
    assert out.returncode == 2 and "not an iogate report" in out.stderr
