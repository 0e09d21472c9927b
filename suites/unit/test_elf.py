"""elf.py tells the programs the backends need told apart, from the files
the build made and the system's own."""
import shutil

import pytest

from iogate import elf, paths


def test_a_dynamic_c_server_is_neither_static_nor_go():
    path = paths.BIN / "iogate-epoll_et"
    assert not elf.static_program(path) and not elf.go_program(path)


def test_the_static_twin_is_static():
    path = paths.BIN / "iogate-static-epoll_et"
    if not path.exists():
        pytest.skip("the static twin was not built")
    assert elf.static_program(path) and not elf.go_program(path)


def test_the_go_server_is_go_and_has_a_loader():
    path = paths.BIN / "iogate-go_seq"
    if not path.exists():
        pytest.skip("no Go servers: golang-go is not installed")
    assert elf.go_program(path) and not elf.static_program(path)


def test_what_is_not_an_elf_program_is_neither(tmp_path):
    script = tmp_path / "s.sh"
    script.write_text("#!/bin/sh\n")
    for path in (script, tmp_path / "missing", tmp_path, shutil.which("sh") + "-not-there"):
        assert not elf.static_program(path) and not elf.go_program(path)
