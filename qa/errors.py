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
