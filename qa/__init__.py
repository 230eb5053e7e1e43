"""newsqa: answer questions about a local news archive, with citations a reader can check."""

__version__ = "0.1.0"
