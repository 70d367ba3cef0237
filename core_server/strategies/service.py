"""The rules of the strategy library: who sees which strategy, how code is checked (by freqtrade,
in a throw-away directory) before anything is stored, how every change of code or parameters
becomes a new immutable version, and how bots and backtests pin one. Every face uses this."""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import json
import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core_server.activity import service as activity
from core_server.audit import service as audit
from core_server.auth.principal import Principal
from core_server.core.database import utcnow
from core_server.core.security import SecretBox
from core_server.freqtrade.strategies import (
    StrategyChecker,
    StrategyFile,
    write_strategy_files,
)
from core_server.realtime.bus import EventBus
from core_server.strategies import git
from core_server.strategies.catalogue import TEMPLATES, Template
from core_server.strategies.errors import (
    InvalidStrategy,
    SourceExists,
    SourceNotFound,
    StrategyInUse,
    StrategyNameTaken,
    StrategyNotFound,
    StrategyVersionNotFound,
    TemplateNotFound,
    ValidatorUnavailable,
)
from core_server.strategies.models import (
    Strategy,
    StrategySource,
    StrategyVersion,
    VersionOrigin,
)
from core_server.strategies.parameters import (
    CodeError,
    ParsedCode,
    hyperopt_parameters,
    parse,
    strategy_class_names,
    uses_freqai,
)
from core_server.strategies.repository import SourceRepository, StrategyRepository
from core_server.strategies.schemas import (
    SourceCreate,
    SourcePage,
    SourceRead,
    StrategyCreate,
    StrategyDiff,
    StrategyPage,
    StrategyRead,
    StrategySummary,
    StrategyUpdate,
    SyncedFile,
    SyncResult,
    TemplateCopy,
    TemplateRead,
    VersionPage,
    VersionRead,
    VersionSummary,
)

CHANGE_EVENT = "strategy.change"


@dataclass
class StrategyLibrary:
    """What saving strategies needs beyond the database, built from the app's state."""

    checker: StrategyChecker | None  # None when freqtrade is not installed here
    box: SecretBox
    git: git.GitAccess
    bus: EventBus
    scratch: Path  # where throw-away clones go

    def require_checker(self) -> StrategyChecker:
        if self.checker is None:
            raise ValidatorUnavailable()
        return self.checker


@dataclass(frozen=True)
class StrategySnapshot:
    """One pinned version of a library strategy: what a bot or a backtest runs."""

    strategy_id: int
    name: str
    class_name: str
    version: int
    version_id: int
    code: str
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def uses_freqai(self) -> bool:
        """A FreqAI strategy: its run's config needs a `freqai` block (and `freqaimodel`);
        catalogue.FREQAI_LIGHTGBM_CONFIG is the small one our template is made for."""
        try:
            return uses_freqai(parse(self.code), self.class_name)
        except CodeError:
            return False

    def write_to(self, folder: Path) -> Path:
        """Put it into a freqtrade strategies folder (blocking; replaces what was there)."""
        return write_strategy_files(folder, self.class_name, self.code, self.parameters)


def _snapshot(strategy: Strategy, version: StrategyVersion) -> StrategySnapshot:
    return StrategySnapshot(
        strategy_id=strategy.id,
        name=strategy.name,
        class_name=version.class_name,
        version=version.number,
        version_id=version.id,
        code=version.code,
        parameters=dict(version.parameters or {}),
    )


# --- pinning (bots, backtests) ------------------------------------------------------------------


async def library_strategy(
    session: AsyncSession, owner_id: int, name: str, version: int | None = None
) -> StrategySnapshot | None:
    """`owner_id`'s strategy called `name` at `version` (the current one when None), or None when
    the library has no strategy of that name. A missing version is an error."""
    repo = StrategyRepository(session)
    strategy = await repo.by_name(owner_id, name)
    if strategy is None:
        return None
    number = version if version is not None else int(strategy.version)
    found = await repo.version(strategy.id, number)
    if found is None:
        raise StrategyVersionNotFound.of(name, number)
    return _snapshot(strategy, found)


async def pinned_strategy(
    session: AsyncSession, owner_id: int, name: str, version: int | None
) -> StrategySnapshot:
    """The version of `owner_id`'s library strategy `name` to run (the current one when
    `version` is None). StrategyNotFound (404, field `strategy`) when there is no such strategy,
    StrategyVersionNotFound (404, field `strategy_version`) when it has no such version."""
    snapshot = await library_strategy(session, owner_id, name, version)
    if snapshot is None:
        raise StrategyNotFound.named(name)
    return snapshot


