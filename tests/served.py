"""What the server tests share: fake generators that are slow or broken, a served sample in a
working folder, server-sent events read back, and a real uvicorn on a free loopback port."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from qa.app.context import use_models
from qa.app.options import context
from qa.app.server.service import Service
from tests.fakes import FakeEmbedder, FakeGenerator, FakeModels

BASES = "Which bases does Russia intend to keep?"
SCRIPT = {"bases": "Tartus naval base and the Khmeimim air base [1]",
          "reported": "TASS [1]", "ferry": "the Harbor Line [1]"}
LOCAL = "http://127.0.0.1:8000"


class SlowGenerator(FakeGenerator):
    """The fake generator, `delay` seconds a piece, counting the pieces it gave."""

    def __init__(self, script: dict[str, str], delay: float) -> None:
        super().__init__(script)
        self.delay = delay
        self.pieces = 0

    def complete(self, prompt: str, *, max_tokens: int, stop: Sequence[str]) -> Iterator[str]:
        for piece in super().complete(prompt, max_tokens=max_tokens, stop=stop):
            time.sleep(self.delay)
            self.pieces += 1
            yield piece


class BrokenGenerator(FakeGenerator):
    def complete(self, prompt: str, *, max_tokens: int, stop: Sequence[str]) -> Iterator[str]:
        raise RuntimeError("a bug deep inside, /secret/path.py line 12")


def fake_service(generator: FakeGenerator | None = None, index: str = "default") -> Service:
    """A service over `indexes/<index>` of the working folder, with the fake embedder and
    `generator` (else the scripted fake), warmed up."""
    made = generator or FakeGenerator(SCRIPT)
    use_models(FakeModels(FakeEmbedder, lambda path: made))
    service = Service(context(index=index, generator=True))
    service.warm_up()
    return service


def events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Server-sent events as (name, data), comments left out."""
    found = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith(":")]
        if lines:
            name = next(line[7:] for line in lines if line.startswith("event: "))
            data = next(line[6:] for line in lines if line.startswith("data: "))
            found.append((name, json.loads(data)))
    return found


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """`app` served by uvicorn on a free loopback port, in a thread; yields its base URL."""
    import socket

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
