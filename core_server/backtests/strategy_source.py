"""Where a job's strategy code comes from: ONE function, so the rest of the package never cares.

The strategy library (core_server.strategies) provides `pinned_strategy(session, owner_id, name,
version)`. A name the library does not have (and every name, where the library is not
installed) comes from the catalogue bots use: the folder DATA_DIR/strategies, then freqtrade's
own templates (SampleStrategy is always there). Either way the job stores the code and the
parameter values it ran with.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core_server.backtests.errors import UnknownStrategy
from core_server.core.errors import InvalidInput, NotFound
from core_server.freqtrade.strategies import StrategyCatalogue, ensure_templates


@dataclass(frozen=True)
class StrategySnapshot:
    name: str
    class_name: str
    version: int | None
    version_id: int | None
    code: str
    # Saved parameter values (the `params` of freqtrade's parameter file), if any.
    parameters: dict[str, Any] | None = None


def _library_lookup() -> Callable[..., Awaitable[Any]] | None:
    try:
        module = importlib.import_module("core_server.strategies.service")
    except ImportError:
        return None
    found = getattr(module, "pinned_strategy", None)
    return found if callable(found) else None


async def pinned_strategy(
    session: AsyncSession,
    owner_id: int,
    name: str,
    version: int | None,
    *,
    executable: Path,
    data_dir: Path,
    templates_lock: asyncio.Lock,
) -> StrategySnapshot:
    """The strategy `name` (at `version`, default the latest) as `owner_id` may use it; raises
    UnknownStrategy (422 on the field) when there is none."""
    library = _library_lookup()
    if library is not None:
        try:
            found = await library(session, owner_id, name, version)
        except NotFound as exc:
            if version is not None:
                raise UnknownStrategy.field(
                    "strategy_version", exc.message, code=UnknownStrategy.code
                ) from exc
        else:
            return StrategySnapshot(
                name=found.name,
                class_name=found.class_name,
                version=found.version,
                version_id=found.version_id,
                code=found.code,
                parameters=dict(getattr(found, "parameters", None) or {}) or None,
            )
    if version is not None:
        raise InvalidInput.field(
            "strategy_version", "Strategy versions need the strategy library, not installed here."
        )
    async with templates_lock:
        templates = await ensure_templates(executable, data_dir / "freqtrade" / "templates")
    catalogue = StrategyCatalogue([data_dir / "strategies", templates])
    path = await asyncio.to_thread(catalogue.find, name)
    if path is None:
        raise UnknownStrategy.field(
            "strategy",
            f"No strategy '{name}' in the library (freqtrade's SampleStrategy is always there).",
            code=UnknownStrategy.code,
        )
    code = await asyncio.to_thread(path.read_text, encoding="utf-8")
    return StrategySnapshot(name=name, class_name=name, version=None, version_id=None, code=code)
