"""The gate's tests run ./iogate in subprocesses; the files a failing cell
keeps (trace, stderr) go to pytest's own temporary directory (pruned by
pytest), not to /tmp."""
import pytest

import gatehelp


@pytest.fixture(autouse=True, scope="session")
def _scratch(tmp_path_factory):
    gatehelp.ENV["TMPDIR"] = str(tmp_path_factory.mktemp("cells"))
    yield
