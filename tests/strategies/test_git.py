"""Strategies from git: a real local repository, imported and re-synced through the API, and
hostile repository URLs refused."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from core_server.core.app import create_application
from core_server.core.settings import Environment
from core_server.strategies.models import Strategy, StrategySource
from tests.conftest import asgi_client, make_settings
from tests.helpers import UserFactory, assert_error, assert_ok
from tests.strategies.support import STRATEGIES, save, strategy_code

pytestmark = pytest.mark.freqtrade

SOURCES = f"{STRATEGIES}/sources"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Tester",
    "GIT_AUTHOR_EMAIL": "tester@example.com",
    "GIT_COMMITTER_NAME": "Tester",
    "GIT_COMMITTER_EMAIL": "tester@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(  # noqa: S603 - our own arguments
        ["git", *args],  # noqa: S607 - git from PATH, as the server uses it
        cwd=repo,
        env={**os.environ, **GIT_ENV},
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


def commit(repo: Path, files: dict[str, str | None], message: str) -> str:
    """Write (or, for None, delete) files and commit them; returns the commit id."""
    for name, content in files.items():
        path = repo / name
        if content is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "strategy-repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commit(
        root,
        {
            "README.md": "# strategies\n",
            "strategies/alpha.py": strategy_code("AlphaStrategy"),
            "strategies/beta.py": strategy_code("BetaStrategy"),
            "strategies/helpers.py": "def helper() -> int:\n    return 1\n",
            "strategies/broken.py": "import a_module_nobody_has\n" + strategy_code("BrokenOne"),
            "elsewhere/gamma.py": strategy_code("GammaStrategy"),
        },
        "first strategies",
    )
    (root / "strategies" / "latin1.py").write_bytes(b"# caf\xe9\nclass X:\n    pass\n")
    # A symlink to a server file must never be read as a strategy.
    (root / "strategies" / "leak.py").symlink_to("/etc/passwd")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "a link")
    return root


def by_path(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{f['path']}:{f['strategy']}": f for f in result["files"]}


async def test_import_and_resync_make_versions_only_for_changed_files(
    users: UserFactory, client: httpx.AsyncClient, app: FastAPI, repo: Path
) -> None:
    trader = await users.create()
    stranger = await users.create()
    body = {"url": f"file://{repo}", "branch": "main", "path": "strategies"}
    imported = assert_ok(await client.post(SOURCES, json=body, headers=trader.headers), 201)
    files = by_path(imported)
    assert files["strategies/alpha.py:AlphaStrategy"]["action"] == "created"
    assert files["strategies/beta.py:BetaStrategy"]["action"] == "created"
    broken = files["strategies/broken.py:BrokenOne"]
    assert broken["action"] == "failed" and "a_module_nobody_has" in broken["error"]
    assert files["strategies/leak.py:None"]["action"] == "failed"  # the link text, not the file
    assert files["strategies/latin1.py:None"]["error"] == "not UTF-8 text"
    assert "root:" not in str(imported)
    assert not any(key.startswith("elsewhere/") for key in files)  # outside the path
    source = imported["source"]
    assert source["last_commit"] == git(repo, "rev-parse", "HEAD")
    assert source["has_token"] is False and source["branch"] == "main"

    listed = assert_ok(await client.get(STRATEGIES, headers=trader.headers))
    assert sorted(s["name"] for s in listed["items"]) == ["AlphaStrategy", "BetaStrategy"]
    assert {s["source_id"] for s in listed["items"]} == {source["id"]}
    alpha_id = files["strategies/alpha.py:AlphaStrategy"]["strategy_id"]

    sync_url = f"{SOURCES}/{source['id']}/sync"
    again = by_path(assert_ok(await client.post(sync_url, headers=trader.headers)))
    assert again["strategies/alpha.py:AlphaStrategy"]["action"] == "unchanged"
    assert again["strategies/beta.py:BetaStrategy"]["action"] == "unchanged"

    new_commit = commit(
        repo,
        {"strategies/alpha.py": strategy_code("AlphaStrategy", rsi=21), "strategies/beta.py": None},
        "tune alpha, drop beta",
    )
    synced = assert_ok(await client.post(sync_url, headers=trader.headers))
    files = by_path(synced)
    assert files["strategies/alpha.py:AlphaStrategy"] | {"error": None} == {
        "path": "strategies/alpha.py",
        "strategy": "AlphaStrategy",
        "strategy_id": alpha_id,
        "action": "updated",
        "version": 2,
        "error": None,
    }
    assert files["strategies/beta.py:BetaStrategy"]["action"] == "missing"  # kept, not deleted
    assert synced["commit"] == new_commit
    versions = assert_ok(
        await client.get(f"{STRATEGIES}/{alpha_id}/versions", headers=trader.headers)
    )
    assert [(v["number"], v["origin"]) for v in versions["items"]] == [(2, "git"), (1, "git")]
    assert new_commit[:12] in versions["items"][0]["message"]
    diff = assert_ok(
        await client.get(
            f"{STRATEGIES}/{alpha_id}/versions/diff",
            params={"from": 1, "to": 2},
            headers=trader.headers,
        )
    )
    assert "default=21" in diff["code_diff"]

    # Other tenants see no source; deleting it keeps the strategies.
    assert_error(await client.get(f"{SOURCES}/{source['id']}", headers=stranger.headers), 404)
    assert_error(await client.post(sync_url, headers=stranger.headers), 404)
    assert assert_ok(await client.get(SOURCES, headers=stranger.headers))["total"] == 0
    assert_ok(await client.delete(f"{SOURCES}/{source['id']}", headers=trader.headers))
    kept = assert_ok(await client.get(f"{STRATEGIES}/{alpha_id}", headers=trader.headers))
    assert kept["source_id"] is None and kept["version"] == 2
    feed = assert_ok(
        await client.get(
            "/api/v1/activity", params={"type": "strategy.change"}, headers=trader.headers
        )
    )
    assert {e["payload"]["origin"] for e in feed["items"]} == {"git"}


async def test_a_repository_never_overwrites_a_strategy_of_another_origin(
    users: UserFactory, client: httpx.AsyncClient, repo: Path
) -> None:
    trader = await users.create()
    mine = await save(client, trader, "GammaStrategy")
    body = {"url": f"file://{repo}", "path": "elsewhere"}
    result = assert_ok(await client.post(SOURCES, json=body, headers=trader.headers), 201)
    [gamma] = result["files"]
    assert gamma["action"] == "failed" and "already has a strategy named" in gamma["error"]
    kept = assert_ok(await client.get(f"{STRATEGIES}/{mine['id']}", headers=trader.headers))
    assert (kept["version"], kept["source_id"]) == (1, None)
    again = await client.post(SOURCES, json=body, headers=trader.headers)
    assert_error(again, 409, "STRATEGY_SOURCE_EXISTS")


async def test_the_token_is_stored_encrypted_and_never_shown(
    users: UserFactory, client: httpx.AsyncClient, app: FastAPI, repo: Path
) -> None:
    trader = await users.create()
    token = "ghp_" + "s3cr3t" * 6
    body = {"url": f"file://{repo}", "path": "elsewhere", "token": token}
    created = await client.post(SOURCES, json=body, headers=trader.headers)
    assert token not in created.text
    source = assert_ok(created, 201)["source"]
    assert source["has_token"] is True
    for path in (SOURCES, f"{SOURCES}/{source['id']}"):
        assert token not in (await client.get(path, headers=trader.headers)).text
    synced = await client.post(f"{SOURCES}/{source['id']}/sync", headers=trader.headers)
    assert_ok(synced) and token not in synced.text
    async with app.state.database.transaction() as session:
        stored = (await session.execute(text("SELECT * FROM strategy_sources"))).mappings().one()
        row = " ".join(str(value) for value in stored.values())
        box = app.state.keys.box
        decrypted = box.decrypt(stored["token"], context=f"strategy_sources:{source['id']}:token")
    assert token not in row and decrypted == token


async def test_bad_repositories_store_nothing(
    users: UserFactory, client: httpx.AsyncClient, app: FastAPI, repo: Path
) -> None:
    trader = await users.create()
    cases = {
        "unknown branch": ({"url": f"file://{repo}", "branch": "nope"}, "GIT_FAILED", "nope"),
        "no such folder": ({"url": f"file://{repo}", "path": "missing"}, "GIT_FAILED", "missing"),
        "not a repository": ({"url": f"file://{repo}/strategies"}, "GIT_FAILED", None),
        "no such path": ({"url": "file:///nonexistent/repo"}, "URL_NOT_ALLOWED", None),
        "branch as option": ({"url": f"file://{repo}", "branch": "--upload-pack=x"}, None, None),
        "path escapes": ({"url": f"file://{repo}", "path": "../.."}, None, None),
        "metadata address": (
            {"url": "https://169.254.169.254/latest/x.git"},
            "URL_NOT_ALLOWED",
            None,
        ),
        "gopher": ({"url": "gopher://example.com/x"}, "URL_NOT_ALLOWED", None),
        "ext transport": ({"url": "ext::sh -c touch% /tmp/pwned"}, "URL_NOT_ALLOWED", None),
        "scp style": ({"url": "git@github.com:owner/repo.git"}, "URL_NOT_ALLOWED", None),
        "option as url": ({"url": "--upload-pack=touch /tmp/x"}, "URL_NOT_ALLOWED", None),
        "credentials in url": (
            {"url": "https://user:secret@example.com/x.git"},
            "URL_NOT_ALLOWED",
            None,
        ),
    }
    for label, (body, code, text_in) in cases.items():
        error = assert_error(await client.post(SOURCES, json=body, headers=trader.headers), 422)
        if code:
            assert error["code"] == code, (label, error)
        if text_in:
            assert text_in in error["message"], (label, error)
    pwned = Path("/tmp/pwned")  # noqa: S108 - the file the hostile ext:: URL would make
    assert not await asyncio.to_thread(pwned.exists)
    async with app.state.database.transaction() as session:
        assert (await session.execute(select(StrategySource))).first() is None
        assert (await session.execute(select(Strategy))).first() is None


@pytest.fixture
async def production_app(data_dir: Path, sqlite_url: str) -> AsyncIterator[FastAPI]:
    settings = make_settings(data_dir, sqlite_url, environment=Environment.production)
    app = create_application(settings=settings)
    async with app.router.lifespan_context(app):
        yield app


async def test_production_refuses_local_and_loopback_repositories(
    production_app: FastAPI, repo: Path
) -> None:
    async with asgi_client(production_app) as client:
        trader = await UserFactory(production_app, client).create()
        for url in (
            f"file://{repo}",
            "http://127.0.0.1:9/repo.git",
            "https://127.0.0.1/repo.git",
            "https://localhost/repo.git",
            "http://example.com/repo.git",
            "https://[::1]/repo.git",
            "https://169.254.169.254/repo.git",
        ):
            response = await client.post(SOURCES, json={"url": url}, headers=trader.headers)
            assert_error(response, 422, "URL_NOT_ALLOWED")
        assert assert_ok(await client.get(SOURCES, headers=trader.headers))["total"] == 0