async def snapshot_of_version(session: AsyncSession, version_id: int) -> StrategySnapshot | None:
    """A pinned version by its id (what a bot stores), or None when it is gone."""
    repo = StrategyRepository(session)
    version = await repo.version_by_id(version_id)
    if version is None:
        return None
    strategy = await session.get(Strategy, version.strategy_id)
    return _snapshot(strategy, version) if strategy is not None else None


# --- reading ------------------------------------------------------------------------------------


def _parameters_of(code: str, class_name: str) -> list[Any]:
    try:
        return list(hyperopt_parameters(parse(code), class_name))
    except CodeError:
        return []


def _summary(strategy: Strategy, version_id: int | None) -> StrategySummary:
    return StrategySummary(
        id=strategy.id,
        name=strategy.name,
        description=strategy.description,
        version=int(strategy.version),
        version_id=version_id,
        parameters=strategy.parameters,
        tags=strategy.tags,
        is_active=strategy.is_active,
        owner_id=strategy.owner_id,
        source_id=strategy.source_id,
        source_path=strategy.source_path,
        created_at=strategy.created_at,
        updated_at=strategy.updated_at,
    )


async def _read(session: AsyncSession, strategy: Strategy) -> StrategyRead:
    current = await StrategyRepository(session).version(strategy.id, int(strategy.version))
    summary = _summary(strategy, current.id if current else None)
    return StrategyRead(
        **summary.model_dump(),
        code=strategy.code,
        hyperopt_parameters=_parameters_of(strategy.code, strategy.name),
    )


async def _owned(session: AsyncSession, principal: Principal, strategy_id: int) -> Strategy:
    strategy = await StrategyRepository(session).get(principal, strategy_id)
    if strategy is None:
        raise StrategyNotFound()
    return strategy


async def list_strategies(
    session: AsyncSession,
    principal: Principal,
    *,
    search: str | None,
    tag: str | None,
    is_active: bool | None,
    limit: int,
    offset: int,
) -> StrategyPage:
    repo = StrategyRepository(session)
    rows, total = await repo.page(
        principal, search=search, tag=tag, is_active=is_active, limit=limit, offset=offset
    )
    ids = await repo.version_ids([row.id for row in rows])
    items = [_summary(row, ids.get(row.id, {}).get(int(row.version))) for row in rows]
    return StrategyPage(items=items, total=total, limit=limit, offset=offset)


async def get_strategy(
    session: AsyncSession, principal: Principal, strategy_id: int
) -> StrategyRead:
    return await _read(session, await _owned(session, principal, strategy_id))


# --- checking code ------------------------------------------------------------------------------


def _check_syntax(name: str, code: str, field: str = "code") -> ParsedCode:
    """What can be said without running anything: it parses, and it has a class named `name`."""
    try:
        parsed = parse(code, f"{name}.py")
    except CodeError as exc:
        raise InvalidStrategy.because(str(exc), field) from exc
    if name not in parsed.classes:
        defined = strategy_class_names(parsed) or list(parsed.classes)
        found = f"it defines {', '.join(defined)}" if defined else "it defines no class"
        raise InvalidStrategy.because(
            f"the code has no class named '{name}' ({found}): a strategy's class must be "
            "named like the strategy",
            field,
        )
    return parsed


async def _check(library: StrategyLibrary, name: str, code: str, field: str = "code") -> None:
    _check_syntax(name, code, field)
    reason = await library.require_checker().check(code, name)
    if reason is not None:
        raise InvalidStrategy.because(reason, field, freqtrade=reason)


# --- writing ------------------------------------------------------------------------------------


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


async def _add_version(
    session: AsyncSession,
    strategy: Strategy,
    *,
    actor_id: int | None,
    origin: VersionOrigin,
    message: str | None,
) -> StrategyVersion:
    """A new version from the strategy's current name, code and parameters."""
    number = await StrategyRepository(session).latest_number(strategy.id) + 1
    version = StrategyVersion(
        strategy_id=strategy.id,
        number=number,
        class_name=strategy.name,
        code=strategy.code,
        code_sha256=_digest(strategy.code),
        parameters=dict(strategy.parameters or {}),
        origin=origin,
        message=message,
        created_by=actor_id,
    )
    session.add(version)
    strategy.version = str(number)
    await session.flush()
    return version


