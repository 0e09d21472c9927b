"""--model auto: the IO model of a server detected from a short traced
warm-up must select exactly the cases its row of the model table selects
(and match that profile field by field)."""
import dataclasses
import pytest

from gatehelp import have, run
from iogate import catalogue, detect, models

MODELS = ["blocking", "threads", "thread_pool", "fork", "busy_poll", "select", "poll", "epoll_lt", "epoll_et",
          "epoll_oneshot", "sigio", "posix_aio", "io_uring", "proactor"]


@pytest.mark.parametrize("name", MODELS)
def test_the_detected_profile_selects_the_cases_of_the_model_table(name):
    if not have(name):
        pytest.skip(f"{name} is not built")
    m = models.model(name)
    found = detect.detect(m.command("seq"), "seq", name)
    cases = catalogue.load()
    assert detect.applicability(found.profile, cases) == detect.applicability(m.profile, cases), \
        f"{found.profile} vs {m.profile}: {found.evidence}"
    assert found.profile == detectable(m.profile), found.evidence
    assert found.like == name or models.model(found.like).profile == m.profile



def detectable(profile):
    """What a warm-up can see: not a limit the implementation sets itself
    (select's FD_SETSIZE, fork's child cap), which the model table states."""
    return dataclasses.replace(profile, max_clients=detect.SELECT_MAX_CLIENTS if profile.readiness == "select"
                               else None)

# The detection line and the N/A cells it decides, on a real run: suites/gate/test_docs_match_runs.py (the
# README's sample).


def test_model_name_overrides_detection():
    if not have("epoll_et"):
        pytest.skip("epoll_et is not built")
    out = run("gate", "--server-cmd", f"{models.model('epoll_et').binary} --port {{port}}", "--model", "blocking",
              "--cases", "et.read.drains-until-eagain,eintr.retried")
    assert "detected" not in out.stderr
    rows = {line.split()[0]: line.split()[1] for line in out.stdout.splitlines() if line.startswith(("et.", "eintr."))}
    assert rows["et.read.drains-until-eagain"] == "N/A"  # blocking's profile says so, whatever the server does


def test_inference_from_records_alone():
    # An ET epoll server described by its trace only (docs/trace.md's example).
    recs = [
        {"pid": 1, "tid": 1, "call": "epoll_ctl", "fd": 5, "conn": 0, "op": "ADD", "flags": "EPOLLIN|EPOLLET", "ret": 0},
        {"pid": 1, "tid": 1, "call": "epoll_wait", "fd": 4, "ret": 1, "events": [[5, "EPOLLIN"]]},
        {"pid": 1, "tid": 1, "call": "accept4", "fd": 5, "ret": 6, "conn": 1, "nonblock": 1},
        {"pid": 1, "tid": 1, "call": "epoll_ctl", "fd": 6, "conn": 1, "op": "ADD",
         "flags": "EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET", "ret": 0},
        {"pid": 1, "tid": 1, "call": "recv", "fd": 6, "conn": 1, "req": 4096, "ret": 5},
    ]
    found = detect.infer(recs)
    assert found.profile == models.model("epoll_et").profile and found.like == "epoll_et"
    forked = [{"pid": 1, "tid": 1, "call": "accept", "fd": 3, "ret": 4, "conn": 1, "nonblock": 0},
              {"pid": 2, "tid": 2, "call": "recv", "fd": 4, "conn": 1, "req": 100, "ret": 3}]
    assert detect.infer(forked).profile == detectable(models.model("fork").profile)


def test_hybrid_server_is_described_as_seen():
    """Regression: apache2 mpm_event (an epoll event thread per process, worker
    threads doing the IO, several processes) was printed as "completion-based,
    worker threads". The description now says what the trace showed."""
    recs = []
    for pid in (10, 20):
        ev_tid, workers = pid, (pid + 1, pid + 2)
        recs.append({"pid": pid, "tid": ev_tid, "call": "epoll_ctl", "fd": 3, "conn": 0, "op": "ADD",
                     "flags": "EPOLLIN", "ret": 0})
        recs.append({"pid": pid, "tid": ev_tid, "call": "epoll_wait", "fd": 9, "ret": 1, "events": [[3, "EPOLLIN"]]})
        for k, w in enumerate(workers):
            conn = pid + k
            recs.append({"pid": pid, "tid": ev_tid, "call": "accept4", "fd": 3, "ret": 12 + k, "conn": conn,
                         "nonblock": 1})
            recs.append({"pid": pid, "tid": w, "call": "read", "fd": 12 + k, "conn": conn, "req": 8000, "ret": 80})
            recs.append({"pid": pid, "tid": ev_tid, "call": "epoll_ctl", "fd": 12 + k, "conn": conn, "op": "ADD",
                         "flags": "EPOLLIN|EPOLLRDHUP", "ret": 0})
    found = detect.infer(recs)
    text = found.describe()
    assert "completion-based" not in text, text
    assert "epoll(7)" in text and "level-triggered registrations" in text and "worker threads" in text
    assert "2 processes" in text and "4 worker threads" in text
