"""`./iogate test`: the project's own tests, the README's test command and
what CI runs: CTest (Catch2 unit tests), then pytest (driver, shim,
conformance, teaching), then, unless --quick, the unit tests again and the
conformance suite with ASan+UBSan servers. Exit 1 when any step failed.

The conformance suite (every reference server x every case) runs once: with
the sanitized servers, the stricter build (a memory error on an error path
fails the cell too), or plain under --quick. Running it twice would cost
the full run a third of its 15-minute budget for cells already judged."""
import os
import subprocess
import sys

from . import bootstrap, paths, timeouts


def run_step(title, argv, env=None):
    print(f"iogate test: {title}", file=sys.stderr, flush=True)
    return title, subprocess.call(argv, cwd=paths.ROOT, env=env)


def run(pytest_args, quick=False, install=True) -> int:
    bootstrap.prepare(bootstrap.ALL, install=install)
    jobs = str(os.cpu_count() or 2)
    # --durations: the run's slowest tests in its log, to keep the whole run within its 15 minutes
    pytest = [sys.executable, "-m", "pytest", "-c", str(paths.ROOT / "tox.ini"), "--rootdir", str(paths.ROOT),
              "--durations=15"]
    plain = list(pytest_args)
    if not quick and not pytest_args:
        plain.append("--ignore=suites/conformance")  # the sanitized step below runs it
    steps = [
        run_step("unit tests (CTest + Catch2)", ["ctest", "--test-dir", str(paths.BUILD), "--output-on-failure",
                                                 "-j", jobs]),
        run_step("driver, shim and teaching tests (pytest)" if "--ignore=suites/conformance" in plain else
                 "driver, shim, conformance and teaching tests (pytest)", pytest + plain),
    ]
    if not quick:
        # The same unit tests and conformance cases with ASan+UBSan servers
        # (the shim itself is never sanitized; the runtime is preloaded first).
        bootstrap.build(build_dir=paths.SAN_BUILD, sanitize=True)
        env = dict(os.environ, IOGATE_BUILD_DIR=str(paths.SAN_BUILD),
                   IOGATE_SANITIZER_RUNTIME=bootstrap.sanitizer_runtime(),
                   IOGATE_TIMEOUT_SCALE=str(min(2 * timeouts.scale(), timeouts.MAX_SCALE)),
                   ASAN_OPTIONS="abort_on_error=1:detect_leaks=0", UBSAN_OPTIONS="print_stacktrace=1")
        steps += [
            run_step("unit tests under ASan+UBSan", ["ctest", "--test-dir", str(paths.SAN_BUILD),
                                                     "--output-on-failure", "-j", jobs], env),
            run_step("conformance with ASan+UBSan servers", pytest + ["suites/conformance"], env),
        ]
    failed = [f"{title} (exit {rc})" for title, rc in steps if rc]
    if failed:
        print("iogate test: FAILED: " + "; ".join(failed), file=sys.stderr)
        return 1
    print("iogate test: all passed", file=sys.stderr)
    return 0