async def _record(
    session: AsyncSession,
    library: StrategyLibrary,
    principal: Principal | None,
    action: str,
    strategy: Strategy,
    details: dict[str, Any],
) -> None:
    """The audit row and the activity event of a change."""
    audit.record(
        session,
        f"strategy.{action}",
        actor=principal,
        resource_type="strategy",
        resource_id=strategy.id,
        details={"name": strategy.name, **details},
    )
    past = {"create": "created", "update": "updated", "delete": "deleted"}[action]
    version = details.get("version")
    await activity.record(
        session,
        library.bus,
        type=CHANGE_EVENT,
        summary=f"Strategy {strategy.name} {past}"
        + (f" (version {version})" if version and action != "delete" else ""),
        owner_id=strategy.owner_id,
        payload={"action": past, "strategy_id": strategy.id, "name": strategy.name, **details},
    )


async def _insert(
    session: AsyncSession,
    strategy: Strategy,
    *,
    actor_id: int | None,
    origin: VersionOrigin,
    message: str | None,
) -> StrategyVersion:
    session.add(strategy)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        # Another request saved the same name between our check and this insert.
        raise StrategyNameTaken(details={"field": "name"}) from exc
    return await _add_version(session, strategy, actor_id=actor_id, origin=origin, message=message)


async def create_strategy(
    session: AsyncSession,
    principal: Principal,
    library: StrategyLibrary,
    body: StrategyCreate,
    *,
    origin: VersionOrigin = VersionOrigin.api,
) -> StrategyRead:
    if await StrategyRepository(session).name_taken(principal.user_id, body.name):
        raise StrategyNameTaken(details={"field": "name"})
    # freqtrade checks the code before anything is stored.
    await _check(library, body.name, body.code)
    strategy = Strategy(
        name=body.name,
        description=body.description,
        code=body.code,
        parameters=body.parameters,
        tags=list(dict.fromkeys(body.tags)),
        is_active=body.is_active,
        owner_id=principal.user_id,
        version="1",
    )
    version = await _insert(
        session, strategy, actor_id=principal.user_id, origin=origin, message=body.message
    )
    await _record(
        session,
        library,
        principal,
        "create",
        strategy,
        {"version": version.number, "origin": origin.value},
    )
    return await _read(session, strategy)


async def update_strategy(
    session: AsyncSession,
    principal: Principal,
    library: StrategyLibrary,
    strategy_id: int,
    body: StrategyUpdate,
    *,
    origin: VersionOrigin = VersionOrigin.api,
) -> StrategyRead:
    strategy = await _owned(session, principal, strategy_id)
    changes = body.model_dump(exclude_unset=True, exclude={"message"})
    # null means "leave as it is" for fields that cannot be empty; description may be cleared.
    changes = {k: v for k, v in changes.items() if v is not None or k == "description"}
    name = changes.get("name", strategy.name)
    code = changes.get("code", strategy.code)
    parameters = changes.get("parameters", strategy.parameters)
    renamed = name != strategy.name
    if renamed and await StrategyRepository(session).name_taken(
        strategy.owner_id, name, other_than=strategy.id
    ):
        raise StrategyNameTaken(details={"field": "name"})
    if renamed or code != strategy.code:
        await _check(library, name, code, "code" if "code" in changes else "name")
    new_version = renamed or code != strategy.code or parameters != strategy.parameters
    strategy.name, strategy.code, strategy.parameters = name, code, parameters
    if "description" in changes:
        strategy.description = changes["description"]
    if "tags" in changes:
        strategy.tags = list(dict.fromkeys(changes["tags"]))
    if "is_active" in changes:
        strategy.is_active = changes["is_active"]
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise StrategyNameTaken(details={"field": "name"}) from exc
    details: dict[str, Any] = {"fields": sorted(changes)}
    if new_version:
        version = await _add_version(
            session, strategy, actor_id=principal.user_id, origin=origin, message=body.message
        )
        details |= {"version": version.number, "origin": origin.value}
    if changes:
        await _record(session, library, principal, "update", strategy, details)
    return await _read(session, strategy)


async def save_parameters(
    session: AsyncSession,
    principal: Principal,
    library: StrategyLibrary,
    strategy_id: int,
    parameters: dict[str, Any],
    message: str | None = None,
) -> StrategyRead:
    """Store parameter values (a hyperopt job's best) as a new version; the code stays."""
    body = StrategyUpdate(parameters=parameters, message=message)
    return await update_strategy(
        session, principal, library, strategy_id, body, origin=VersionOrigin.hyperopt
    )


