"""Root pytest configuration: the iogate package (src/) and the plugin
(fixtures/pytest_iogate.py) are on the path (tox.ini `pythonpath`); the
plugin provides the fixtures and brings the build up to date once per
session (on the xdist controller only)."""
pytest_plugins = ["pytest_iogate"]
