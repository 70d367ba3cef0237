"""The risk rules and alerts API: CRUD, validation, tenancy and roles."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update

from core_server.audit.models import AuditEntry
from core_server.auth.models import Role
from core_server.core.database import utcnow
from core_server.risk.models import RiskRule
from tests.helpers import UserFactory, assert_error, assert_ok, assert_owner_only
from tests.risk.factories import add_alert, add_bot

RULES = "/api/v1/risk/rules"
ALERTS = "/api/v1/monitoring/alerts"


async def test_rules_crud(users: UserFactory, client: httpx.AsyncClient, app: FastAPI) -> None:
    database = app.state.database
    trader = await users.create(Role.trader)
    bot = await add_bot(database, trader.id)
    headers = trader.headers

    fleet = assert_ok(
        await client.post(
            RULES,
            json={"kind": "fleet_max_drawdown", "threshold": 0.2, "action": "stop_bots"},
            headers=headers,
        ),
        201,
    )
    assert fleet["owner_id"] == trader.id and fleet["enabled"] is True
    assert Decimal(fleet["threshold"]) == Decimal("0.2") and fleet["triggered_at"] is None
    daily = assert_ok(
        await client.post(
            RULES,
            json={
                "kind": "bot_daily_loss",
                "threshold": "25.5",
                "bot_id": bot.id,
                "action": "stop_entries",
            },
            headers=headers,
        ),
        201,
    )
    assert daily["bot_id"] == bot.id and daily["action"] == "stop_entries"
    exposure = assert_ok(
        await client.post(
            RULES,
            json={"kind": "asset_max_exposure", "threshold": 500, "asset": " btc "},
            headers=headers,
        ),
        201,
    )
    assert exposure["asset"] == "BTC" and exposure["action"] == "alert"

    listed = assert_ok(await client.get(RULES, headers=headers))
    assert [r["id"] for r in listed["items"]] == [fleet["id"], daily["id"], exposure["id"]]
    assert listed["total"] == 3
    only = assert_ok(await client.get(RULES, params={"kind": "bot_daily_loss"}, headers=headers))
    assert [r["id"] for r in only["items"]] == [daily["id"]]
    assert assert_ok(await client.get(f"{RULES}/{fleet['id']}", headers=headers)) == fleet

    # A rule that fired, changed by its owner, starts afresh.
    async with database.transaction() as session:
        await session.execute(
            update(RiskRule)
            .where(RiskRule.id == fleet["id"])
            .values(triggered_at=utcnow(), peak_equity=Decimal(5000))
        )
    changed = assert_ok(
        await client.put(
            f"{RULES}/{fleet['id']}",
            json={"threshold": 0.3, "action": "stop_entries"},
            headers=headers,
        )
    )
    assert Decimal(changed["threshold"]) == Decimal("0.3") and changed["action"] == "stop_entries"
    assert changed["triggered_at"] is None and changed["peak_equity"] is None
    disabled = assert_ok(
        await client.put(f"{RULES}/{daily['id']}", json={"enabled": False}, headers=headers)
    )
    assert disabled["enabled"] is False and disabled["bot_id"] == bot.id
    each_bot = assert_ok(
        await client.put(f"{RULES}/{daily['id']}", json={"bot_id": None}, headers=headers)
    )
    assert each_bot["bot_id"] is None
    enabled_only = assert_ok(await client.get(RULES, params={"enabled": True}, headers=headers))
    assert {r["id"] for r in enabled_only["items"]} == {fleet["id"], exposure["id"]}

    raised = await add_alert(database, trader.id, rule_id=exposure["id"])
    assert_ok(await client.delete(f"{RULES}/{exposure['id']}", headers=headers))
    [kept] = assert_ok(await client.get(ALERTS, headers=headers))["items"]
    assert kept["id"] == raised.id and kept["rule_id"] is None
    assert_error(
        await client.get(f"{RULES}/{exposure['id']}", headers=headers), 404, "RISK_RULE_NOT_FOUND"
    )
    async with database.transaction() as session:
        actions = (
            await session.execute(
                select(AuditEntry.action).where(AuditEntry.resource_type == "risk_rule")
            )
        ).scalars()
        assert sorted(actions) == sorted(
            ["risk_rule.create"] * 3 + ["risk_rule.update"] * 3 + ["risk_rule.delete"]
        )


async def test_invalid_rules_are_refused_naming_the_field(
    users: UserFactory, client: httpx.AsyncClient, app: FastAPI
) -> None:
    trader = await users.create(Role.trader)
    stranger = await users.create(Role.trader)
    foreign_bot = await add_bot(app.state.database, stranger.id)
    own_bot = await add_bot(app.state.database, trader.id)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"kind": "fleet_max_drawdown", "threshold": 1.5}, "threshold"),
        ({"kind": "fleet_max_drawdown", "threshold": 0}, "threshold"),
        ({"kind": "bot_daily_loss", "threshold": -5}, "threshold"),
        ({"kind": "bot_daily_loss", "threshold": "lots"}, "threshold"),
        ({"kind": "asset_max_exposure", "threshold": 100}, "asset"),
        ({"kind": "asset_max_exposure", "threshold": 100, "asset": "BTC/USDT"}, "asset"),
        ({"kind": "fleet_max_drawdown", "threshold": 0.1, "asset": "BTC"}, "asset"),
        ({"kind": "bot_daily_loss", "threshold": 5, "action": "stop_bots"}, "action"),
        (
            {"kind": "asset_max_exposure", "threshold": 5, "asset": "ETH", "action": "stop_bots"},
            "action",
        ),
        ({"kind": "fleet_max_drawdown", "threshold": 0.1, "action": "panic"}, "action"),
        ({"kind": "fleet_max_drawdown", "threshold": 0.1, "bot_id": own_bot.id}, "bot_id"),
        ({"kind": "bot_daily_loss", "threshold": 5, "bot_id": foreign_bot.id}, "bot_id"),
        ({"kind": "bot_daily_loss", "threshold": 5, "bot_id": 999_999}, "bot_id"),
        ({"kind": "max_leverage", "threshold": 5}, "kind"),
        ({"threshold": 5}, "kind"),
        ({"kind": "bot_daily_loss", "threshold": 5, "owner_id": stranger.id}, "owner_id"),
        ({"kind": "bot_daily_loss", "threshold": 5, "triggered_at": None}, "triggered_at"),
    ]
    for body, field in cases:
        error = assert_error(
            await client.post(RULES, json=body, headers=trader.headers), 422, "VALIDATION_ERROR"
        )
        assert field in [f["field"] for f in error["details"]["fields"]], (body, error)
        assert field in error["message"], (body, error)

    rule = assert_ok(
        await client.post(
            RULES, json={"kind": "fleet_max_drawdown", "threshold": 0.1}, headers=trader.headers
        ),
        201,
    )
    for body, field in [
        ({"threshold": 2}, "threshold"),
        ({"kind": "bot_daily_loss"}, "kind"),
        ({"action": None}, "action"),
        ({"asset": "BTC"}, "asset"),
    ]:
        error = assert_error(
            await client.put(f"{RULES}/{rule['id']}", json=body, headers=trader.headers), 422
        )
        assert field in [f["field"] for f in error["details"]["fields"]], (body, error)
    unchanged = assert_ok(await client.get(f"{RULES}/{rule['id']}", headers=trader.headers))
    assert Decimal(unchanged["threshold"]) == Decimal("0.1")


async def test_rules_belong_to_their_owner(
    users: UserFactory, client: httpx.AsyncClient, app: FastAPI
) -> None:
    owner = await users.create(Role.trader)
    stranger = await users.create(Role.trader)
    viewer = await users.create(Role.viewer)
    admin = await users.create(Role.admin)
    body = {"kind": "asset_max_exposure", "threshold": 100, "asset": "ETH"}
    rule = assert_ok(await client.post(RULES, json=body, headers=owner.headers), 201)
    path, missing = f"{RULES}/{rule['id']}", f"{RULES}/{rule['id'] + 1000}"

    await assert_owner_only(
        client, "GET", path, owner=owner, stranger=stranger, missing_path=missing
    )
    await assert_owner_only(
        client,
        "PUT",
        path,
        owner=owner,
        stranger=stranger,
        missing_path=missing,
        json={"threshold": 150},
    )
    assert assert_ok(await client.get(RULES, headers=stranger.headers))["items"] == []
    assert [
        r["id"] for r in assert_ok(await client.get(RULES, headers=admin.headers))["items"]
    ] == [rule["id"]]

    # A viewer reads its own rules and changes nothing.
    assert assert_ok(await client.get(RULES, headers=viewer.headers))["total"] == 0
    assert_error(await client.post(RULES, json=body, headers=viewer.headers), 403)
    assert_error(await client.put(path, json={"threshold": 1}, headers=viewer.headers), 403)
    assert_error(await client.delete(path, headers=viewer.headers), 403)

    await assert_owner_only(
        client, "DELETE", path, owner=owner, stranger=stranger, missing_path=missing
    )
    assert_error(await client.get(path, headers=owner.headers), 404)


async def test_alerts_are_listed_filtered_and_acknowledged(
    users: UserFactory, client: httpx.AsyncClient, app: FastAPI
) -> None:
    database = app.state.database
    owner = await users.create(Role.trader)
    stranger = await users.create(Role.trader)
    admin = await users.create(Role.admin)
    viewer = await users.create(Role.viewer)
    bot = await add_bot(database, owner.id)
    now = utcnow()
    old = await add_alert(
        database, owner.id, severity="info", created_at=now - timedelta(days=2), message="old"
    )
    critical = await add_alert(
        database, owner.id, severity="critical", bot_id=bot.id, message="critical"
    )
    seen = await add_alert(
        database,
        owner.id,
        acknowledged_at=now,
        acknowledged_by=owner.id,
        message="seen",
    )
    foreign = await add_alert(database, stranger.id, message="foreign")

    async def listed(user: Any, **params: Any) -> list[int]:
        page = assert_ok(await client.get(ALERTS, params=params, headers=user.headers))
        return [a["id"] for a in page["items"]]

    assert await listed(owner) == [seen.id, critical.id, old.id]  # newest first
    assert await listed(owner, acknowledged=False) == [critical.id, old.id]
    assert await listed(owner, acknowledged=True) == [seen.id]
    assert await listed(owner, severity="critical") == [critical.id]
    assert await listed(owner, bot_id=bot.id) == [critical.id]
    assert await listed(owner, since=(now - timedelta(hours=1)).isoformat()) == [
        seen.id,
        critical.id,
    ]
    # A time without a zone is UTC.
    naive = (now - timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert await listed(owner, since=naive) == [seen.id, critical.id]
    page = assert_ok(
        await client.get(ALERTS, params={"limit": 1, "offset": 1}, headers=owner.headers)
    )
    assert [a["id"] for a in page["items"]] == [critical.id] and page["total"] == 3
    assert await listed(stranger) == [foreign.id]
    assert set(await listed(admin)) == {old.id, critical.id, seen.id, foreign.id}
    assert_error(await client.get(ALERTS, params={"severity": "doom"}, headers=owner.headers), 422)
    assert_error(await client.get(ALERTS), 401)

    path = f"{ALERTS}/{critical.id}/acknowledge"
    assert_error(await client.post(path, headers=viewer.headers), 403)
    await assert_owner_only(
        client,
        "POST",
        path,
        owner=owner,
        stranger=stranger,
        missing_path=f"{ALERTS}/{foreign.id + 1000}/acknowledge",
    )
    acknowledged = assert_ok(await client.post(path, headers=owner.headers))
    assert acknowledged["acknowledged_by"] == owner.id and acknowledged["acknowledged_at"]
    # Acknowledging again keeps the first acknowledgement.
    again = assert_ok(await client.post(path, headers=admin.headers))
    assert again["acknowledged_at"] == acknowledged["acknowledged_at"]
    assert again["acknowledged_by"] == owner.id
    assert await listed(owner, acknowledged=False) == [old.id]
    # Another tenant's alert cannot be acknowledged (it looks missing).
    assert_error(
        await client.post(f"{ALERTS}/{foreign.id}/acknowledge", headers=owner.headers),
        404,
        "ALERT_NOT_FOUND",
    )


async def test_the_routes_are_documented(client: httpx.AsyncClient) -> None:
    paths = assert_ok_json(await client.get("/openapi.json"))["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/risk/rules"])
    assert {"get", "put", "delete"} <= set(paths["/api/v1/risk/rules/{rule_id}"])
    assert "get" in paths["/api/v1/monitoring/alerts"]
    acknowledge = paths["/api/v1/monitoring/alerts/{alert_id}/acknowledge"]["post"]
    assert {"401", "403", "404"} <= set(acknowledge["responses"])
    assert acknowledge["tags"] == ["monitoring"]


def assert_ok_json(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()
