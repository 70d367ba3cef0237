"""Real freqtrade jobs on the server's local pool (no Redis) against the market simulator:
candles downloaded by the job itself, a backtest whose stored totals are freqtrade's own
export's, a short hyperopt, a FreqAI backtest, freqtrade's reasons for failures, and a running
job cancelled by ending its freqtrade process group."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.backtests.conftest import (
    FREQTRADE,
    days_ago,
    install_strategy,
    job_settings,
    started_app,
    wait_for_job,
)
from tests.helpers import ActingUser, UserFactory, assert_error, assert_ok
from tests.processes import ServerProcess

REQUIRED = os.environ.get("MULTIBOT_REQUIRE_SERVICES") == "1"
pytestmark = [
    pytest.mark.freqtrade,
    pytest.mark.skipif(
        not FREQTRADE.exists() and not REQUIRED, reason=f"no freqtrade at {FREQTRADE}"
    ),
]


@pytest.fixture
async def api(
    data_dir: Path, sqlite_url: str, simulator: ServerProcess
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, ActingUser]]:
    settings = job_settings(data_dir, sqlite_url, simulator_url=simulator.base_url)
    async with started_app(settings) as (app, client):
        yield app, client, await UserFactory(app, client).create()


async def submit(
    client: httpx.AsyncClient, user: ActingUser, path: str, body: dict[str, Any]
) -> int:
    job = assert_ok(
        await client.post(f"/api/v1/backtest/{path}", json=body, headers=user.headers), 202
    )
    return int(job["id"])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_backtest_downloads_its_candles_and_stores_freqtrades_own_totals(
    api: tuple[FastAPI, httpx.AsyncClient, ActingUser], data_dir: Path
) -> None:
    app, client, user = api
    timerange = days_ago(5, 2)
    job_id = await submit(
        client,
        user,
        "run",
        {
            "strategy": "SampleStrategy",
            "pairs": ["BTC/USDT", "ETH/USDT"],
            "timeframe": "5m",
            "timerange": timerange,
            "dry_run_wallet": 1000,
            "stake_amount": 100,
            "max_open_trades": 2,
            "fee": 0.001,
        },
    )
    job = await wait_for_job(client, user, job_id)
    assert job["state"] == "completed", job
    assert job["progress"] == 1.0 and job["attempts"] == 1 and job["error"] is None

    # The job fetched the candles it needed from the simulator into the shared market data.
    listed = assert_ok(await client.get("/api/v1/backtest/data", headers=user.headers))
    pairs = {(f["exchange"], f["pair"], f["timeframe"]) for f in listed["items"]}
    assert pairs == {("simulator", "BTC/USDT", "5m"), ("simulator", "ETH/USDT", "5m")}

    results = job["results"]
    summary = results["summary"]
    export = data_dir / results["export_file"]
    with zipfile.ZipFile(export) as archive:
        stats = json.loads(archive.read(f"{export.stem}.json"))["strategy"]["SampleStrategy"]
    assert summary["timerange"] == timerange
    for key in ("total_trades", "profit_total_abs", "profit_total", "final_balance",
                "max_drawdown_abs", "wins", "losses", "starting_balance"):  # fmt: skip
        assert summary[key] == stats[key], key
    assert stats["total_trades"] > 0, "the sample strategy traded nothing; pick another range"
    assert results["per_pair"] == stats["results_per_pair"]
    assert len(results["trades"]) == stats["total_trades"]
    assert sum(t["profit_abs"] for t in results["trades"]) == pytest.approx(
        stats["profit_total_abs"], abs=1e-6
    )
    assert {t["pair"] for t in results["trades"]} <= {"BTC/USDT", "ETH/USDT"}
    assert results["equity_curve"][-1]["equity"] == pytest.approx(stats["final_balance"])
    assert max(-p["drawdown_abs"] for p in results["drawdown"]) == pytest.approx(
        stats["max_drawdown_abs"]
    )
    assert max(p["drawdown_relative"] for p in results["drawdown"]) == pytest.approx(
        stats["max_drawdown_account"]
    )
    assert summary["wallet_curve"][0]["equity"] == pytest.approx(1000)
    assert {r["key"] for r in results["exit_reasons"]} >= {
        t["exit_reason"] for t in results["trades"]
    }


async def test_download_job_and_freqtrades_reasons_for_failures(
    api: tuple[FastAPI, httpx.AsyncClient, ActingUser], data_dir: Path
) -> None:
    app, client, user = api
    install_strategy(data_dir, "broken_midway.py")
    download = await submit(
        client,
        user,
        "data/download",
        {"pairs": ["SOL/USDT"], "timeframes": ["15m"], "timerange": days_ago(3, 1)},
    )
    no_data = await submit(
        client,
        user,
        "run",
        {"strategy": "SampleStrategy", "pairs": ["BTC/USDT"], "timerange": "20190101-20190105"},
    )
    unknown_pair = await submit(
        client,
        user,
        "run",
        {"strategy": "SampleStrategy", "pairs": ["NOPE/USDT"], "timerange": days_ago(3, 1)},
    )
    raising = await submit(
        client,
        user,
        "run",
        {"strategy": "BrokenMidway", "pairs": ["BTC/USDT"], "timerange": days_ago(3, 1)},
    )

    done = await wait_for_job(client, user, download)
    assert done["state"] == "completed", done
    (file,) = done["results"]["files"]
    assert (file["pair"], file["timeframe"]) == ("SOL/USDT", "15m") and file["candles"] > 100

    failed = await wait_for_job(client, user, no_data)
    assert failed["state"] == "failed"
    assert "No data found" in failed["error"]
    failed = await wait_for_job(client, user, unknown_pair)
    assert failed["state"] == "failed"
    assert "NOPE/USDT" in failed["error"]
    failed = await wait_for_job(client, user, raising)
    assert failed["state"] == "failed"
    assert "ValueError: indicator blew up on purpose" in failed["error"]
    assert "populate_indicators" in failed["error"]
    assert failed["attempts"] == 1  # freqtrade's verdict is final: not retried


async def test_short_hyperopt_returns_the_best_parameters(
    api: tuple[FastAPI, httpx.AsyncClient, ActingUser],
) -> None:
    app, client, user = api
    job_id = await submit(
        client,
        user,
        "hyperopt",
        {
            "strategy": "SampleStrategy",
            "pairs": ["BTC/USDT", "ETH/USDT"],
            "timerange": days_ago(5, 2),
            "epochs": 8,
            "spaces": ["buy", "sell"],
            "loss": "SharpeHyperOptLoss",
            "random_state": 3,
        },
    )
    job = await wait_for_job(client, user, job_id)
    assert job["state"] == "completed", job
    results = job["results"]
    assert results["summary"]["epochs"] == 8
    assert 1 <= results["summary"]["best_epoch"] <= 8
    best = results["best_params"]["params"]
    assert set(best) >= {"buy_rsi", "sell_rsi"}
    # freqtrade's own parameter file holds the same values, ready to load beside the strategy.
    assert results["parameter_file"]["strategy_name"] == "SampleStrategy"
    assert results["parameter_file"]["params"]["buy"]["buy_rsi"] == best["buy_rsi"]


async def test_freqai_backtest_trains_lightgbm_offline(
    api: tuple[FastAPI, httpx.AsyncClient, ActingUser], data_dir: Path
) -> None:
    app, client, user = api
    install_strategy(data_dir, "freqai_probe.py")
    job_id = await submit(
        client,
        user,
        "run",
        {
            "strategy": "FreqaiProbe",
            "pairs": ["BTC/USDT"],
            "timerange": days_ago(4, 2),
            "freqai_model": "LightGBMRegressor",
            "config": {
                "freqai": {
                    "enabled": True,
                    "identifier": "probe",
                    "train_period_days": 2,
                    "backtest_period_days": 1,
                    "live_retrain_hours": 0,
                    "feature_parameters": {
                        "include_timeframes": ["5m"],
                        "include_corr_pairlist": [],
                        "label_period_candles": 12,
                        "include_shifted_candles": 1,
                        "indicator_periods_candles": [10, 20],
                        "DI_threshold": 0,
                        "weight_factor": 0,
                    },
                    "data_split_parameters": {"test_size": 0.25, "shuffle": False},
                    "model_training_parameters": {"n_estimators": 40, "verbosity": -1, "n_jobs": 1},
                }
            },
        },
    )
    job = await wait_for_job(client, user, job_id)
    assert job["state"] == "completed", job
    summary = job["results"]["summary"]
    assert summary["freqaimodel"] == "LightGBMRegressor"
    assert summary["freqai_identifier"] == "probe"
    assert summary["total_trades"] > 0
    log = next((data_dir / "jobs" / str(job_id)).glob("attempt-*/freqtrade.log")).read_text()
    assert "Done training BTC/USDT" in log


async def test_delete_ends_a_running_jobs_freqtrade_process_group(
    api: tuple[FastAPI, httpx.AsyncClient, ActingUser], data_dir: Path
) -> None:
    app, client, user = api
    job_id = await submit(
        client,
        user,
        "hyperopt",
        {
            "strategy": "SampleStrategy",
            "pairs": ["BTC/USDT"],
            "timerange": days_ago(4, 2),
            "epochs": 5000,
            "spaces": ["buy"],
        },
    )
    running = await wait_for_job(
        client, user, job_id, frozenset({"running"}), where=lambda j: j["stage"].startswith("epoch")
    )
    async with app.state.database.transaction() as session:
        from core_server.backtests.models import Job

        pid = (await session.get(Job, job_id)).pid  # type: ignore[union-attr]
    assert pid is not None and pid_alive(pid), running

    deleted = assert_ok(
        await client.delete(f"/api/v1/backtest/jobs/{job_id}", headers=user.headers)
    )
    assert deleted == {"id": job_id, "state": "running", "process_ended": True}
    assert not pid_alive(pid)
    assert not (data_dir / "jobs" / str(job_id)).exists()
    assert_error(await client.delete(f"/api/v1/backtest/jobs/{job_id}", headers=user.headers), 404)
    assert_error(await client.get(f"/api/v1/backtest/jobs/{job_id}", headers=user.headers), 404)


async def test_hyperopt_of_a_library_strategy_saves_its_best_parameters_as_a_version(
    api: tuple[FastAPI, httpx.AsyncClient, ActingUser], data_dir: Path
) -> None:
    app, client, user = api
    sample = data_dir / "freqtrade" / "templates" / "strategies" / "sample_strategy.py"
    code = sample.read_text().replace("class SampleStrategy(", "class LibrarySample(")
    created = assert_ok(
        await client.post(
            "/api/v1/strategies", json={"name": "LibrarySample", "code": code}, headers=user.headers
        ),
        201,
    )
    job_id = await submit(
        client,
        user,
        "hyperopt",
        {
            "strategy": "LibrarySample",
            "strategy_version": 1,
            "pairs": ["BTC/USDT", "ETH/USDT"],
            "timerange": days_ago(5, 2),
            "epochs": 6,
            "spaces": ["buy"],
            "random_state": 5,
        },
    )
    job = await wait_for_job(client, user, job_id)
    assert job["state"] == "completed", job
    assert (job["strategy_name"], job["strategy_version"]) == ("LibrarySample", 1)
    best = job["results"]["parameter_file"]["params"]["buy"]["buy_rsi"]

    saved = assert_ok(
        await client.post(
            f"/api/v1/backtest/jobs/{job_id}/save-parameters", json={}, headers=user.headers
        )
    )
    assert saved["id"] == created["id"] and saved["version"] == 2
    assert_error(
        await client.post(
            f"/api/v1/backtest/jobs/{job_id + 1000}/save-parameters", json={}, headers=user.headers
        ),
        404,
    )

    # A backtest of version 2 runs with those parameters (freqtrade reads them from the file).
    rerun = await submit(
        client,
        user,
        "run",
        {"strategy": "LibrarySample", "strategy_version": 2, **BACKTEST_RANGE},
    )
    done = await wait_for_job(client, user, rerun)
    assert done["state"] == "completed", done
    assert done["strategy_version"] == 2
    log = next((data_dir / "jobs" / str(rerun)).glob("attempt-*/freqtrade.log")).read_text()
    assert f"buy_rsi = {best}" in log


BACKTEST_RANGE = {"pairs": ["BTC/USDT"], "timerange": days_ago(3, 1)}


async def test_a_server_restart_gives_running_jobs_back_and_runs_them_again(
    data_dir: Path, sqlite_url: str, simulator: ServerProcess
) -> None:
    settings = job_settings(data_dir, sqlite_url, simulator_url=simulator.base_url)
    body = {
        "strategy": "SampleStrategy",
        "pairs": ["BTC/USDT"],
        "timerange": days_ago(4, 2),
        "epochs": 5000,
        "spaces": ["buy"],
    }
    async with started_app(settings) as (app, client):
        user = await UserFactory(app, client).create()
        job_id = await submit(client, user, "hyperopt", body)
        await wait_for_job(
            client, user, job_id, frozenset({"running"}), where=lambda j: j["pid"] is not None
        )
        async with app.state.database.transaction() as session:
            from core_server.backtests.models import Job

            pid = (await session.get(Job, job_id)).pid  # type: ignore[union-attr]
    # The server stopped: its freqtrade ended and the job went back to the queue, the run not
    # counted as an attempt.
    assert pid is not None and not pid_alive(pid)
    async with started_app(settings) as (app, client):
        job = assert_ok(await client.get(f"/api/v1/backtest/jobs/{job_id}", headers=user.headers))
        assert job["state"] in ("queued", "running") and job["attempts"] <= 1
        again = await wait_for_job(
            client, user, job_id, frozenset({"running"}), where=lambda j: j["pid"] is not None
        )
        assert again["attempts"] == 1
        assert_ok(await client.post(f"/api/v1/backtest/jobs/{job_id}/cancel", headers=user.headers))
