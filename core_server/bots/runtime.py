"""Running managed bots as local freqtrade processes.

Each bot is `freqtrade trade` in its own process group (so a stop reaches every child and the
bot outlives a restart of this server, to be adopted again), with its output appended to the
bot's log file. Process liveness is checked by pid *and* command line, so a recycled pid is
never mistaken for the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections import deque
from pathlib import Path
from typing import Protocol

from core_server.bots.files import BotPaths
from core_server.freqtrade.commands import kill_group


class BotRuntime(Protocol):
    """What the supervisor needs from a place that runs bots."""

    async def spawn(self, paths: BotPaths, env: dict[str, str]) -> int: ...

    def is_alive(self, pid: int, paths: BotPaths) -> bool: ...

    async def terminate(self, pid: int, paths: BotPaths, grace_seconds: float) -> None: ...


class LocalProcessRuntime:
    def __init__(self, executable: Path) -> None:
        self.executable = executable

    async def spawn(self, paths: BotPaths, env: dict[str, str]) -> int:
        log = await asyncio.to_thread(open, paths.log, "ab")
        try:
            process = await asyncio.create_subprocess_exec(
                str(self.executable),
                "trade",
                "--config",
                str(paths.config),
                "--userdir",
                str(paths.user_data),
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                cwd=paths.root,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            )
        finally:
            log.close()  # the child has its own copy of the descriptor
        return process.pid

    def is_alive(self, pid: int, paths: BotPaths) -> bool:
        proc = Path(f"/proc/{pid}")
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError, PermissionError):
            return False
        return state not in ("Z", "X") and str(paths.config) in cmdline

    async def terminate(self, pid: int, paths: BotPaths, grace_seconds: float) -> None:
        """SIGTERM, then SIGKILL if the bot has not ended within `grace_seconds`."""
        if not self.is_alive(pid, paths):
            return
        kill_group(pid, signal.SIGTERM)
        if await self._wait_dead(pid, paths, grace_seconds):
            return
        kill_group(pid, signal.SIGKILL)
        await self._wait_dead(pid, paths, 10.0)

    async def _wait_dead(self, pid: int, paths: BotPaths, wait_seconds: float) -> bool:
        """Wait until the process we signalled has ended. Not `is_alive`: a dying process
        loses its command line before it is gone, which would read as dead too early."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while loop.time() < deadline:
            if not _exists(pid):
                return True
            await asyncio.sleep(0.2)
        return not _exists(pid)


def _exists(pid: int) -> bool:
    """The process is there and not yet a zombie (a zombie has ended; only its entry is left)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError, PermissionError):
        return False
    return state not in ("Z", "X")


def log_tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log file, for a bot's error state."""
    with contextlib.suppress(FileNotFoundError), open(path, errors="replace") as log:
        return "".join(deque(log, maxlen=lines)).strip()
    return ""


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
