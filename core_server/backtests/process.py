"""One freqtrade command of a job: its own process group (so cancelling reaches every child),
tied to the worker's life (PR_SET_PDEATHSIG: a worker killed with SIGKILL takes it along), its
output kept in the job's log, and freqtrade's own words picked out when it fails."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import re
import shlex
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core_server.freqtrade.commands import kill_group

_PR_SET_PDEATHSIG = 1
_prctl: Any
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


def _die_with_parent() -> None:
    # Runs in the child between fork and exec; it only makes one system call.
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


# "2026-11-25 07:07:20,322 - freqtrade - ERROR - No data found. Terminating."
_LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ - (?P<logger>[\w.]+) - (?P<level>[A-Z]+) - "
    r"(?P<message>.*)$"
)
_EXCEPTION_LINE = re.compile(
    r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)): (?P<message>.+)$"
)
_FRAME_LINE = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>.+)$')
TAIL_LINES = 400


@dataclass
class Outcome:
    returncode: int
    lines: list[str]
    timed_out: bool = False
    aborted: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and not self.aborted


@dataclass
class FreqtradeProcess:
    """Runs freqtrade commands one after another for one job; `abort()` ends the current one."""

    executable: Path
    log_path: Path
    cwd: Path
    # Called with each output line (progress markers).
    on_line: Callable[[str], None] | None = None
    pid: int | None = None
    aborted: bool = False
    _process: asyncio.subprocess.Process | None = field(default=None, repr=False)

    async def run(self, args: list[str], *, limit_seconds: float) -> Outcome:
        if self.aborted:
            return Outcome(-9, [], aborted=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        log = await asyncio.to_thread(open, self.log_path, "a", encoding="utf-8")
        try:
            log.write(f"$ freqtrade {shlex.join(args)}\n")
            started = time.monotonic()
            process = await asyncio.create_subprocess_exec(
                str(self.executable),
                *args,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # one system call, no locks taken
                # rich's progress lines can be long.
                limit=1 << 20,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
            )
            self._process, self.pid = process, process.pid
            try:
                timed_out = not await self._pump(process, tail, log, limit_seconds)
            except BaseException:
                kill_group(process.pid, signal.SIGKILL)
                with contextlib.suppress(Exception):
                    await asyncio.shield(process.wait())
                raise
            if timed_out:
                kill_group(process.pid, signal.SIGKILL)
            returncode = await process.wait()
            # Whatever freqtrade started (hyperopt's pool) ends with it.
            kill_group(process.pid, signal.SIGKILL)
            log.write(f"# exit {returncode} after {time.monotonic() - started:.3f} s\n")
        finally:
            log.close()
            self._process, self.pid = None, None
        return Outcome(returncode, list(tail), timed_out=timed_out, aborted=self.aborted)

    async def _pump(
        self,
        process: asyncio.subprocess.Process,
        tail: deque[str],
        log: object,
        limit_seconds: float,
    ) -> bool:
        assert process.stdout is not None  # noqa: S101 - asked for a pipe
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_seconds
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                raw = await asyncio.wait_for(process.stdout.readline(), remaining)
            except TimeoutError:
                return False
            except (ValueError, asyncio.LimitOverrunError):
                continue
            if not raw:
                return True
            line = raw.decode(errors="replace").rstrip("\r\n")
            tail.append(line)
            log.write(line + "\n")  # type: ignore[attr-defined]
            if self.on_line is not None:
                self.on_line(line)

    def abort(self) -> None:
        """End the running command's whole process group now (cancel, lost ownership)."""
        self.aborted = True
        if self._process is not None and self._process.returncode is None:
            kill_group(self._process.pid, signal.SIGKILL)


def failure_reason(outcome: Outcome, limit_seconds: float) -> str:
    """freqtrade's own reason for a failed command: its last ERROR line, the exception that
    ended it (with the strategy line that raised it), and the warnings that explain it."""
    if outcome.timed_out:
        return f"freqtrade did not finish within the time limit ({limit_seconds:.0f} s)"
    errors: list[str] = []
    warnings: list[str] = []
    exception: str | None = None
    frame: str | None = None
    for line in outcome.lines:
        if match := _LOG_LINE.match(line):
            if match["level"] in ("ERROR", "CRITICAL"):
                errors.append(match["message"].strip())
            elif match["level"] == "WARNING":
                warnings.append(match["message"].strip())
            continue
        if match := _FRAME_LINE.match(line):
            frame = f"{Path(match['file']).name}, line {match['line']}, in {match['function']}"
        elif match := _EXCEPTION_LINE.match(line.strip()):
            exception = f"{match['type']}: {match['message']}"
    parts = [error for error in errors if error != "Fatal exception!"][-2:]
    if exception:
        parts.append(exception + (f" ({frame})" if frame else ""))
    if not parts:
        parts = errors[-1:] or [f"freqtrade exited with code {outcome.returncode}"]
    reason = " ".join(dict.fromkeys(parts))
    relevant = [w for w in dict.fromkeys(warnings) if "pair" in w.lower() or "data" in w.lower()]
    if relevant and not exception:
        reason += " (" + "; ".join(relevant[-3:]) + ")"
    return reason[:2000]
