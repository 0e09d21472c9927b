# `cmake --install build --prefix PREFIX`: an installed iogate, prebuilt,
# that needs neither the source tree nor a compiler. The layout (read by
# src/iogate/paths.py):
#
#   PREFIX/bin/iogate                               the command (the clone's ./iogate script)
#   PREFIX/lib/iogate/lib/libiogate_inject.so       the shim          } the build tree's own
#   PREFIX/lib/iogate/bin/iogate-*                  iogate-fresh, the } layout, so paths.py
#                                                   syscall launcher, } names them the same
#                                                   servers, mutants  } way in both
#   PREFIX/lib/iogate/tables.json                   the shim's tables for Python
#   PREFIX/lib/iogate/mutants/*.patch               the mutant table (the patches' headers)
#   PREFIX/lib/python3/dist-packages/iogate/        the Python package
#   PREFIX/lib/python3/dist-packages/pytest_iogate.py           the pytest plugin, found by
#   PREFIX/lib/python3/dist-packages/iogate-VERSION.dist-info/  its pytest11 entry point
#
# Whatever the build tree holds is installed: a tree configured with
# IOGATE_GATE_ONLY has no servers or mutants to install (build the whole
# tree first for a complete installation, as the Debian package does).

set(IOGATE_PYTHON_DIR lib/python3/dist-packages)

install(PROGRAMS ${CMAKE_SOURCE_DIR}/iogate DESTINATION bin)
install(FILES ${CMAKE_BINARY_DIR}/lib/libiogate_inject.so DESTINATION lib/iogate/lib)
install(FILES ${CMAKE_BINARY_DIR}/tables.json DESTINATION lib/iogate)
# The servers, mutants and launchers; not the build's helpers (the tables
# writer, benchmarks, test probes).
install(DIRECTORY ${CMAKE_BINARY_DIR}/bin/ DESTINATION lib/iogate/bin USE_SOURCE_PERMISSIONS
        FILES_MATCHING PATTERN "iogate-*"
        PATTERN "iogate-tables" EXCLUDE PATTERN "iogate-bench-*" EXCLUDE PATTERN "iogate-callprobe" EXCLUDE
        PATTERN "iogate-fdhygiene" EXCLUDE PATTERN "iogate-suspendprobe" EXCLUDE)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/reference-servers/mutants/ DESTINATION lib/iogate/mutants
        FILES_MATCHING PATTERN "*.patch")

install(DIRECTORY ${CMAKE_SOURCE_DIR}/src/iogate DESTINATION ${IOGATE_PYTHON_DIR}
        PATTERN "__pycache__" EXCLUDE PATTERN "*.pyc" EXCLUDE)
install(FILES ${CMAKE_SOURCE_DIR}/fixtures/pytest_iogate.py DESTINATION ${IOGATE_PYTHON_DIR})
# The distribution's metadata: importlib.metadata finds it on sys.path, and
# pytest loads every pytest11 entry point it names (no -p, no PYTHONPATH).
# The entry point is named like the module: a project that also asks for it
# (`-p pytest_iogate`, pytest_plugins, iogate's own conftest.py) finds it
# loaded instead of registering it twice (pytest refuses that).
set(IOGATE_DIST_INFO ${CMAKE_BINARY_DIR}/iogate-${PROJECT_VERSION}.dist-info)
file(WRITE ${IOGATE_DIST_INFO}/METADATA
     "Metadata-Version: 2.1\nName: iogate\nVersion: ${PROJECT_VERSION}\n"
     "Summary: conformance and fault-injection testing of network servers\n")
file(WRITE ${IOGATE_DIST_INFO}/entry_points.txt "[pytest11]\npytest_iogate = pytest_iogate\n")
file(WRITE ${IOGATE_DIST_INFO}/top_level.txt "iogate\npytest_iogate\n")
file(WRITE ${IOGATE_DIST_INFO}/INSTALLER "cmake\n")
install(DIRECTORY ${IOGATE_DIST_INFO} DESTINATION ${IOGATE_PYTHON_DIR})
