"""Serve the built dashboard (`freqtrade-ui/dist`) at `/`, with client-side routes working on
reload: any GET that names no file in dist answers index.html, and the Vue router takes over.

The fallback never answers for the API's own paths (`/api`, `/docs`, `/redoc`, `/openapi.json`,
`/health`, `/metrics`, `/mcp`): an unknown one there keeps the JSON 404 envelope. It is
registered after every API router, so a real route always wins.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException as StarletteHTTPException

DEFAULT_DIST_DIR = Path(__file__).resolve().parents[2] / "freqtrade-ui" / "dist"
RESERVED_PREFIXES = ("api", "docs", "redoc", "openapi.json", "health", "metrics", "mcp")
# Vite names every asset after its content hash, so a browser may keep them for good; the
# index page names the current ones and must be fetched again each time.
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"

_MISSING_BUILD_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Freqtrade Multi-Bot System</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto">
<h1>The dashboard is not built yet</h1>
<p>The API is running (see <a href="/docs">/docs</a>), but <code>{dist}</code> does not exist.</p>
<p>Run <code>make run</code>, which builds it, or build it by hand:
<code>cd freqtrade-ui &amp;&amp; npm ci &amp;&amp; npm run build</code>.</p>
</body></html>
"""


class DashboardPath(Convertor[str]):
    """Any path but the API's: so even a POST to an unknown API path answers 404, not the 405
    a GET-only route matching its path would give."""

    regex = "(?!(?:" + "|".join(p.replace(".", r"\.") for p in RESERVED_PREFIXES) + ")(?:/|$)).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("dashboard_path", DashboardPath())


def _file_in(dist: Path, path: str) -> Path | None:
    """The file `path` names inside dist, or None; never a file outside it, nor a dotfile (the
    build's stamp)."""
    if not path or any(part.startswith(".") for part in path.split("/")):
        return None
    candidate = (dist / path).resolve()
    if not candidate.is_relative_to(dist) or not candidate.is_file():
        return None
    return candidate


router = APIRouter(include_in_schema=False)


# A plain `def`: FastAPI runs it on a worker thread, so the file-system checks never block the
# event loop.
@router.api_route("/{path:dashboard_path}", methods=["GET", "HEAD"])
def dashboard(path: str, request: Request) -> Response:
    """A file of the built dashboard, else its index page (the client-side router's routes)."""
    dist: Path = request.app.state.webui_dist
    index = dist / "index.html"
    if not index.is_file():
        return HTMLResponse(
            _MISSING_BUILD_PAGE.format(dist=escape(str(dist))), headers={"Cache-Control": NO_CACHE}
        )
    found = _file_in(dist.resolve(), path)
    if found is not None:
        immutable = path.startswith("assets/")
        return FileResponse(found, headers={"Cache-Control": IMMUTABLE if immutable else NO_CACHE})
    if path.startswith("assets/"):
        # A stale page asking for an asset of an older build: say so, not with index.html.
        raise StarletteHTTPException(status_code=404)
    return FileResponse(index, headers={"Cache-Control": NO_CACHE})


def mount_webui(app: FastAPI, dist_dir: Path | None = None) -> None:
    """Serve the dashboard; call after every API router so those keep priority."""
    app.state.webui_dist = dist_dir or DEFAULT_DIST_DIR
    app.include_router(router)
