"""Job overhead and worker throughput: a backtest as a job (POST /backtest/run until the job is
completed) against the same `freqtrade backtesting` command run by hand, and ten backtests with
one `multibot worker` process against two.

It starts a real server (`multibot serve`, its embedded market simulator, Redis as the job
broker, SQLite in a throw-away DATA_DIR) and real `multibot worker` processes, then:

1. downloads the candles once (a download job), so neither side below downloads anything;
2. one unmeasured backtest job (the server creates freqtrade's templates on first use);
3. overhead, `--runs` times each, alternating: a backtest job through one worker (wall time
   from the POST until GET /backtest/jobs says completed, polled every 250 ms; the job's own
   queued/started/finished times and the worker's timing of freqtrade are recorded too), and
   the very command line the worker ran (taken from the job's freqtrade.log) started by hand
   with subprocess, timed from spawn to exit, writing its export elsewhere;
4. throughput: `--jobs` shorter backtests submitted at once, with one worker process
   (`--concurrency 1`), then again with two worker processes (one job each at a time).

    .venv/bin/python benchmarks/job_overhead.py                      # ~1 min backtests
    .venv/bin/python benchmarks/job_overhead.py --days 30 --runs 2 --throughput-days 5

Every process it starts is stopped on the way out.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from api_latency import (
    LOOPBACK,
    ServerFailed,
    envelope_data,
    free_loopback_port,
    log_tail,
    server_command,
    server_environment,
    stop_server,
    wait_until_healthy,
)

POLL_SECONDS = 0.25
JOB_TIMEOUT_SECONDS = 1800.0
PASSWORD = "Jobs-Overhead-Pw-2026!"  # noqa: S105 - a throw-away local account


def timerange(days: int, end_days_ago: int = 1) -> str:
    today = datetime.now(UTC).date()
    end = today - timedelta(days=end_days_ago)
    return f"{end - timedelta(days=days):%Y%m%d}-{end:%Y%m%d}"


@contextmanager
def process(
    command: list[str], env: dict[str, str], log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("wb") as log:
        child = subprocess.Popen(  # noqa: S603 - our own entry points
            command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        try:
            yield child
        finally:
            stop_server(child)


def worker_command(concurrency: int) -> list[str]:
    return [*server_command(0)[:-5], "worker", "--concurrency", str(concurrency)]


def wait_worker(child: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while "running" not in log_path.read_text(errors="replace"):
        if child.poll() is not None or time.monotonic() > deadline:
            raise ServerFailed(f"the worker did not start:\n{log_tail(log_path)}")
        time.sleep(0.1)


class Api:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=f"{base_url}/api/v1", timeout=30.0)

    def login(self) -> None:
        user = {"username": "bench", "email": "bench@example.com", "password": PASSWORD}
        envelope_data(self.http.post("/auth/register", json=user))
        token = envelope_data(
            self.http.post("/auth/login", json={"username": "bench", "password": PASSWORD})
        )
        assert isinstance(token, dict)
        self.http.headers["Authorization"] = f"Bearer {token['access_token']}"

    def submit(self, path: str, body: dict[str, Any]) -> int:
        job = envelope_data(self.http.post(f"/backtest/{path}", json=body))
        assert isinstance(job, dict)
        return int(job["id"])

    def job(self, job_id: int) -> dict[str, Any]:
        job = envelope_data(self.http.get(f"/backtest/jobs/{job_id}"))
        assert isinstance(job, dict)
        return job

    def wait(self, job_ids: list[int], poll: float = POLL_SECONDS) -> dict[int, float]:
        """Job id -> monotonic time it was first seen completed (one list request per poll)."""
        done: dict[int, float] = {}
        deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
        while len(done) < len(job_ids):
            if time.monotonic() > deadline:
                raise ServerFailed(f"jobs not finished in time: {sorted(set(job_ids) - set(done))}")
            page = envelope_data(self.http.get("/backtest/jobs", params={"limit": 500}))
            assert isinstance(page, dict)
            now = time.monotonic()
            for job in page["items"]:
                if job["id"] not in job_ids or job["id"] in done:
                    continue
                if job["state"] in ("failed", "cancelled"):
                    raise ServerFailed(f"job {job['id']} {job['state']}: {job['error']}")
                if job["state"] == "completed":
                    done[job["id"]] = now
            time.sleep(poll)
        return done


def backtest(pairs: list[str], days: int) -> dict[str, Any]:
    return {
        "strategy": "SampleStrategy",
        "pairs": pairs,
        "timeframe": "5m",
        "timerange": timerange(days),
        "dry_run_wallet": 1000,
        "stake_amount": 100,
        "max_open_trades": len(pairs),
    }


def freqtrade_seconds(data_dir: Path, job_id: int) -> float:
    """How long the worker's freqtrade command ran (the worker logs it as it ends)."""
    attempt = next((data_dir / "jobs" / str(job_id)).glob("attempt-*"))
    lines = (attempt / "freqtrade.log").read_text().splitlines()
    ends = [line for line in lines if line.startswith("# exit ")]
    return sum(float(line.split()[-2]) for line in ends)


