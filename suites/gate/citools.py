"""The validators of the CI templates, from npm (ci/validate/package.json,
pinned by its package-lock.json): `npm ci` once into
build/npm-tools/DIGEST (DIGEST: of the two files, so an edit installs
afresh; under build/, so a clean clone starts without them), shared by
every test and worker (a lock file), then reused."""
import fcntl
import hashlib
import os
import shutil
import subprocess

import pytest

from iogate import paths

SPEC = paths.ROOT / "ci" / "validate"
FILES = ("package.json", "package-lock.json")
NPM_TIMEOUT = 600  # a first install downloads ~20 MB


def tools():
    """{"action-validator": path, "gitlab-ci-local": path}; skips when npm is missing."""
    npm = shutil.which("npm")
    if not npm:
        pytest.skip("npm is not installed (ci/debian-packages.txt, [develop]): the CI templates' validators come "
                    "from npm")
    digest = hashlib.sha256(b"".join((SPEC / f).read_bytes() for f in FILES)).hexdigest()[:16]
    where = paths.ROOT / "build" / "npm-tools" / digest
    where.mkdir(parents=True, exist_ok=True)
    with open(where.parent / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (where / ".installed").exists():
            for f in FILES:
                shutil.copy(SPEC / f, where / f)
            proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=where,
                                  capture_output=True, text=True, timeout=NPM_TIMEOUT)
            assert proc.returncode == 0, f"npm ci in {where} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
            (where / ".installed").write_text("")
    found = {name: where / "node_modules" / ".bin" / name for name in ("action-validator", "gitlab-ci-local")}
    for name, path in found.items():
        assert os.access(path, os.X_OK), f"{name} missing from {where}"
    return found
