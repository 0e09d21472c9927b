"""iogate: conformance and fault-injection testing of network servers.

This package is the product's Python side: the case table and its scripts,
the model table, server launch under the shim, clients and protocol
adapters, /proc probes, the trace reader, the case runner and its judge,
the gate, reports and the command line (docs/architecture.md). `./iogate`
runs `python3 -m iogate`. The pytest plugin that gives a user's tests its
fixtures is fixtures/pytest_iogate.py (docs/plugin.md).
"""

# The one version of iogate: `iogate --version`, the reports, and CMake's project(VERSION) (read from
# this line by the top CMakeLists.txt, for the Debian package).
__version__ = "0.16.0"
