"""Running the freqtrade CLI (decision 1: freqtrade is driven, never imported)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from core_server.core.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Where `make install` puts freqtrade's own environment.
BUNDLED_FREQTRADE = PROJECT_ROOT / ".freqtrade" / "bin" / "freqtrade"


class FreqtradeMissing(RuntimeError):
    """No freqtrade executable where the settings say, nor on PATH."""


def freqtrade_executable(settings: Settings) -> Path:
    if settings.freqtrade_bin is not None:
        if not settings.freqtrade_bin.exists():
            raise FreqtradeMissing(f"FREQTRADE_BIN={settings.freqtrade_bin} does not exist")
        return settings.freqtrade_bin
    if BUNDLED_FREQTRADE.exists():
        return BUNDLED_FREQTRADE
    found = shutil.which("freqtrade")
    if found is None:
        raise FreqtradeMissing(
            "freqtrade is not installed: run `make install` or set FREQTRADE_BIN"
        )
    return Path(found)


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def output(self) -> str:
        return f"{self.stdout}\n{self.stderr}"


async def run_freqtrade(
    executable: Path,
    args: list[str],
    *,
    limit_seconds: float,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> CommandResult:
    """Run one freqtrade command to completion; past the timeout its whole process group is
    killed, so no orphan is left behind."""
    process = await asyncio.create_subprocess_exec(
        str(executable),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        cwd=cwd,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), limit_seconds)
    except TimeoutError:
        kill_group(process.pid, signal.SIGKILL)
        stdout, stderr = await process.communicate()
        return CommandResult(
            -9, stdout.decode(errors="replace"), stderr.decode(errors="replace"), True
        )
    except asyncio.CancelledError:
        kill_group(process.pid, signal.SIGKILL)
        raise
    assert process.returncode is not None  # noqa: S101 - communicate() waited for it
    return CommandResult(
        process.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace")
    )


def kill_group(pid: int, sig: signal.Signals) -> bool:
    """Signal a process group we started (start_new_session makes the pid its group id)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


_CONFIG_ERROR = re.compile(r"(?:Configuration error|Invalid configuration\. Reason):\s*(.+)")
_LOG_PREFIX = re.compile(r"^\S+ \S+ - [\w.]+ - [A-Z]+ - ")


def config_error(result: CommandResult) -> str | None:
    """freqtrade's own reason for refusing a config (`show-config` exits 0 even then)."""
    match = _CONFIG_ERROR.search(result.output)
    if match:
        return match.group(1).strip()
    if result.timed_out:
        return "freqtrade did not finish checking the configuration in time"
    if "Your combined configuration is" not in result.stdout:
        lines = [_LOG_PREFIX.sub("", line) for line in result.output.splitlines() if line.strip()]
        errors = [line for line in lines if "ERROR" in line or "Error" in line]
        return (errors or lines or ["freqtrade refused the configuration"])[-1][:500]
    return None
