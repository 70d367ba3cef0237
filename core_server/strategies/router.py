"""HTTP routes for the strategy library: the seed's CRUD, versions and their diffs, templates,
and git sources."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from core_server.auth.dependencies import CurrentPrincipal, Trader
from core_server.auth.errors import InsufficientRole
from core_server.core.deps import PageLimit, PageOffset, ResourceId, SessionDep
from core_server.core.envelope import Envelope, ok
from core_server.core.errors import Unauthorized, error_responses
from core_server.core.net_guard import OutboundPolicy, UrlNotAllowed
from core_server.core.settings import Settings
from core_server.freqtrade.commands import FreqtradeMissing, freqtrade_executable
from core_server.freqtrade.strategies import StrategyChecker
from core_server.strategies import service
from core_server.strategies.errors import (
    GitFailed,
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
from core_server.strategies.git import GitAccess
from core_server.strategies.schemas import (
    SourceCreate,
    SourcePage,
    SourceRead,
    StrategyCreate,
    StrategyDiff,
    StrategyPage,
    StrategyRead,
    StrategyUpdate,
    SyncResult,
    TemplateCopy,
    TemplateRead,
    VersionPage,
    VersionRead,
)


def get_library(request: Request) -> service.StrategyLibrary:
    settings: Settings = request.app.state.settings
    policy: OutboundPolicy = request.app.state.outbound_policy
    scratch = settings.data_dir.resolve() / "tmp"
    try:
        checker: StrategyChecker | None = StrategyChecker(freqtrade_executable(settings), scratch)
    except FreqtradeMissing:
        checker = None
    return service.StrategyLibrary(
        checker=checker,
        box=request.app.state.keys.box,
        git=GitAccess.for_settings(settings, policy),
        bus=request.app.state.bus,
        scratch=scratch,
    )


Library = Annotated[service.StrategyLibrary, Depends(get_library)]
VersionNumber = Annotated[int, Path(ge=1, le=2_147_483_647)]

router = APIRouter(prefix="/strategies", tags=["strategies"])

READ_ERRORS = error_responses(Unauthorized, StrategyNotFound)
SAVE_ERRORS = error_responses(
    Unauthorized,
    InsufficientRole,
    StrategyNotFound,
    StrategyNameTaken,
    InvalidStrategy,
    ValidatorUnavailable,
)
SOURCE_ERRORS = error_responses(
    Unauthorized, InsufficientRole, SourceNotFound, UrlNotAllowed, GitFailed, ValidatorUnavailable
)


# Fixed paths come before /{strategy_id}, which would otherwise claim them.


@router.get(
    "/templates",
    response_model=Envelope[list[TemplateRead]],
    responses=error_responses(Unauthorized),
)
async def list_templates(principal: CurrentPrincipal) -> Envelope[list[TemplateRead]]:
    """The strategy templates that ship with the system (copy one to make it yours)."""
    return ok(service.list_templates())


@router.get(
    "/templates/{name}",
    response_model=Envelope[TemplateRead],
    responses=error_responses(Unauthorized, TemplateNotFound),
)
async def get_template(
    name: Annotated[str, Path(max_length=100)], principal: CurrentPrincipal
) -> Envelope[TemplateRead]:
    """One template, with its code."""
    return ok(service.get_template(name))


@router.post(
    "/templates/copy",
    status_code=201,
    response_model=Envelope[StrategyRead],
    responses=error_responses(
        Unauthorized, InsufficientRole, TemplateNotFound, StrategyNameTaken, InvalidStrategy
    ),
)
async def copy_template(
    body: TemplateCopy, principal: Trader, session: SessionDep, library: Library
) -> Envelope[StrategyRead]:
    """Copy a template into your library as a new strategy (renamed when `name` is given)."""
    strategy = await service.copy_template(session, principal, library, body)
    return ok(strategy, "Template copied.")


@router.get(
    "/sources", response_model=Envelope[SourcePage], responses=error_responses(Unauthorized)
)
async def list_sources(
    principal: CurrentPrincipal, session: SessionDep, limit: PageLimit = 50, offset: PageOffset = 0
) -> Envelope[SourcePage]:
    """Your git repositories strategies are imported from (all of them for admins)."""
    return ok(await service.list_sources(session, principal, limit=limit, offset=offset))


@router.post(
    "/sources",
    status_code=201,
    response_model=Envelope[SyncResult],
    responses={**SOURCE_ERRORS, **error_responses(SourceExists)},
)
async def create_source(
    body: SourceCreate, principal: Trader, session: SessionDep, library: Library
) -> Envelope[SyncResult]:
    """Import the strategies of a git repository's branch and folder: every class deriving
    from IStrategy becomes a strategy (named like its class), checked by freqtrade first."""
    result = await service.create_source(session, principal, library, body)
    return ok(result, "Repository imported.")


@router.get(
    "/sources/{source_id}",
    response_model=Envelope[SourceRead],
    responses=error_responses(Unauthorized, SourceNotFound),
)
async def get_source(
    source_id: ResourceId, principal: CurrentPrincipal, session: SessionDep
) -> Envelope[SourceRead]:
    """One git source (its token is never shown)."""
    return ok(await service.get_source(session, principal, source_id))


@router.post(
    "/sources/{source_id}/sync", response_model=Envelope[SyncResult], responses=SOURCE_ERRORS
)
async def sync_source(
    source_id: ResourceId, principal: Trader, session: SessionDep, library: Library
) -> Envelope[SyncResult]:
    """Fetch the branch again: changed files make new versions, unchanged ones stay as they
    are, and strategies whose file went away are kept and reported as missing."""
    return ok(await service.sync_source(session, principal, library, source_id), "Synced.")


@router.delete(
    "/sources/{source_id}",
    response_model=Envelope[None],
    responses=error_responses(Unauthorized, InsufficientRole, SourceNotFound),
)
async def delete_source(
    source_id: ResourceId, principal: Trader, session: SessionDep
) -> Envelope[None]:
    """Forget a git source; the strategies imported from it stay in your library."""
    await service.delete_source(session, principal, source_id)
    return ok(None, "Source deleted; its strategies stay in the library.")


@router.get("", response_model=Envelope[StrategyPage], responses=error_responses(Unauthorized))
async def list_strategies(
    principal: CurrentPrincipal,
    session: SessionDep,
    search: Annotated[str | None, Query(max_length=100)] = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    is_active: bool | None = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> Envelope[StrategyPage]:
    """Your strategies (every user's for admins), without their code."""
    page = await service.list_strategies(
        session, principal, search=search, tag=tag, is_active=is_active, limit=limit, offset=offset
    )
    return ok(page)


@router.post(
    "",
    status_code=201,
    response_model=Envelope[StrategyRead],
    responses=SAVE_ERRORS,
)
async def create_strategy(
    body: StrategyCreate, principal: Trader, session: SessionDep, library: Library
) -> Envelope[StrategyRead]:
    """Save a strategy; freqtrade must load its code, and its class must be named like it."""
    return ok(await service.create_strategy(session, principal, library, body), "Strategy saved.")


@router.get("/{strategy_id}", response_model=Envelope[StrategyRead], responses=READ_ERRORS)
async def get_strategy(
    strategy_id: ResourceId, principal: CurrentPrincipal, session: SessionDep
) -> Envelope[StrategyRead]:
    """One strategy with its code and the hyperoptable parameters read from it."""
    return ok(await service.get_strategy(session, principal, strategy_id))


@router.put("/{strategy_id}", response_model=Envelope[StrategyRead], responses=SAVE_ERRORS)
async def update_strategy(
    strategy_id: ResourceId,
    body: StrategyUpdate,
    principal: Trader,
    session: SessionDep,
    library: Library,
) -> Envelope[StrategyRead]:
    """Change a strategy; new code or parameters make a new version (bots keep theirs)."""
    strategy = await service.update_strategy(session, principal, library, strategy_id, body)
    return ok(strategy, f"Strategy saved (version {strategy.version}).")


@router.delete(
    "/{strategy_id}",
    response_model=Envelope[None],
    responses=error_responses(Unauthorized, InsufficientRole, StrategyNotFound, StrategyInUse),
)
async def delete_strategy(
    strategy_id: ResourceId, principal: Trader, session: SessionDep, library: Library
) -> Envelope[None]:
    """Delete a strategy and its versions (refused while a bot runs one of them)."""
    await service.delete_strategy(session, principal, library, strategy_id)
    return ok(None, "Strategy deleted.")


@router.get("/{strategy_id}/versions", response_model=Envelope[VersionPage], responses=READ_ERRORS)
async def list_versions(
    strategy_id: ResourceId,
    principal: CurrentPrincipal,
    session: SessionDep,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> Envelope[VersionPage]:
    """The strategy's versions, newest first (without their code)."""
    page = await service.list_versions(session, principal, strategy_id, limit=limit, offset=offset)
    return ok(page)


@router.get(
    "/{strategy_id}/versions/diff",
    response_model=Envelope[StrategyDiff],
    responses=error_responses(Unauthorized, StrategyNotFound, StrategyVersionNotFound),
)
async def diff_versions(
    strategy_id: ResourceId,
    principal: CurrentPrincipal,
    session: SessionDep,
    from_version: Annotated[int, Query(alias="from", ge=1, le=2_147_483_647)],
    to_version: Annotated[int, Query(alias="to", ge=1, le=2_147_483_647)],
) -> Envelope[StrategyDiff]:
    """A unified diff of two versions' code and parameters (`?from=1&to=2`)."""
    diff = await service.diff_versions(session, principal, strategy_id, from_version, to_version)
    return ok(diff)


@router.get(
    "/{strategy_id}/versions/{number}",
    response_model=Envelope[VersionRead],
    responses=error_responses(Unauthorized, StrategyNotFound, StrategyVersionNotFound),
)
async def get_version(
    strategy_id: ResourceId, number: VersionNumber, principal: CurrentPrincipal, session: SessionDep
) -> Envelope[VersionRead]:
    """One version, with its code."""
    return ok(await service.get_version(session, principal, strategy_id, number))