async def delete_strategy(
    session: AsyncSession, principal: Principal, library: StrategyLibrary, strategy_id: int
) -> None:
    """Refused while a bot runs one of its versions: deleting would pull the code from under it."""
    strategy = await _owned(session, principal, strategy_id)
    repo = StrategyRepository(session)
    bots = await repo.bots_pinning(strategy.id)
    if bots:
        names = ", ".join(name for _, name in bots)
        raise StrategyInUse(
            f"Bots run a version of {strategy.name}: {names}. Delete them or switch their "
            "strategy first.",
            details={"bots": [{"id": bot_id, "name": name} for bot_id, name in bots]},
        )
    await _record(
        session, library, principal, "delete", strategy, {"version": int(strategy.version)}
    )
    try:
        async with session.begin_nested():
            await session.delete(strategy)
            await session.flush()
    except IntegrityError as exc:
        # Something else (a backtest job, say) still refers to one of its versions.
        raise StrategyInUse(
            f"Other records still refer to versions of {strategy.name}; it was kept."
        ) from exc


# --- versions -----------------------------------------------------------------------------------


async def list_versions(
    session: AsyncSession, principal: Principal, strategy_id: int, *, limit: int, offset: int
) -> VersionPage:
    strategy = await _owned(session, principal, strategy_id)
    rows, total = await StrategyRepository(session).versions(
        strategy.id, limit=limit, offset=offset
    )
    items = [VersionSummary.model_validate(row) for row in rows]
    return VersionPage(items=items, total=total, limit=limit, offset=offset)


async def _version(
    session: AsyncSession, strategy: Strategy, number: int, field: str = "version"
) -> StrategyVersion:
    version = await StrategyRepository(session).version(strategy.id, number)
    if version is None:
        raise StrategyVersionNotFound.of(strategy.name, number, field)
    return version


async def get_version(
    session: AsyncSession, principal: Principal, strategy_id: int, number: int
) -> VersionRead:
    strategy = await _owned(session, principal, strategy_id)
    version = await _version(session, strategy, number)
    return VersionRead(
        **VersionSummary.model_validate(version).model_dump(),
        code=version.code,
        hyperopt_parameters=_parameters_of(version.code, version.class_name),
    )


def _unified(old: str, new: str, old_name: str, new_name: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), old_name, new_name, lineterm=""
    )
    text = "\n".join(lines)
    return f"{text}\n" if text else ""


async def diff_versions(
    session: AsyncSession, principal: Principal, strategy_id: int, old: int, new: int
) -> StrategyDiff:
    strategy = await _owned(session, principal, strategy_id)
    before = await _version(session, strategy, old, "from")
    after = await _version(session, strategy, new, "to")
    old_parameters = json.dumps(before.parameters, indent=2, sort_keys=True)
    new_parameters = json.dumps(after.parameters, indent=2, sort_keys=True)
    return StrategyDiff(
        strategy_id=strategy.id,
        from_version=old,
        to_version=new,
        code_changed=before.code_sha256 != after.code_sha256,
        parameters_changed=old_parameters != new_parameters,
        code_diff=_unified(
            before.code,
            after.code,
            f"{before.class_name}.py (version {old})",
            f"{after.class_name}.py (version {new})",
        ),
        parameters_diff=_unified(
            old_parameters,
            new_parameters,
            f"parameters (version {old})",
            f"parameters (version {new})",
        ),
    )


# --- templates ----------------------------------------------------------------------------------


def _template_read(template: Template) -> TemplateRead:
    return TemplateRead(
        name=template.name,
        title=template.title,
        description=template.description,
        tags=list(template.tags),
        timeframe=template.timeframe,
        config=template.config,
        requires=list(template.requires),
        hyperopt_parameters=_parameters_of(template.code, template.name),
        code=template.code,
    )


def list_templates() -> list[TemplateRead]:
    return [_template_read(template) for template in TEMPLATES.values()]


def get_template(name: str) -> TemplateRead:
    template = TEMPLATES.get(name)
    if template is None:
        raise TemplateNotFound(f"No template '{name[:100]}'.")
    return _template_read(template)


