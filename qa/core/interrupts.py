"""Ctrl-C that Python cannot raise.

Python raises Ctrl-C's KeyboardInterrupt wherever the main thread is. When that is a callback
Python runs for itself (a weakref's, as an import finishes; a `__del__`), it cannot raise it on:
it prints "Exception ignored" with a traceback and carries on as if no key had been pressed.
`keep_lost()` keeps such an interrupt instead, and `stop_if_interrupted()`, called at the
command's checkpoints, raises it there.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

_lost = threading.Event()


def keep_lost() -> None:
    """Route KeyboardInterrupts that Python would drop to the next checkpoint (other unraisable
    errors go to the hook that was there before). Installing it twice changes nothing."""
    previous = sys.unraisablehook
    if getattr(previous, "keeps_lost_interrupts", False):
        return

    def hook(unraisable: Any) -> None:
        if issubclass(unraisable.exc_type, KeyboardInterrupt):
            _lost.set()
        else:
            previous(unraisable)

    hook.keeps_lost_interrupts = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook


def caused_by_interrupt(exc: BaseException | None) -> bool:
    """Whether `exc` is Ctrl-C's KeyboardInterrupt inside another error: Python 3.11 wraps one
    raised in a class's `__set_name__` (as a dataclass is made, during an import) in a
    RuntimeError."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def stop_if_interrupted() -> None:
    """A checkpoint: raise the Ctrl-C that `keep_lost` kept, if any (once)."""
    if _lost.is_set():
        _lost.clear()
        raise KeyboardInterrupt
