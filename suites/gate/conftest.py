"""The gate's tests run ./iogate in subprocesses with $TMPDIR in pytest's own
temporary directory (pruned by pytest): a gate leaves nothing there, and if
one ever did, it would not pile up in /tmp."""
import pytest

import gatehelp


@pytest.fixture(autouse=True, scope="session")
def _scratch(tmp_path_factory):
    gatehelp.ENV["TMPDIR"] = str(tmp_path_factory.mktemp("cells"))
    yield
