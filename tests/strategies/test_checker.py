"""freqtrade itself checks strategy code, in a throw-away directory with a time limit: code
that runs at import runs there (never in the server) without the server's secrets, and code
that hangs is killed with its whole process group."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core_server.core.settings import Settings
from core_server.freqtrade.commands import freqtrade_executable
from core_server.freqtrade.strategies import StrategyChecker, StrategyFile
from tests.strategies.support import strategy_code

pytestmark = pytest.mark.freqtrade


def checker(scratch: Path, limit_seconds: float = 90.0) -> StrategyChecker:
    executable = freqtrade_executable(Settings(_env_file=None))  # type: ignore[call-arg]
    return StrategyChecker(executable, scratch, limit_seconds=limit_seconds)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


async def test_import_time_code_runs_in_freqtrade_without_the_servers_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MULTIBOT_TEST_SECRET", "hunter2-do-not-leak")
    marker = tmp_path / "ran-at-import"
    code = (
        "import os, pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text(str(os.getpid()))\n"
        "raise ImportError('secret=' + os.environ.get('MULTIBOT_TEST_SECRET', 'unset'))\n"
    )
    scratch = tmp_path / "scratch"
    [verdict] = await checker(scratch).check_many([StrategyFile(code, ("Leaky",))])
    assert verdict is not None and "secret=" in verdict
    assert "hunter2" not in verdict
    assert str(scratch) not in verdict  # no server paths in the message either
    assert int(marker.read_text()) != os.getpid()  # it ran, in another process
    assert list(scratch.iterdir()) == []  # the throw-away directory is gone


async def test_code_that_hangs_at_import_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = (
        "import os, pathlib, time\n"
        f"pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))\n"
        "time.sleep(3600)\n"
    )
    verdict = await checker(tmp_path / "scratch", limit_seconds=25).check(code, "Sleepy")
    assert verdict is not None and "did not finish loading the strategy within 25 s" in verdict
    assert pid_file.exists(), "freqtrade never reached the strategy: raise the limit"
    assert not alive(int(pid_file.read_text()))


async def test_one_run_gives_each_file_its_own_verdict(tmp_path: Path) -> None:
    files = [
        StrategyFile(strategy_code("GoodOne"), ("GoodOne",)),
        StrategyFile(strategy_code("Named") + "\nraise ValueError('bad at import')\n", ("Named",)),
        StrategyFile(strategy_code("Actual"), ("Expected",)),
    ]
    verdicts = await checker(tmp_path / "scratch").check_many(files)
    assert verdicts[0] is None
    assert verdicts[1] is not None and "ValueError: bad at import" in verdicts[1]
    assert verdicts[2] is not None and "no strategy class named Expected" in verdicts[2]
