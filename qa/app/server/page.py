"""The page of `newsqa serve`: one HTML document (a Jinja template) and its plain JavaScript
and CSS, served by the same process, with nothing fetched from anywhere else (it works
offline).

The page only reads the JSON API (`/api/index`, `/api/ask`, `/api/articles/{id}`), so this
router needs nothing from the service. Article text is untrusted: the script builds the DOM
with `textContent`, and the Content-Security-Policy allows only this origin's own script and
style, so text that slipped through as markup would still not run.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, Template, select_autoescape

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
# Every file the page may load, and its type: nothing else under static/ is served.
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".svg": "image/svg+xml"}

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

router = APIRouter(include_in_schema=False)


@cache
def static_files() -> dict[str, Path]:
    """The files under static/ the page may load, by name."""
    return {p.name: p for p in sorted(STATIC.iterdir())
            if p.is_file() and p.suffix in STATIC_TYPES}


@cache
def version() -> str:
    """A short hash of the static files: part of their URLs, so a new release is never
    served from a browser's old cache."""
    digest = hashlib.sha256()
    for name, path in static_files().items():
        digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


@cache
def _template() -> Template:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(),
                      trim_blocks=True, lstrip_blocks=True)
    return env.get_template("page.html")


def render_page(root: str = "") -> str:
    """The page's HTML; `root` is the path the app is mounted under (empty at the root)."""
    return _template().render(root=root.rstrip("/"), version=version())


@router.get("/", response_class=HTMLResponse)
def page(request: Request) -> HTMLResponse:
    """The page. A URL with `?q=` (a permalink) asks its question as it loads."""
    html = render_page(str(request.scope.get("root_path", "")))
    return HTMLResponse(html, headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})


@router.get("/static/{name}")
def static(name: str) -> Response:
    """One of the page's own files (by exact name; no paths)."""
    path = static_files().get(name)
    if path is None:
        return Response(status_code=404, content="not found", media_type="text/plain")
    return FileResponse(path, media_type=STATIC_TYPES[path.suffix],
                        headers={"Cache-Control": "public, max-age=86400",
                                 "X-Content-Type-Options": "nosniff"})
