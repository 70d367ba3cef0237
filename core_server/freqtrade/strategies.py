"""Finding strategy classes in files without running them: strategy code runs only inside
freqtrade processes, never in the API process, so we read class names from the syntax tree."""

from __future__ import annotations

import ast
from pathlib import Path

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
