"""Text that is safe to store and to print: file names need not be UTF-8, and file names,
rejection reasons and article fields can hold terminal escape sequences."""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console
from rich.text import Text

_SURROGATE = re.compile(r"[\ud800-\udfff]")
# What must never reach a terminal as it is: C0 and C1 control characters (escape sequences,
# bell, carriage return, backspace), DEL, and the bidirectional controls that reorder what is
# shown. Line breaks and tabs are kept in messages, escaped in one-line values (file names).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_OR_BREAK = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8, as os.fsdecode keeps it
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def readable(text: str) -> str:
    """`text` as it can be stored (SQLite takes UTF-8 only) and printed: a byte of a file name
    that is not UTF-8, which Python keeps as a lone surrogate, becomes `\\xff`; any other
    lone surrogate `\\ud800`."""
    return _SURROGATE.sub(_escaped, text)


def shown(text: str, *, one_line: bool = False) -> str:
    """`text` as it may be printed: control characters written as escapes (`\\x1b`, `\\u202e`)
    and lone surrogates as `readable` writes them, so nothing printed drives the terminal;
    `one_line` escapes line breaks and tabs too."""
    return readable((_CONTROL_OR_BREAK if one_line else _CONTROL).sub(_escaped, text))


class SafeConsole(Console):
    """A Console that passes every string it renders through `shown`, before markup is read.
    Renderables built as `Text` bypass it: pass their strings through `shown` first."""

    def render_str(self, text: str, **options: Any) -> Text:
        return super().render_str(shown(text), **options)
