"""The corpus tests run ./iogate like the gate's tests (suites/gate/gatehelp.py);
a failing cell's files go to pytest's temporary directory."""
import pytest

import gatehelp  # suites/gate, on the path by tox.ini


@pytest.fixture(autouse=True, scope="session")
def _scratch(tmp_path_factory):
    gatehelp.ENV["TMPDIR"] = str(tmp_path_factory.mktemp("cells"))
    yield
