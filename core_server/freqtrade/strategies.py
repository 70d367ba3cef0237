"""Strategy files for freqtrade: finding strategy classes without running them (strategy code
runs only inside freqtrade processes, never in the API process, so class names come from the
syntax tree), checking code with freqtrade itself, and writing a strategy for a run."""

from __future__ import annotations

import ast
import asyncio
import hashlib
import json
import os
import re
import secrets
import shutil
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core_server.freqtrade.commands import run_freqtrade

SAMPLE_STRATEGY = "SampleStrategy"


def strategy_classes(path: Path) -> list[str]:
    """Names of the classes in `path` that derive from a strategy class."""
    try:
        tree = ast.parse(path.read_text(errors="replace"), filename=str(path))
    except (SyntaxError, ValueError, OSError):
        return []
    found = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        bases = [ast.unparse(base) for base in node.bases]
        if any("Strategy" in base for base in bases):
            found.append(node.name)
    return found


class StrategyCatalogue:
    """Strategies available to bots by class name, searched in order through `directories`
    (the library first, freqtrade's templates last)."""

    def __init__(self, directories: list[Path]) -> None:
        self.directories = directories

    def find(self, name: str) -> Path | None:
        for directory in self.directories:
            for path in sorted(directory.glob("*.py")):
                if name in strategy_classes(path):
                    return path
        return None

    def names(self) -> list[str]:
        found: set[str] = set()
        for directory in self.directories:
            for path in directory.glob("*.py"):
                found.update(strategy_classes(path))
        return sorted(found)


async def ensure_templates(executable: Path, templates_dir: Path) -> Path:
    """freqtrade's own user directory with its SampleStrategy, made once by
    `freqtrade create-userdir`; returns its strategies folder. Callers serialise calls."""
    strategies = templates_dir / "strategies"
    if not (strategies / "sample_strategy.py").exists():
        result = await run_freqtrade(
            executable, ["create-userdir", "--userdir", str(templates_dir)], limit_seconds=120
        )
        if not (strategies / "sample_strategy.py").exists():
            raise RuntimeError(f"freqtrade create-userdir failed: {result.output[-500:]}")
    return strategies


# --- checking strategy code with freqtrade itself ---------------------------------------------

# freqtrade loads slowly (seconds of imports before it reads a strategy), and a busy machine
# doubles that: the limit leaves room for both, and still ends code that hangs at import.
CHECK_LIMIT_SECONDS = 90.0
# At most this many checks at once per event loop: each is a freqtrade process of ~300 MB.
CHECK_CONCURRENCY = 2
MAX_REASON_CHARS = 1000
# Variables a checked strategy's process keeps. Everything else in the server's environment is
# blanked, so code that reads os.environ at import cannot echo the server's secrets back in its
# error message. (It still runs as the server's OS user, as bots do: see the README.)
KEPT_VARIABLES = frozenset({"PATH", "HOME", "LANG", "TZ", "TMPDIR", "PYTHONUNBUFFERED"})
_IMPORT_FAILED = re.compile(r"Could not import (?P<path>.+?\.py) due to '(?P<reason>.*)'$")
_LOG_LINE = re.compile(r"^\S+ \S+ - [\w.]+ - (?P<level>[A-Z]+) - (?P<message>.*)$")
_CHECKED: OrderedDict[str, None] = OrderedDict()
_CHECKED_LIMIT = 512
_SLOTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class StrategyFile:
    """Code to check, and the strategy classes freqtrade must find in it."""

    code: str
    class_names: tuple[str, ...]

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.code.encode()).hexdigest()


def _slot() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slot = _SLOTS.get(loop)
    if slot is None:
        slot = _SLOTS[loop] = asyncio.Semaphore(CHECK_CONCURRENCY)
    return slot


def _scrubbed_environment() -> dict[str, str]:
    blanked = {
        name: ""
        for name in os.environ
        if name not in KEPT_VARIABLES and not name.startswith(("LC_", "FREQTRADE__"))
    }
    # freqtrade logs through rich, which wraps lines at 80 columns when not on a terminal.
    return blanked | {"COLUMNS": "100000"}


def _log_records(output: str) -> list[str]:
    """freqtrade's log lines, each with any wrapped continuation lines joined back on."""
    records: list[str] = []
    for line in output.splitlines():
        if _LOG_LINE.match(line) or not records:
            records.append(line)
        else:
            records[-1] += line
    return records


