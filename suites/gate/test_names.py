"""The name of an external server when --name gives none (names.py)."""
import pytest

from iogate.names import server_name


@pytest.mark.parametrize("command, name", [
    ("./ci/servers/nginx {port}", "nginx"),
    ("env LD_BIND_NOW=1 taskset -c 0 ./srv --port {port}", "srv"),
    ("FOO=1 timeout -s KILL 60 nice -n 5 /opt/a/mysrv", "mysrv"),
    ("python3 -m http.server {port}", "http.server"),
    ("/usr/bin/python3.11 -u server.py --port {port}", "server.py"),
    ("node app.js {port}", "app.js"),
    ("java -Xmx1g -jar srv.jar {port}", "srv.jar"),
    ("sh -c 'exec redis-server --port {port}'", "redis-server"),
    ("sudo -u www ./srv", "srv"),
    ("python3 -c 'import x'", "python3"),
    ("build/bin/iogate-epoll_et --port {port}", "iogate-epoll_et"),
])
def test_the_name_is_the_program_the_command_runs(command, name):
    assert server_name(command) == name


def test_name_is_for_an_external_server_and_must_be_a_name():
    from gatehelp import run
    out = run("gate", "--name", "x", "--cases", "recv.zero.closes")
    assert out.returncode == 2 and "--name applies to --server-cmd" in out.stderr
    out = run("gate", "--server-cmd", "./srv {port}", "--name", " ", "--cases", "recv.zero.closes")
    assert out.returncode == 2 and "--name must be a non-empty name" in out.stderr
