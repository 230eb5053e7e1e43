"""Who may talk to the server: requests for a `Host` it was not bound as are refused (a DNS
rebinding page in a browser names its own host), and with an API key, every `/api` and `/mcp`
request must carry it (`Authorization: Bearer KEY`).

A pure ASGI middleware, so streamed answers pass through it untouched.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence
from typing import Any

LOOPBACK = ("127.0.0.1", "localhost", "[::1]")  # any port: a name alone allows any
PROTECTED = ("/api", "/mcp")
ANY = "*"


def bound_hosts(host: str, port: int) -> list[str]:
    """The `Host` values a server bound to `host:port` answers to: the loopback names when it
    is bound to loopback, else the name it was given; any name when bound to every address
    (0.0.0.0, ::), which it is only with an API key, so a page rebound to it has no key."""
    if host in ("0.0.0.0", "::", ""):
        return [ANY]
    if host in ("127.0.0.1", "localhost", "::1"):
        return [f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"]
    shown = f"[{host}]" if ":" in host else host
    return [f"{shown}:{port}"] + ([shown] if port == 80 else [])


def _split(host: str) -> tuple[str, str | None]:
    """`name:port` (`[v6]:port`) as (name, port or None)."""
    if host.startswith("["):
        name, _, rest = host.partition("]")
        return name + "]", rest[1:] if rest.startswith(":") else None
    name, colon, port = host.partition(":")
    return name, port if colon else None


def host_allowed(host: str, allowed: Sequence[str]) -> bool:
    """Whether `host` (a request's `Host`) is one of `allowed` (a name alone: any port)."""
    name, port = _split(host.strip().lower())
    if ANY in allowed:
        return True
    for entry in allowed:
        allowed_name, allowed_port = _split(entry.strip().lower())
        if name == allowed_name and allowed_port in (None, port):
            return True
    return False


class Guard:
    """Refuse a foreign `Host` (421) and, with `api_key`, a protected path without it (401)."""

    def __init__(self, app: Any, *, allowed_hosts: Sequence[str], api_key: str | None) -> None:
        self.app = app
        self.allowed_hosts = list(allowed_hosts)
        self.api_key = api_key

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan; the server has no websockets
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", ())}
        host = headers.get("host", "")
        if not host_allowed(host, self.allowed_hosts):
            await _refuse(send, 421, f"this server does not answer for the host {host!r}",
                          "use the address it printed when it started (e.g. "
                          f"http://{self.allowed_hosts[0]}/)")
            return
        path = scope.get("path", "")
        if (self.api_key is not None and scope.get("method") != "OPTIONS"
                and path.startswith(PROTECTED) and not self._authorised(headers)):
            await _refuse(send, 401, "this server needs its API key",
                          "send the header `Authorization: Bearer KEY` with the key in "
                          "NEWSQA_API_KEY where the server runs",
                          [(b"www-authenticate", b"Bearer")])
            return
        await self.app(scope, receive, send)

    def _authorised(self, headers: dict[str, str]) -> bool:
        assert self.api_key is not None
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self.api_key.encode())


async def _refuse(send: Any, status: int, message: str, hint: str,
                  extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"error": message, "hint": hint}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *(extra or [])]})
    await send({"type": "http.response.body", "body": body})
