"""One writer at a time in a folder: an OS lock (`flock`) on a file in it, which the OS
releases when the process ends however it ends, so a killed writer never blocks the next."""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import IO

from qa.core.errors import NewsqaError

LOCK = ".lock"


def lock_folder(folder: Path, busy: str, hint: str) -> IO[str]:
    """Hold the lock of `folder` (until the returned file is closed), or raise a
    `NewsqaError(busy, hint)` at once if another process holds it."""
    handle = open(folder / LOCK, "a+")  # noqa: SIM115 (held until close)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise NewsqaError(busy, hint=hint) from None
    return handle


def folder_busy(folder: Path) -> bool:
    """Whether another process holds the lock of `folder` now (a writer at work); False when
    there is no lock file or this process cannot tell."""
    try:
        handle = open(folder / LOCK, "rb")  # noqa: SIM115 (closed below)
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
