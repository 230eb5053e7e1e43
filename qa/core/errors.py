"""The one exception type the library raises for problems a user can fix."""

from __future__ import annotations


class NewsqaError(Exception):
    """A problem with input, settings or an index, with a hint naming what fixes it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nhint: {self.hint}"


STORE_DAMAGED_HINT = ("the store itself is damaged: `sqlite3 store.sqlite .recover` may save "
                      "what is readable into a new file; else re-ingest into a new --index")
_NO_SPACE = ("free space on that disk (or give another folder with --index-dir or --out), then "
             "run the command again; what was committed before is kept")
_UNWRITABLE = ("make the folder writable, or give another with --index-dir (or --out); reading "
               "commands (ask, index info) work on a read-only index")


def from_environment(exc: BaseException) -> NewsqaError | None:
    """What a full disk, a read-only or missing folder, a path that is a file, or a damaged
    SQLite store means, as a NewsqaError with a hint; None for any other exception."""
    import errno
    import sqlite3

    if isinstance(exc, sqlite3.DatabaseError):
        name = getattr(exc, "sqlite_errorname", "")
        if name == "SQLITE_FULL":
            return NewsqaError(f"the disk is full: the index store could not be written ({exc})",
                               hint=_NO_SPACE)
        if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")):
            return NewsqaError(f"the index store cannot be opened for writing ({exc})",
                               hint=_UNWRITABLE)
        if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in str(exc):
            return NewsqaError(f"the index store is damaged ({exc})", hint=STORE_DAMAGED_HINT)
        return NewsqaError(f"the index store could not be read or written ({exc})",
                           hint="run `newsqa index doctor`; " + STORE_DAMAGED_HINT)
    if not isinstance(exc, OSError) or exc.errno is None:
        return None
    where = f" {exc.filename}" if exc.filename else ""
    what = exc.strerror or exc.__class__.__name__
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return NewsqaError(f"no space left to write{where} ({what})", hint=_NO_SPACE)
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return NewsqaError(f"cannot write{where} ({what})", hint=_UNWRITABLE)
    if exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR, errno.ENAMETOOLONG,
                     errno.ENOENT):
        return NewsqaError(f"cannot use{where} ({what})",
                           hint="--index-dir must be a folder, or a path where one can be made; "
                                "an index name must be a short folder name")
    return NewsqaError(f"{what}{where}", hint="check that path; --debug shows where it happened")
