"""What an ELF program is, read from its headers (no tool needed): static
(no dynamic loader: nothing can be preloaded into it) or a Go program (its
runtime makes its own system calls and runs goroutines on any thread)."""

PT_INTERP = 3


def _u(b, at, n):
    return int.from_bytes(b[at:at + n], "little")


def _headers(path, program: bool):
    """(file header, entry size, table bytes) of the program header table
    (program=True) or the section header table; None if not a 64-bit
    little-endian ELF file (the syscall backend's x86_64)."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            return None
        off, size, num = (_u(head, 32, 8), _u(head, 54, 2), _u(head, 56, 2)) if program else \
            (_u(head, 40, 8), _u(head, 58, 2), _u(head, 60, 2))
        if not off or not size or num > 4096:
            return None
        f.seek(off)
        return head, size, f.read(size * num)


def static_program(path) -> bool:
    """An ELF file without a program interpreter (PT_INTERP)."""
    try:
        got = _headers(path, program=True)
    except OSError:
        return False
    if got is None:
        return False
    _, size, table = got
    return not any(_u(table, i, 4) == PT_INTERP for i in range(0, len(table), size))


def go_program(path) -> bool:
    """An ELF file with Go's build information section (.go.buildinfo)."""
    try:
        got = _headers(path, program=False)
        if got is None:
            return False
        head, size, table = got
        names = table[_u(head, 62, 2) * size:][:size]  # the section of section names
        with open(path, "rb") as f:
            f.seek(_u(names, 24, 8))
            strings = f.read(min(_u(names, 32, 8), 1 << 20))
    except OSError:
        return False
    return any(strings[_u(table, i, 4):][:14] == b".go.buildinfo\0" for i in range(0, len(table), size))
