"""`multibot worker` refuses to start without the Redis queue it would read."""

from __future__ import annotations

from pathlib import Path

from tests.processes import run_cli, server_env


def test_worker_needs_redis(tmp_path: Path) -> None:
    result = run_cli(["worker"], env=server_env(tmp_path / "data"), cwd=tmp_path)
    assert result.returncode == 1
    assert "REDIS_URL is not set" in result.stderr
