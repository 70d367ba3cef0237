"""The strategy library API: saving checked by the real freqtrade, versions and their diffs,
hostile input, tenancy and roles, and templates."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from core_server.audit.models import AuditEntry
from core_server.auth.models import Role
from core_server.strategies.models import StrategyVersion
from tests.helpers import UserFactory, assert_error, assert_ok, assert_owner_only
from tests.strategies.support import STRATEGIES, save, strategy_code

pytestmark = pytest.mark.freqtrade


async def test_save_version_diff_and_delete(
    users: UserFactory, client: httpx.AsyncClient, app: FastAPI
) -> None:
    trader = await users.create()
    saved = await save(
        client,
        trader,
        description="first try",
        tags=["rsi", "test"],
        parameters={"buy": {"buy_rsi": 28}},
    )
    assert (saved["name"], saved["version"], saved["is_active"]) == ("MyStrategy", 1, True)
    assert saved["code"] == strategy_code() and saved["version_id"]
    assert saved["parameters"] == {"buy": {"buy_rsi": 28}} and saved["tags"] == ["rsi", "test"]
    shown = {p["name"]: p for p in saved["hyperopt_parameters"]}
    assert shown["buy_rsi"] | {"declared_in": "x"} == shown["buy_rsi"] | {
        "type": "int",
        "space": "buy",
        "low": 10,
        "high": 40,
        "default": 30,
        "declared_in": "x",
    }
    # No space= given: freqtrade's rule puts sell_gain in the sell space, as shown.
    assert (shown["sell_gain"]["type"], shown["sell_gain"]["space"]) == ("decimal", "sell")
    assert shown["sell_gain"]["decimals"] == 3
    sid = saved["id"]
    url = f"{STRATEGIES}/{sid}"

    listed = assert_ok(await client.get(STRATEGIES, headers=trader.headers))
    assert listed["total"] == 1 and "code" not in listed["items"][0]
    assert listed["items"][0]["version_id"] == saved["version_id"]
    for query, total in (({"tag": "rsi"}, 1), ({"tag": "nope"}, 0), ({"search": "mystr"}, 1)):
        page = assert_ok(await client.get(STRATEGIES, params=query, headers=trader.headers))
        assert page["total"] == total, query

    # Only code and parameters make versions; a description does not.
    described = assert_ok(
        await client.put(url, json={"description": "renamed"}, headers=trader.headers)
    )
    assert (described["description"], described["version"]) == ("renamed", 1)
    second = assert_ok(
        await client.put(
            url,
            json={"code": strategy_code(rsi=25), "message": "lower rsi"},
            headers=trader.headers,
        )
    )
    assert second["version"] == 2 and second["version_id"] != saved["version_id"]
    third = assert_ok(
        await client.put(url, json={"parameters": {"buy": {"buy_rsi": 22}}}, headers=trader.headers)
    )
    assert third["version"] == 3 and third["code"] == strategy_code(rsi=25)

    versions = assert_ok(await client.get(f"{url}/versions", headers=trader.headers))
    assert [v["number"] for v in versions["items"]] == [3, 2, 1]
    assert versions["items"][1]["message"] == "lower rsi" and "code" not in versions["items"][0]
    first = assert_ok(await client.get(f"{url}/versions/1", headers=trader.headers))
    assert first["code"] == strategy_code() and first["parameters"] == {"buy": {"buy_rsi": 28}}
    assert first["created_by"] == trader.id and first["origin"] == "api"
    assert {p["name"]: p["default"] for p in first["hyperopt_parameters"]}["buy_rsi"] == 30

    code_diff = assert_ok(
        await client.get(
            f"{url}/versions/diff", params={"from": 1, "to": 2}, headers=trader.headers
        )
    )
    assert code_diff["code_changed"] and not code_diff["parameters_changed"]
    assert "-    buy_rsi = IntParameter(10, 40, default=30" in code_diff["code_diff"]
    assert "+    buy_rsi = IntParameter(10, 40, default=25" in code_diff["code_diff"]
    params_diff = assert_ok(
        await client.get(
            f"{url}/versions/diff", params={"from": 2, "to": 3}, headers=trader.headers
        )
    )
    assert not params_diff["code_changed"] and params_diff["code_diff"] == ""
    assert '+    "buy_rsi": 22' in params_diff["parameters_diff"]
    missing = assert_error(
        await client.get(
            f"{url}/versions/diff", params={"from": 1, "to": 9}, headers=trader.headers
        ),
        404,
        "STRATEGY_VERSION_NOT_FOUND",
    )
    assert missing["details"]["fields"][0]["field"] == "to"
    assert_error(await client.get(f"{url}/versions/7", headers=trader.headers), 404)

    assert_ok(await client.delete(url, headers=trader.headers))
    assert_error(await client.get(url, headers=trader.headers), 404, "STRATEGY_NOT_FOUND")
    async with app.state.database.transaction() as session:
        assert (await session.execute(select(StrategyVersion))).first() is None
        actions = (
            (await session.execute(select(AuditEntry.action).order_by(AuditEntry.id)))
            .scalars()
            .all()
        )
    assert [a for a in actions if a.startswith("strategy.")] == [
        "strategy.create",
        "strategy.update",
        "strategy.update",
        "strategy.update",
        "strategy.delete",
    ]
    feed = assert_ok(
        await client.get(
            "/api/v1/activity", params={"type": "strategy.change"}, headers=trader.headers
        )
    )
    assert [e["payload"]["action"] for e in reversed(feed["items"])] == [
        "created",
        "updated",
        "updated",
        "updated",
        "deleted",
    ]
    assert feed["items"][0]["summary"] == "Strategy MyStrategy deleted"


BROKEN = {
    "missing module": (
        "import a_module_that_does_not_exist\n" + strategy_code(),
        "No module named 'a_module_that_does_not_exist'",
    ),
    "error at import": (
        strategy_code() + "\nraise RuntimeError('refusing to load')\n",
        "RuntimeError: refusing to load",
    ),
    "not a strategy": ("class MyStrategy:\n    pass\n", "no strategy class named MyStrategy"),
}


async def test_freqtrade_refuses_broken_code_and_nothing_changes(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    trader = await users.create()
    for label, (code, reason) in BROKEN.items():
        response = await client.post(
            STRATEGIES, json={"name": "MyStrategy", "code": code}, headers=trader.headers
        )
        error = assert_error(response, 422, "INVALID_STRATEGY")
        assert reason in error["message"], (label, error)
        assert reason in error["details"]["freqtrade"], label
        assert error["details"]["fields"][0]["field"] == "code"
    assert assert_ok(await client.get(STRATEGIES, headers=trader.headers))["total"] == 0

    # An existing strategy keeps its code and version when a broken change is refused.
    saved = await save(client, trader)
    url = f"{STRATEGIES}/{saved['id']}"
    code, _ = BROKEN["error at import"]
    assert_error(await client.put(url, json={"code": code}, headers=trader.headers), 422)
    kept = assert_ok(await client.get(url, headers=trader.headers))
    assert (kept["code"], kept["version"]) == (saved["code"], 1)
    versions = assert_ok(await client.get(f"{url}/versions", headers=trader.headers))
    assert versions["total"] == 1


async def test_hostile_input_gets_clear_errors(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    trader = await users.create()
    cases = {
        "syntax error": ({"name": "MyStrategy", "code": "def broken(:\n"}, "code", "line 1"),
        "class name mismatch": (
            {"name": "OtherName", "code": strategy_code()},
            "code",
            "it defines MyStrategy",
        ),
        "path traversal name": ({"name": "../../etc/x", "code": strategy_code()}, "name", None),
        "name with a dot": ({"name": "my.strategy", "code": strategy_code()}, "name", None),
        "huge code": ({"name": "MyStrategy", "code": "#" * 300_000}, "code", "256 KiB"),
        "NUL": ({"name": "MyStrategy", "code": strategy_code() + "\x00"}, "code", "NUL"),
        "empty code": ({"name": "MyStrategy", "code": "  \n"}, "code", None),
        "owner field": ({"name": "MyStrategy", "code": "x", "owner_id": 1}, "owner_id", None),
        "version field": ({"name": "MyStrategy", "code": "x", "version": 9}, "version", None),
        "parameters not by space": (
            {"name": "MyStrategy", "code": strategy_code(), "parameters": {"buy_rsi": 3}},
            "parameters",
            "must map",
        ),
        "deep nesting": (
            {"name": "MyStrategy", "code": "x = " + "[" * 500 + "]" * 500 + "\n"},
            "code",
            None,
        ),
    }
    for label, (body, field, text) in cases.items():
        error = assert_error(await client.post(STRATEGIES, json=body, headers=trader.headers), 422)
        fields = error["details"].get("fields", [])
        assert field in [f["field"] for f in fields], (label, error)
        if text:
            assert text in str(error), (label, error)

    # JSON may carry a lone surrogate (\ud800), which is no UTF-8 text to store or run.
    surrogate = await client.post(
        STRATEGIES,
        content=b'{"name": "MyStrategy", "code": "# \\ud800\\n"}',
        headers={**trader.headers, "content-type": "application/json"},
    )
    assert "UTF-8" in str(assert_error(surrogate, 422))
    not_utf8 = await client.post(
        STRATEGIES,
        content=b'{"name": "MyStrategy", "code": "\xff\xfe"}',
        headers={**trader.headers, "content-type": "application/json"},
    )
    assert_error(not_utf8, 400)  # the body is not JSON text at all
    too_big = await client.post(
        STRATEGIES,
        content=b'{"name": "MyStrategy", "code": "' + b"#" * 2_000_000 + b'"}',
        headers={**trader.headers, "content-type": "application/json"},
    )
    assert_error(too_big, 413)
    assert assert_ok(await client.get(STRATEGIES, headers=trader.headers))["total"] == 0


async def test_tenancy_and_roles(users: UserFactory, client: httpx.AsyncClient) -> None:
    owner = await users.create(Role.trader)
    stranger = await users.create(Role.trader)
    viewer = await users.create(Role.viewer)
    admin = await users.create(Role.admin)
    saved = await save(client, owner)
    path = f"{STRATEGIES}/{saved['id']}"
    missing = f"{STRATEGIES}/999999"
    for method, suffix, body in (
        ("GET", "", None),
        ("GET", "/versions", None),
        ("GET", "/versions/1", None),
        ("GET", "/versions/diff?from=1&to=1", None),
        ("PUT", "", {"description": "mine"}),
    ):
        await assert_owner_only(
            client,
            method,
            path + suffix,
            owner=owner,
            stranger=stranger,
            missing_path=missing + suffix,
            json=body,
        )
    assert_error(await client.delete(path, headers=stranger.headers), 404)
    assert assert_ok(await client.get(STRATEGIES, headers=stranger.headers))["total"] == 0
    # Viewers read (their own) but never save code; admins see and may change every strategy.
    body = {"name": "ViewerStrategy", "code": strategy_code("ViewerStrategy")}
    assert_error(await client.post(STRATEGIES, json=body, headers=viewer.headers), 403)
    assert_error(await client.put(path, json={"description": "x"}, headers=viewer.headers), 403)
    assert assert_ok(await client.get(STRATEGIES, headers=admin.headers))["total"] == 1
    changed = assert_ok(
        await client.put(path, json={"code": strategy_code(rsi=33)}, headers=admin.headers)
    )
    assert changed["owner_id"] == owner.id and changed["version"] == 2
    second = assert_ok(await client.get(f"{path}/versions/2", headers=owner.headers))
    assert second["created_by"] == admin.id


async def test_names_clash_per_owner_and_rename_follows_the_class(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    alice = await users.create()
    bob = await users.create()
    first = await save(client, alice)
    clash = await client.post(
        STRATEGIES, json={"name": "MyStrategy", "code": strategy_code()}, headers=alice.headers
    )
    assert_error(clash, 409, "STRATEGY_NAME_TAKEN")
    assert (await save(client, bob))["owner_id"] == bob.id  # bob's own namespace

    url = f"{STRATEGIES}/{first['id']}"
    # A new name needs code whose class carries it.
    refused = assert_error(
        await client.put(url, json={"name": "Renamed"}, headers=alice.headers), 422
    )
    assert refused["details"]["fields"][0]["field"] == "name"
    renamed = assert_ok(
        await client.put(
            url, json={"name": "Renamed", "code": strategy_code("Renamed")}, headers=alice.headers
        )
    )
    assert (renamed["name"], renamed["version"]) == ("Renamed", 2)
    old = assert_ok(await client.get(f"{url}/versions/1", headers=alice.headers))
    assert old["class_name"] == "MyStrategy"


async def test_templates_are_listed_and_copied(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    trader = await users.create()
    viewer = await users.create(Role.viewer)
    templates = assert_ok(await client.get(f"{STRATEGIES}/templates", headers=viewer.headers))
    by_name = {t["name"]: t for t in templates}
    assert {"RsiEmaStrategy", "FreqaiLightGBMStrategy"} <= set(by_name)
    rsi = by_name["RsiEmaStrategy"]
    assert {p["name"] for p in rsi["hyperopt_parameters"]} == {
        "buy_rsi",
        "buy_ema_fast",
        "buy_ema_slow",
        "sell_rsi",
    }
    freqai = by_name["FreqaiLightGBMStrategy"]
    assert freqai["config"]["freqaimodel"] == "LightGBMRegressor"
    assert freqai["config"]["freqai"]["enabled"] is True and "lightgbm" in freqai["requires"]
    assert_ok(await client.get(f"{STRATEGIES}/templates/RsiEmaStrategy", headers=trader.headers))
    assert_error(
        await client.get(f"{STRATEGIES}/templates/Nope", headers=trader.headers),
        404,
        "TEMPLATE_NOT_FOUND",
    )

    # freqtrade loads both templates, as copied and as renamed.
    copies = {
        "RsiEmaStrategy": {"template": "RsiEmaStrategy"},
        "MyFreqai": {"template": "FreqaiLightGBMStrategy", "name": "MyFreqai", "tags": ["ml"]},
    }
    for name, body in copies.items():
        copied = assert_ok(
            await client.post(f"{STRATEGIES}/templates/copy", json=body, headers=trader.headers),
            201,
        )
        assert copied["name"] == name and f"class {name}(IStrategy)" in copied["code"]
        version = assert_ok(
            await client.get(f"{STRATEGIES}/{copied['id']}/versions/1", headers=trader.headers)
        )
        assert version["origin"] == "template"
    mine = assert_ok(await client.get(STRATEGIES, params={"tag": "ml"}, headers=trader.headers))
    assert [s["name"] for s in mine["items"]] == ["MyFreqai"]
    unknown = await client.post(
        f"{STRATEGIES}/templates/copy", json={"template": "Nope"}, headers=trader.headers
    )
    assert_error(unknown, 404, "TEMPLATE_NOT_FOUND")
    refused = await client.post(
        f"{STRATEGIES}/templates/copy", json={"template": "RsiEmaStrategy"}, headers=viewer.headers
    )
    assert_error(refused, 403)
