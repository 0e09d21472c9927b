"""The protocol adapters line and http: what a correct server may send, and
the first byte a wrong one could not have sent."""
import random

import pytest

from iogate.protocols import Mismatch, PROTOCOLS, protocol


def feed(model, data, step):
    for i in range(0, len(data), step):
        model.received(data[i:i + step])


def test_every_protocol_is_registered_by_name():
    assert set(PROTOCOLS) >= {"seq", "echo", "line", "http"}
    with pytest.raises(ValueError):
        protocol("gopher")


@pytest.mark.parametrize("size", [1, 2, 16, 1023, 1024, 1025, 5000, 256 * 1024])
def test_line_requests_are_complete_lines_of_about_the_size_asked(size):
    req = protocol("line").request(random.Random(size), size)
    assert req.endswith(b"\n") and abs(len(req) - size) <= 1
    assert all(len(line) < 1024 for line in req.split(b"\n"))


@pytest.mark.parametrize("step", [1, 2, 3, 7, 100])
def test_line_owes_each_complete_line_and_nothing_for_a_partial_one(step):
    m = protocol("line").model()
    m.sent(b"ab")
    assert not m.owed()  # half a line: nothing yet
    m.sent(b"c\nde")
    assert m.owed()
    feed(m, b"abc\n", step)
    assert not m.owed()
    m.sent(b"f\n")
    feed(m, b"def\n", step)
    assert not m.owed()


def test_line_refuses_a_reply_to_a_partial_line():
    m = protocol("line").model()
    m.sent(b"abc")
    with pytest.raises(Mismatch):
        m.received(b"a")


RESPONSES = (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"
             b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n"
             b"0\r\nX-Trailer: t\r\n\r\n"
             b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nServer: x\r\n\r\n"
             b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize("step", [1, 2, 5, 13, 64, len(RESPONSES)])
def test_http_parses_responses_split_every_way(step):
    h = protocol("http")
    m = h.model()
    rng = random.Random(1)
    m.sent(b"".join(h.request(rng) for _ in range(4)))
    assert m.owed()
    feed(m, RESPONSES, step)
    assert not m.owed() and m.statuses == [200, 404, 204, 200]


def test_http_requests_are_gets_pipelined_up_to_the_size_asked():
    h = protocol("http")
    req = h.request(random.Random(2), 256 * 1024)
    assert req.startswith(b"GET /") and req.endswith(b"\r\n\r\n")
    n = req.count(b"\r\n\r\n")
    assert n == req.count(b"GET /") and n > 50 and abs(len(req) - 256 * 1024) < 4096
    assert all(len(r) <= 4096 + 4 for r in req.split(b"\r\n\r\n"))
    small = h.request(random.Random(3), 8)
    assert small.count(b"\r\n\r\n") == 1


def test_http_counts_a_request_whose_end_is_split_over_two_sends():
    m = protocol("http").model()
    m.sent(b"GET / HTTP/1.1\r\nHost: x\r\n\r")
    assert not m.owed()
    m.sent(b"\n")
    assert m.owed()


@pytest.mark.parametrize("bad,why", [
    (b"HTTQ/1.1 200 OK\r\n", "status line"),
    (b"HTTP/1.1 2000 OK\r\n\r\n", "malformed status line"),
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk-size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc", "not followed by CRLF"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n", "no request is waiting"),
])
def test_http_refuses_what_no_correct_server_sends(bad, why):
    m = protocol("http").model()
    m.sent(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    with pytest.raises(Mismatch, match=why):
        m.received(bad)


def test_http_refuses_bytes_after_a_response_that_announced_the_close():
    m = protocol("http").model()
    m.sent(b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n")
    with pytest.raises(Mismatch, match="announced the end of the connection"):
        m.received(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
                   b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")


# -- capabilities: which cases an adapter can drive (protocol_caps.py) -------------------------

def test_every_adapter_declares_its_capabilities():
    from iogate import protocol_caps
    for p in PROTOCOLS.values():
        caps = protocol_caps.of(p)
        assert caps.framing in ("frame", "line", "length", "bytes", "recorded"), p.name
        assert caps.keep_alive in ("persistent", "may-close"), p.name
        assert caps.exchange in ("request-response", "stream"), p.name
        assert caps.greeting == bool(p.greeting) and caps.noise == bool(p.noise())


def test_a_case_needing_what_the_adapter_lacks_is_na_with_the_reason_before_a_server_starts():
    from iogate import catalogue, protocol_caps
    from iogate.runner import Target, run_case
    from iogate.verdicts import Verdict
    case = catalogue.find("greeting.delivered-once")
    assert case.needs == ("greeting",)
    assert protocol_caps.unmet(case.needs, protocol("seq")) == ""
    # a command that cannot start: the verdict comes from the capabilities alone
    res = run_case(case, Target("none", "/nonexistent --port {port}", None), protocol="echo")
    assert res.verdict == Verdict.NA and "echo protocol adapter cannot drive this case" in res.message
    assert "speaks first" in res.message
    with pytest.raises(KeyError):
        protocol_caps.of(protocol("seq")).has("telepathy")
