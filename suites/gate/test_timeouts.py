"""Regression: the harness's bounds stretch with the measured load of the
machine (a CI runner with more runnable threads than cores), not only with
the manual IOGATE_TIMEOUT_SCALE."""
from iogate import timeouts


def _fresh(monkeypatch, running, cpus=2):
    monkeypatch.setattr(timeouts, "runnable", lambda: running)
    monkeypatch.setattr(timeouts.os, "cpu_count", lambda: cpus)
    monkeypatch.setitem(timeouts._load, "at", -1e9)
    monkeypatch.delenv("IOGATE_TIMEOUT_SCALE", raising=False)


def test_quiet_machine_keeps_the_base(monkeypatch):
    _fresh(monkeypatch, running=2)
    assert timeouts.timeout("reply") == timeouts.BASE["reply"]


def test_oversubscribed_machine_stretches_every_bound(monkeypatch):
    _fresh(monkeypatch, running=9)  # 8 other runnable threads on 2 CPUs
    assert timeouts.load_factor() == 4.0
    assert timeouts.timeout("reply") == 4 * timeouts.BASE["reply"]


def test_factor_is_bounded(monkeypatch):
    _fresh(monkeypatch, running=500)
    assert timeouts.load_factor() == timeouts.MAX_LOAD_FACTOR


def test_manual_scale_multiplies(monkeypatch):
    _fresh(monkeypatch, running=5)
    monkeypatch.setenv("IOGATE_TIMEOUT_SCALE", "3")
    assert timeouts.timeout("start") == 3 * 2 * timeouts.BASE["start"]
