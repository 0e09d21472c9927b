"""Root pytest configuration: the iogate package (src/) and the plugin
(fixtures/pytest_iogate.py) are on the path (tox.ini `pythonpath`); the
plugin provides the fixtures. iogate's own tests run the reference servers
and mutants too: the whole tree is brought up to date once per session (on
the xdist controller only), before the plugin's own build of the shim side,
which then finds nothing to do. The plugin's no_build setting
(--iogate-no-build, IOGATE_NO_BUILD=1) skips both."""
import pytest

from iogate import bootstrap

pytest_plugins = ["pytest_iogate"]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    plugin = session.config.pluginmanager.get_plugin("pytest_iogate")  # loaded by pytest_plugins (not imported
    # here first: pytest rewrites the asserts of a plugin it imports itself)
    if not hasattr(session.config, "workerinput") and not plugin.setting(session.config, "no_build"):
        bootstrap.build(bootstrap.ALL)
