"""API shapes for the strategy library, its versions, templates and git sources. A source's token
goes in and never comes out; owners and version numbers are never inputs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, StringConstraints

from core_server.strategies.git import check_branch, check_path
from core_server.strategies.models import VersionOrigin
from core_server.strategies.parameters import HyperoptParameter

MAX_CODE_BYTES = 256 * 1024
MAX_PARAMETERS_BYTES = 64 * 1024
MAX_PARAMETERS_DEPTH = 6


def _text(value: str) -> str:
    """Text we store and hand to freqtrade: UTF-8 encodable (JSON allows lone surrogates) and
    free of NUL (PostgreSQL refuses it in text)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid UTF-8 text") from exc
    return value


def _code(value: str) -> str:
    _text(value)
    if len(value.encode("utf-8")) > MAX_CODE_BYTES:
        raise ValueError(f"must be at most {MAX_CODE_BYTES // 1024} KiB")
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _depth(value: Any, level: int = 0) -> int:
    if isinstance(value, dict):
        return max([_depth(v, level + 1) for v in value.values()], default=level + 1)
    if isinstance(value, list):
        return max([_depth(v, level + 1) for v in value], default=level + 1)
    return level


def check_parameters(value: dict[str, Any]) -> dict[str, Any]:
    """Parameter values by hyperopt space, as freqtrade's parameter file has them:
    {"buy": {"buy_rsi": 30}, "roi": {"0": 0.02}, "stoploss": {"stoploss": -0.1}}."""
    if len(json.dumps(value)) > MAX_PARAMETERS_BYTES:
        raise ValueError(f"must be under {MAX_PARAMETERS_BYTES // 1024} KiB")
    if _depth(value) > MAX_PARAMETERS_DEPTH:
        raise ValueError(f"may nest at most {MAX_PARAMETERS_DEPTH} levels")
    for space, values in value.items():
        if not space.isidentifier():
            raise ValueError(f"'{space[:50]}' is not a parameter space (buy, sell, roi ...)")
        if not isinstance(values, dict):
            raise ValueError(f"'{space}' must map parameter names to values")
    _text(json.dumps(value, ensure_ascii=False))
    return value


StrategyName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$"),
    Field(description="The strategy's class name in its code (freqtrade's --strategy)."),
]
Code = Annotated[str, AfterValidator(_code), Field(description="Python source of the strategy.")]
Description = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_text)]
Message = Annotated[str, StringConstraints(max_length=500), AfterValidator(_text)]
Tag = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=r"^[\w .:+-]+$"),
]
Tags = Annotated[list[Tag], Field(max_length=20)]
Parameters = Annotated[
    dict[str, Any],
    AfterValidator(check_parameters),
    Field(description='Parameter values by space, e.g. {"buy": {"buy_rsi": 30}}.'),
]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StrategyCreate(Input):
    name: StrategyName
    description: Description | None = None
    code: Code
    parameters: Parameters = Field(default_factory=dict)
    tags: Tags = Field(default_factory=list)
    is_active: bool = True
    message: Message | None = Field(None, description="A note for the first version.")


class StrategyUpdate(Input):
    """Every field optional. A change of code or parameters makes a new version."""

    name: StrategyName | None = None
    description: Description | None = None
    code: Code | None = None
    parameters: Parameters | None = None
    tags: Tags | None = None
    is_active: bool | None = None
    message: Message | None = Field(None, description="A note for the new version.")


class TemplateCopy(Input):
    template: Annotated[str, StringConstraints(max_length=100)]
    name: StrategyName | None = Field(
        None,
        description="The new strategy's name (its class is renamed); the template's if left out.",
    )
    description: Description | None = None
    tags: Tags | None = None


class StrategySummary(BaseModel):
    id: int
    name: str
    description: str | None
    version: int = Field(description="The current version's number.")
    version_id: int | None = Field(description="The current version's id.")
    parameters: dict[str, Any]
    tags: list[str]
    is_active: bool
    owner_id: int
    source_id: int | None
    source_path: str | None
    created_at: datetime
    updated_at: datetime


class StrategyRead(StrategySummary):
    code: str
    hyperopt_parameters: list[HyperoptParameter] = Field(
        description="Read from the code's syntax tree (the code is never run by the server)."
    )


class StrategyPage(BaseModel):
    items: list[StrategySummary]
    total: int
    limit: int
    offset: int


class VersionSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    strategy_id: int
    number: int
    class_name: str
    code_sha256: str
    parameters: dict[str, Any]
    origin: VersionOrigin
    message: str | None
    created_at: datetime
    created_by: int | None


class VersionRead(VersionSummary):
    code: str
    hyperopt_parameters: list[HyperoptParameter]


class VersionPage(BaseModel):
    items: list[VersionSummary]
    total: int
    limit: int
    offset: int


class StrategyDiff(BaseModel):
    strategy_id: int
    from_version: int
    to_version: int
    code_changed: bool
    parameters_changed: bool
    code_diff: str = Field(description="Unified diff of the code (empty when unchanged).")
    parameters_diff: str = Field(description="Unified diff of the parameters as sorted JSON.")


class TemplateRead(BaseModel):
    name: str
    title: str
    description: str
    tags: list[str]
    timeframe: str
    config: dict[str, Any] = Field(description="freqtrade config a run of it needs (FreqAI's).")
    requires: list[str] = Field(description="Packages freqtrade's environment needs for it.")
    hyperopt_parameters: list[HyperoptParameter]
    code: str


class SourceCreate(Input):
    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] = (
        Field(description="https:// URL of the repository (file:// outside production).")
    )
    branch: Annotated[str, AfterValidator(check_branch)] = "main"
    path: Annotated[str, StringConstraints(max_length=500), AfterValidator(check_path)] = Field(
        "", description="Folder in the repository to import from ('' for the top)."
    )
    token: Annotated[SecretStr, Field(min_length=1, max_length=500)] | None = Field(
        None, description="Access token for a private repository; stored encrypted, never shown."
    )


class SourceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    branch: str
    path: str
    has_token: bool = False
    last_commit: str | None
    last_synced_at: datetime | None
    owner_id: int
    created_at: datetime
    updated_at: datetime


class SourcePage(BaseModel):
    items: list[SourceRead]
    total: int
    limit: int
    offset: int


class SyncedFile(BaseModel):
    path: str
    strategy: str | None = Field(description="The strategy (class) name, when one was found.")
    strategy_id: int | None = None
    action: Literal["created", "updated", "unchanged", "failed", "missing"]
    version: int | None = None
    error: str | None = None


class SyncResult(BaseModel):
    source: SourceRead
    commit: str
    files: list[SyncedFile]
    truncated: bool = Field(description="True when the folder had more files than one sync reads.")