async def copy_template(
    session: AsyncSession, principal: Principal, library: StrategyLibrary, body: TemplateCopy
) -> StrategyRead:
    template = TEMPLATES.get(body.template)
    if template is None:
        message = f"No template '{body.template}'; GET /strategies/templates lists them."
        raise TemplateNotFound(
            message, details={"fields": [{"field": "template", "message": message}]}
        )
    name = body.name or template.name
    code = template.code
    if name != template.name:
        code = re.sub(rf"^class {template.name}\b", f"class {name}", code, count=1, flags=re.M)
    create = StrategyCreate(
        name=name,
        description=body.description or template.description,
        code=code,
        tags=body.tags if body.tags is not None else list(template.tags),
        message=f"Copied from the template {template.name}",
    )
    return await create_strategy(session, principal, library, create, origin=VersionOrigin.template)


# --- git sources --------------------------------------------------------------------------------


def _source_read(source: StrategySource) -> SourceRead:
    read = SourceRead.model_validate(source)
    read.has_token = bool(source.token)
    return read


async def _owned_source(
    session: AsyncSession, principal: Principal, source_id: int
) -> StrategySource:
    source = await SourceRepository(session).get(principal, source_id)
    if source is None:
        raise SourceNotFound()
    return source


def _token_context(source_id: int) -> str:
    return f"strategy_sources:{source_id}:token"


async def list_sources(
    session: AsyncSession, principal: Principal, *, limit: int, offset: int
) -> SourcePage:
    rows, total = await SourceRepository(session).page(principal, limit=limit, offset=offset)
    return SourcePage(
        items=[_source_read(r) for r in rows], total=total, limit=limit, offset=offset
    )


async def get_source(session: AsyncSession, principal: Principal, source_id: int) -> SourceRead:
    return _source_read(await _owned_source(session, principal, source_id))


async def create_source(
    session: AsyncSession, principal: Principal, library: StrategyLibrary, body: SourceCreate
) -> SyncResult:
    """Remember a repository and import its strategies. Nothing is kept when the repository
    cannot be fetched."""
    checked = await library.git.check(body.url)
    if await SourceRepository(session).exists(
        principal.user_id, checked.url, body.branch, body.path
    ):
        raise SourceExists(details={"field": "url"})
    token = body.token.get_secret_value() if body.token else None
    source = StrategySource(
        owner_id=principal.user_id, url=checked.url, branch=body.branch, path=body.path
    )
    session.add(source)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise SourceExists(details={"field": "url"}) from exc
    if token:
        source.token = library.box.encrypt(token, context=_token_context(source.id))
    result = await _fetch_and_sync(session, principal, library, source, checked, token)
    audit.record(
        session,
        "strategy_source.create",
        actor=principal,
        resource_type="strategy_source",
        resource_id=source.id,
        details={"url": source.url, "branch": source.branch, "path": source.path},
    )
    return result


async def sync_source(
    session: AsyncSession, principal: Principal, library: StrategyLibrary, source_id: int
) -> SyncResult:
    """Fetch the branch again; files whose code changed make new versions, others stay."""
    source = await _owned_source(session, principal, source_id)
    # Checked again: the policy, or where the name points, may have changed since.
    checked = await library.git.check(source.url)
    token = (
        library.box.decrypt(source.token, context=_token_context(source.id))
        if source.token
        else None
    )
    result = await _fetch_and_sync(session, principal, library, source, checked, token)
    audit.record(
        session,
        "strategy_source.sync",
        actor=principal,
        resource_type="strategy_source",
        resource_id=source.id,
        details={"commit": result.commit, "actions": _count(result.files)},
    )
    return result


async def delete_source(session: AsyncSession, principal: Principal, source_id: int) -> None:
    """Forget the repository; the strategies imported from it stay in the library."""
    source = await _owned_source(session, principal, source_id)
    await StrategyRepository(session).detach_source(source.id)
    await session.delete(source)
    audit.record(
        session,
        "strategy_source.delete",
        actor=principal,
        resource_type="strategy_source",
        resource_id=source_id,
        details={"url": source.url},
    )


def _count(files: list[SyncedFile]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in files:
        counts[item.action] = counts.get(item.action, 0) + 1
    return counts


async def _fetch_and_sync(
    session: AsyncSession,
    principal: Principal,
    library: StrategyLibrary,
    source: StrategySource,
    checked: git.CheckedUrl,
    token: str | None,
) -> SyncResult:
    workdir = library.scratch / f"git-{secrets.token_hex(6)}"
    try:
        clone = await git.clone(checked, source.branch, token, workdir)
        files, truncated = await asyncio.to_thread(git.strategy_files, clone.root, source.path)
        synced = await _sync_files(session, principal, library, source, files, clone.commit)
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)
    source.last_commit = clone.commit or None
    source.last_synced_at = utcnow()
    await session.flush()
    return SyncResult(
        source=_source_read(source), commit=clone.commit, files=synced, truncated=truncated
    )