def _crash_reason(output: str) -> str:
    """The exception that ended freqtrade, as its traceback's last line says it, or its last
    error log line."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    if "Traceback (most recent call last):" in output:
        tail = [line for line in lines if not line.startswith((" ", "\t"))]
        if tail:
            return tail[-1]
    errors = [
        match.group("message")
        for line in lines
        if (match := _LOG_LINE.match(line)) and match.group("level") in ("ERROR", "CRITICAL")
    ]
    return (errors or lines or ["freqtrade exited without saying why"])[-1]


class StrategyChecker:
    """Loads strategy code with `freqtrade list-strategies` in a throw-away user directory and
    says why freqtrade refuses it (None: it loads, and every expected class is there)."""

    def __init__(
        self, executable: Path, scratch_root: Path, limit_seconds: float = CHECK_LIMIT_SECONDS
    ) -> None:
        # Absolute: freqtrade runs with the scratch directory as its working directory.
        self.executable = executable.absolute()
        self.scratch_root = scratch_root.absolute()
        self.limit_seconds = limit_seconds

    def _key(self, item: StrategyFile) -> str:
        return f"{self.executable}:{item.digest}:{','.join(sorted(item.class_names))}"

    async def check(self, code: str, class_name: str) -> str | None:
        return (await self.check_many([StrategyFile(code, (class_name,))]))[0]

    async def check_many(self, items: list[StrategyFile]) -> list[str | None]:
        """One freqtrade run for the lot; when it crashes or hangs (one file can take the whole
        run down) each file is checked on its own, so every file gets its own verdict."""
        todo = [i for i, item in enumerate(items) if self._key(item) not in _CHECKED]
        verdicts: list[str | None] = [None] * len(items)
        if not todo:
            return verdicts
        batch = [items[i] for i in todo]
        reasons = await self._run(batch)
        if reasons is None:
            reasons = [await self._run_alone(item) for item in batch]
        for index, reason in zip(todo, reasons, strict=True):
            verdicts[index] = reason
            if reason is None:
                _CHECKED[self._key(items[index])] = None
                while len(_CHECKED) > _CHECKED_LIMIT:
                    _CHECKED.popitem(last=False)
        return verdicts

    async def _run_alone(self, item: StrategyFile) -> str | None:
        reasons = await self._run([item], alone=True)
        assert reasons is not None  # noqa: S101 - a lone file always gets a verdict
        return reasons[0]

    async def _run(
        self, items: list[StrategyFile], *, alone: bool = False
    ) -> list[str | None] | None:
        """Verdicts per file, or None when the run as a whole failed and cannot say which file
        was at fault (unless `alone`, when the failure is the one file's)."""
        scratch = self.scratch_root / f"strategy-check-{secrets.token_hex(6)}"
        user_data = scratch / "user_data"
        folder = user_data / "strategies"
        names = [f"strategy_{index:03d}.py" for index in range(len(items))]
        try:
            await asyncio.to_thread(folder.mkdir, parents=True)
            for name, item in zip(names, items, strict=True):
                await asyncio.to_thread((folder / name).write_text, item.code, "utf-8")
            async with _slot():
                result = await run_freqtrade(
                    self.executable,
                    ["list-strategies", "--userdir", str(user_data), "--one-column", "--no-color"],
                    limit_seconds=self.limit_seconds,
                    cwd=scratch,
                    env=_scrubbed_environment(),
                )
        finally:
            await asyncio.to_thread(shutil.rmtree, scratch, True)

        def clean(reason: str) -> str:
            reason = reason.replace(str(folder) + os.sep, "").replace(str(scratch), "")
            return reason[:MAX_REASON_CHARS]

        if result.timed_out:
            if not alone:
                return None
            return [
                clean(
                    "freqtrade did not finish loading the strategy within "
                    f"{self.limit_seconds:.0f} s "
                    "(does its code do slow work, or wait, when it is imported?)"
                )
            ]
        if result.returncode != 0:
            if not alone:
                return None
            return [clean(f"freqtrade could not load it: {_crash_reason(result.output)}")]
        failed: dict[str, str] = {}
        for line in _log_records(result.stderr):
            log = _LOG_LINE.match(line.strip())
            match = _IMPORT_FAILED.search(log.group("message") if log else line)
            if match:
                reason = match.group("reason") or "an import failed without saying why"
                failed[Path(match.group("path")).name] = reason
        listed = {line.strip() for line in result.stdout.splitlines() if line.strip()}
        reasons: list[str | None] = []
        for name, item in zip(names, items, strict=True):
            if name in failed:
                reasons.append(clean(f"freqtrade could not import it: {failed[name]}"))
                continue
            missing = [c for c in item.class_names if c not in listed]
            if missing:
                reasons.append(
                    clean(
                        f"freqtrade found no strategy class named {', '.join(missing)} in the "
                        "code (a class deriving from IStrategy)"
                    )
                )
                continue
            reasons.append(None)
        return reasons


def clear_strategies(folder: Path) -> None:
    """Empty a freqtrade strategies folder of strategy and parameter files: freqtrade imports
    every file there, so a stale one (a bot's previous strategy) could break the next start."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in [*folder.glob("*.py"), *folder.glob("*.json")]:
        stale.unlink(missing_ok=True)


def copy_strategy_file(source: Path, folder: Path) -> Path:
    """Put a strategy file (SampleStrategy, say) alone into a freqtrade strategies folder."""
    clear_strategies(folder)
    target = folder / source.name
    shutil.copy2(source, target)
    return target


def write_strategy_files(
    folder: Path, class_name: str, code: str, parameters: dict[str, Any]
) -> Path:
    """Put one strategy into a freqtrade strategies folder, replacing whatever was there: the
    code as <ClassName>.py and, when there are any, its parameters beside it as <ClassName>.json
    (the file freqtrade reads parameter values from, as hyperopt writes it)."""
    clear_strategies(folder)
    path = folder / f"{class_name}.py"
    path.write_text(code, encoding="utf-8")
    if parameters:
        document = {"strategy_name": class_name, "params": parameters, "ft_stratparam_v": 1}
        path.with_suffix(".json").write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path
