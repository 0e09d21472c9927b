"""iogate: conformance and fault-injection testing of network servers.

This package is the product's Python side: the case table and its scripts,
the model table, server launch under the shim, clients and protocol
adapters, /proc probes, the trace reader, the case runner and its judge,
the gate, reports and the command line (docs/architecture.md). `./iogate`
runs `python3 -m iogate`. The pytest plugin that gives a user's tests its
fixtures is fixtures/pytest_iogate.py (docs/plugin.md).
"""

__version__ = "0.16.0"  # the one place the version is written: reports, JUnit properties
