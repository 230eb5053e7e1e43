"""Reading and writing whole small files safely: atomic replacement, and no hang on a FIFO."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

TMP_MARK = ".tmp-"  # in the names of files being written (see `write_atomic`)


def temporary_of(path: Path) -> Path:
    """Where `write_atomic` writes `path` before renaming it: `.NAME.tmp-PID` beside it."""
    return path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")


def write_atomic(path: Path, data: bytes | Callable[[Path], None]) -> None:
    """Write `data` (or let `data(tmp)` write the file) beside `path`, sync it and rename it
    into place, so a reader sees the old file or the new one, never half of one."""
    tmp = temporary_of(path)
    try:
        if callable(data):
            data(tmp)
        else:
            tmp.write_bytes(data)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def not_a_file(path: Path) -> str | None:
    """Why `path` (if it exists) cannot be read as a file: a FIFO would make the reader wait
    forever and a device (a link to /dev/zero) never ends. None for a regular file or a
    missing one."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc.__class__.__name__})"
    if stat.S_ISREG(mode):
        return None
    return "is a folder" if stat.S_ISDIR(mode) else "is not a regular file (a FIFO, a device " \
        "or a socket)"


def read_small_file(path: Path, limit: int) -> bytes:
    """A regular file of at most `limit` bytes, read without waiting on a FIFO (opened
    non-blocking and checked before reading) and without reading past the limit. Raises
    OSError (ValueError for a file that is not regular or is too big)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file (a FIFO, a device or a socket)")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"over {limit:,} bytes")
    return data
