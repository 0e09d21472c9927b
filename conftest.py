"""Root pytest configuration: the iogate package (fixtures/) is on the path
(tox.ini `pythonpath`), the plugin provides the fixtures, and the build is
brought up to date once per session (on the xdist controller only)."""
pytest_plugins = ["iogate.plugin"]