@dataclass
class _Candidate:
    path: str
    name: str
    code: str
    strategy: Strategy | None
    verdict: str | None = None


async def _sync_files(
    session: AsyncSession,
    principal: Principal,
    library: StrategyLibrary,
    source: StrategySource,
    files: list[git.RepositoryFile],
    commit: str,
) -> list[SyncedFile]:
    repo = StrategyRepository(session)
    results: list[SyncedFile] = []
    candidates: list[_Candidate] = []
    for item in files:
        if item.code is None:
            results.append(
                SyncedFile(path=item.path, strategy=None, action="failed", error=item.error)
            )
            continue
        for name in item.classes:
            existing = await repo.by_name(source.owner_id, name)
            if existing is not None and (
                existing.source_id != source.id or existing.source_path != item.path
            ):
                results.append(
                    SyncedFile(
                        path=item.path,
                        strategy=name,
                        strategy_id=existing.id,
                        action="failed",
                        error=(
                            f"the library already has a strategy named {name} that does not "
                            "come from this file; it was left as it is"
                        ),
                    )
                )
            elif existing is not None and existing.code == item.code:
                results.append(
                    SyncedFile(
                        path=item.path,
                        strategy=name,
                        strategy_id=existing.id,
                        action="unchanged",
                        version=int(existing.version),
                    )
                )
            else:
                candidates.append(_Candidate(item.path, name, item.code, existing))
    # One freqtrade run checks every changed file (it falls back to one run per file).
    by_code: dict[str, list[_Candidate]] = {}
    for candidate in candidates:
        by_code.setdefault(candidate.code, []).append(candidate)
    checks = [StrategyFile(code, tuple(c.name for c in group)) for code, group in by_code.items()]
    if checks:
        verdicts = await library.require_checker().check_many(checks)
        for check, verdict in zip(checks, verdicts, strict=True):
            for candidate in by_code[check.code]:
                candidate.verdict = verdict
    message = f"{{path}} at {commit[:12]}" if commit else "{path}"
    for candidate in candidates:
        results.append(await _import_one(session, principal, library, source, candidate, message))
    present = {(c.path, c.name) for c in candidates} | {
        (r.path, r.strategy) for r in results if r.strategy
    }
    for strategy in await repo.from_source(source.id):
        if (strategy.source_path, strategy.name) not in present:
            results.append(
                SyncedFile(
                    path=strategy.source_path or "",
                    strategy=strategy.name,
                    strategy_id=strategy.id,
                    action="missing",
                    version=int(strategy.version),
                    error="no longer in the repository; kept in the library",
                )
            )
    return sorted(results, key=lambda r: (r.path, r.strategy or ""))


async def _import_one(
    session: AsyncSession,
    principal: Principal,
    library: StrategyLibrary,
    source: StrategySource,
    candidate: _Candidate,
    message: str,
) -> SyncedFile:
    name, path = candidate.name, candidate.path
    if candidate.verdict is not None:
        return SyncedFile(
            path=path,
            strategy=name,
            strategy_id=candidate.strategy.id if candidate.strategy else None,
            action="failed",
            error=candidate.verdict,
        )
    note = message.format(path=path)
    strategy = candidate.strategy
    if strategy is None:
        strategy = Strategy(
            name=name,
            description=f"Imported from {source.url} ({path}, branch {source.branch})",
            code=candidate.code,
            parameters={},
            tags=["git"],
            is_active=True,
            owner_id=source.owner_id,
            version="1",
            source_id=source.id,
            source_path=path,
        )
        try:
            version = await _insert(
                session,
                strategy,
                actor_id=principal.user_id,
                origin=VersionOrigin.git,
                message=note,
            )
        except StrategyNameTaken:
            return SyncedFile(
                path=path, strategy=name, action="failed", error="the name was taken meanwhile"
            )
        action: str = "create"
    else:
        strategy.code = candidate.code
        version = await _add_version(
            session, strategy, actor_id=principal.user_id, origin=VersionOrigin.git, message=note
        )
        action = "update"
    await _record(
        session,
        library,
        principal,
        action,
        strategy,
        {"version": version.number, "origin": VersionOrigin.git.value, "source_id": source.id},
    )
    return SyncedFile(
        path=path,
        strategy=name,
        strategy_id=strategy.id,
        action="created" if action == "create" else "updated",
        version=version.number,
    )
