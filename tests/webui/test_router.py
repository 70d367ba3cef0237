"""The built dashboard at `/`: its files, its client-side routes on reload, and the API's own
paths left to the API."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from core_server.core.settings import Settings
from tests.conftest import make_settings

INDEX = (
    '<!doctype html><html><body><div id="app"></div>'
    '<script src="/assets/app-1a2b.js"></script></body></html>'
)


@pytest.fixture
def settings(data_dir: Path, sqlite_url: str) -> Settings:
    # The database plays no part here: one engine is enough.
    return make_settings(data_dir, sqlite_url)


@pytest.fixture
def dist(tmp_path: Path, app: FastAPI) -> Path:
    built = tmp_path / "dist"
    (built / "assets").mkdir(parents=True)
    (built / "index.html").write_text(INDEX)
    (built / "assets" / "app-1a2b.js").write_text("console.log('dashboard')")
    (built / "favicon.svg").write_text("<svg/>")
    (built / ".built").write_text("stamp")
    (tmp_path / "secret.txt").write_text("not for the web")
    app.state.webui_dist = built
    return built


async def test_root_answers_the_dashboard(client: httpx.AsyncClient, dist: Path) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<div id="app">' in response.text
    assert response.headers["cache-control"] == "no-cache"


async def test_deep_route_reloads_into_the_dashboard(client: httpx.AsyncClient, dist: Path) -> None:
    response = await client.get("/bots/3")
    assert response.status_code == 200
    assert response.text == INDEX


async def test_assets_are_served_and_cached_for_good(client: httpx.AsyncClient, dist: Path) -> None:
    response = await client.get("/assets/app-1a2b.js")
    assert response.status_code == 200
    assert response.text == "console.log('dashboard')"
    assert "immutable" in response.headers["cache-control"]
    assert (await client.get("/favicon.svg")).text == "<svg/>"


async def test_missing_asset_is_a_404_not_the_index(client: httpx.AsyncClient, dist: Path) -> None:
    response = await client.get("/assets/app-old.js")
    assert response.status_code == 404


async def test_no_file_outside_dist_nor_dotfiles(client: httpx.AsyncClient, dist: Path) -> None:
    for path in ("/..%2Fsecret.txt", "/assets/..%2F..%2Fsecret.txt"):
        assert "not for the web" not in (await client.get(path)).text
    assert (await client.get("/.built")).text == INDEX


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
async def test_unknown_api_route_keeps_the_json_404(
    client: httpx.AsyncClient, dist: Path, method: str
) -> None:
    response = await client.request(method, "/api/v1/nope")
    assert response.status_code == 404
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("path", ["/mcp", "/docs/nope", "/health/nope", "/api"])
async def test_reserved_paths_never_get_the_index(
    client: httpx.AsyncClient, dist: Path, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.json()["success"] is False


async def test_api_docs_and_health_still_answer(client: httpx.AsyncClient, dist: Path) -> None:
    assert (await client.get("/openapi.json")).json()["info"]["title"]
    assert (await client.get("/health")).status_code == 200
    assert "swagger" in (await client.get("/docs")).text.lower()


async def test_without_a_build_root_says_how_to_build(
    client: httpx.AsyncClient, app: FastAPI, tmp_path: Path
) -> None:
    app.state.webui_dist = tmp_path / "not-built"
    response = await client.get("/bots/3")
    assert response.status_code == 200
    assert "make run" in response.text
    assert "npm run build" in response.text