def by_hand(data_dir: Path, job_id: int, scratch: Path) -> float:
    """The worker's own command line for job `job_id`, run directly; its wall time."""
    attempt = next((data_dir / "jobs" / str(job_id)).glob("attempt-*"))
    first = (attempt / "freqtrade.log").read_text().splitlines()[0]
    args = shlex.split(first.removeprefix("$ freqtrade "))
    at = args.index("--backtest-directory")
    scratch.mkdir(parents=True, exist_ok=True)
    args[at + 1] = str(scratch)
    executable = Path(__file__).resolve().parents[1] / ".freqtrade" / "bin" / "freqtrade"
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - the pinned freqtrade, the worker's own arguments
        [str(executable), *args], cwd=attempt, capture_output=True, check=False
    )
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise ServerFailed(f"freqtrade by hand failed: {result.stdout[-2000:]!r}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", default="BTC/USDT,ETH/USDT,SOL/USDT")
    parser.add_argument("--days", type=int, default=365, help="overhead backtest length")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--throughput-days", type=int, default=14)
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--json-out", type=Path)
    options = parser.parse_args()
    pairs = options.pairs.split(",")

    with tempfile.TemporaryDirectory(prefix="job-bench-") as tmp:
        work = Path(tmp)
        data_dir = work / "data"
        port = free_loopback_port()
        env = server_environment(data_dir, f"sqlite:///{data_dir / 'bench.db'}", options.redis_url)
        env |= {
            "SIMULATOR_ENABLED": "true",
            "SIMULATOR_PORT": str(free_loopback_port()),
            "DEMO_FLEET": "false",
            "LOG_LEVEL": "WARNING",
        }
        base_url = f"http://{LOOPBACK}:{port}"
        with process(server_command(port), env, work / "server.log") as server:
            wait_until_healthy(base_url, server, work / "server.log")
            api = Api(base_url)
            api.login()
            results: dict[str, Any] = {
                "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                "options": {k: str(v) for k, v in vars(options).items()},
            }

            with process(worker_command(1), env, work / "worker-1.log") as worker:
                wait_worker(worker, work / "worker-1.log")
                # Candles once, with room for the strategy's start-up candles.
                started = time.monotonic()
                download = api.submit(
                    "data/download",
                    {
                        "pairs": pairs,
                        "timeframes": ["5m"],
                        "timerange": timerange(options.days + 3),
                    },
                )
                api.wait([download])
                results["download_seconds"] = round(time.monotonic() - started, 2)
                # One unmeasured job: the server makes freqtrade's template directory (where
                # SampleStrategy comes from) on first use, and the page cache warms up.
                api.wait([api.submit("run", backtest(pairs, options.days))])

                jobs, hands, waits, runs, freqtrades = [], [], [], [], []
                for run in range(options.runs):
                    submitted = time.monotonic()
                    job_id = api.submit("run", backtest(pairs, options.days))
                    finished = api.wait([job_id])[job_id]
                    jobs.append(finished - submitted)
                    job = api.job(job_id)
                    stamps = {
                        k: datetime.fromisoformat(job[k])
                        for k in ("queued_at", "started_at", "finished_at")
                    }
                    waits.append((stamps["started_at"] - stamps["queued_at"]).total_seconds())
                    runs.append((stamps["finished_at"] - stamps["started_at"]).total_seconds())
                    freqtrades.append(freqtrade_seconds(data_dir, job_id))
                    hands.append(by_hand(data_dir, job_id, work / f"by-hand-{run}"))
                    print(
                        f"run {run + 1}: job {jobs[-1]:.2f} s (queued {waits[-1]:.2f} s, "
                        f"in the worker {runs[-1]:.2f} s, "
                        f"of which freqtrade {freqtrades[-1]:.2f} s), "
                        f"by hand {hands[-1]:.2f} s, "
                        f"{job['results']['summary']['total_trades']} trades"
                    )
                job_median, hand_median = statistics.median(jobs), statistics.median(hands)
                results["overhead"] = {
                    "job_seconds": [round(x, 2) for x in jobs],
                    "by_hand_seconds": [round(x, 2) for x in hands],
                    "queued_seconds": [round(x, 2) for x in waits],
                    "in_worker_seconds": [round(x, 2) for x in runs],
                    "freqtrade_in_worker_seconds": [round(x, 2) for x in freqtrades],
                    "job_median": round(job_median, 2),
                    "by_hand_median": round(hand_median, 2),
                    "overhead_percent": round(100 * (job_median - hand_median) / hand_median, 2),
                    # Robust to a busy machine: the job's own time around its freqtrade run
                    # (queueing, pickup, files, export parsing, storing, polling), run by run.
                    "overhead_around_freqtrade_percent": round(
                        100
                        * statistics.median(
                            (job - ft) / ft for job, ft in zip(jobs, freqtrades, strict=True)
                        ),
                        2,
                    ),
                }
                print(json.dumps(results["overhead"]))

                results["one_worker"] = throughput(api, pairs, options)
                print("one worker:", json.dumps(results["one_worker"]))
            with (
                process(worker_command(1), env, work / "worker-a.log") as first,
                process(worker_command(1), env, work / "worker-b.log") as second,
            ):
                wait_worker(first, work / "worker-a.log")
                wait_worker(second, work / "worker-b.log")
                results["two_workers"] = throughput(api, pairs, options)
                print("two workers:", json.dumps(results["two_workers"]))
            speedup = results["one_worker"]["seconds"] / results["two_workers"]["seconds"]
            results["speedup"] = round(speedup, 2)
            print(json.dumps(results, indent=2))
            if options.json_out:
                options.json_out.write_text(json.dumps(results, indent=2))


def throughput(api: Api, pairs: list[str], options: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    ids = [api.submit("run", backtest(pairs, options.throughput_days)) for _ in range(options.jobs)]
    finished = api.wait(ids, poll=0.5)
    seconds = max(finished.values()) - started
    return {
        "jobs": len(ids),
        "seconds": round(seconds, 2),
        "jobs_per_minute": round(60 * len(ids) / seconds, 2),
    }


if __name__ == "__main__":
    with suppress(KeyboardInterrupt):
        main()
