"""The corpus tests run ./iogate like the gate's tests (suites/gate/gatehelp.py);
a failing cell's files go to pytest's temporary directory."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "gate"))
import gatehelp  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _scratch(tmp_path_factory):
    gatehelp.ENV["TMPDIR"] = str(tmp_path_factory.mktemp("cells"))
    yield
