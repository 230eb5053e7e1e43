"""llama-cpp-python's own OpenAI-compatible server, started on loopback for the HTTP generator's
tests and benchmark (`bench/http_generator.py`), and stopped when the block ends."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

SERVER_DEPS = ("fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings")
INSTALL_HINT = "pip install 'llama-cpp-python[server]==0.3.36' (part of pip install -e '.[test]')"


class ServerError(RuntimeError):
    """The server could not be started; the message says why and what to install."""


def free_port() -> int:
    """A loopback port nothing listens on (the OS's choice, released at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def llama_server(model: Path, log: Path, *, n_ctx: int = 2048, extra: Sequence[str] = (),
                 wait_s: float = 180.0) -> Iterator[str]:
    """Serve `model` and yield the API's base URL (`http://127.0.0.1:PORT/v1`) once
    `/v1/models` answers. Threads match the in-process generator's (one per core), so the two
    are compared on equal terms; the server's own default is half the cores."""
    missing = [m for m in SERVER_DEPS if importlib.util.find_spec(m) is None]
    if missing:
        raise ServerError(f"llama-cpp-python's server extra is not installed (no "
                          f"{', '.join(missing)}): {INSTALL_HINT}")
    port = free_port()
    threads = str(max(1, os.cpu_count() or 1))
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model),
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
               "--n_threads", threads, *extra]
    base = f"http://127.0.0.1:{port}/v1"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + wait_s
        while not _answers(base + "/models"):
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise ServerError(f"the llama.cpp server exited ({process.returncode}):\n{tail}")
            if time.monotonic() > deadline:
                raise ServerError(f"the llama.cpp server did not answer within {wait_s:g} s "
                                  f"(log: {log})")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
