"""API shapes for risk rules and alerts. Owner, trigger state and version are never inputs."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from core_server.risk.models import RuleAction, RuleKind

# Which actions make sense for which rule: stopping bots over one bot's bad day or one asset
# would leave their open trades unmanaged, so only the fleet-wide guard may stop bots.
ACTIONS_BY_KIND: dict[RuleKind, frozenset[RuleAction]] = {
    RuleKind.fleet_max_drawdown: frozenset(
        {RuleAction.alert, RuleAction.stop_entries, RuleAction.stop_bots}
    ),
    RuleKind.bot_daily_loss: frozenset({RuleAction.alert, RuleAction.stop_entries}),
    RuleKind.asset_max_exposure: frozenset({RuleAction.alert, RuleAction.stop_entries}),
}
Severity = Literal["info", "warning", "critical"]

Threshold = Annotated[
    Decimal,
    Field(
        gt=0,
        le=Decimal("1e12"),
        max_digits=23,
        decimal_places=10,
        description=(
            "fleet_max_drawdown: a ratio in (0, 1] (0.2 = 20 % below the fleet's peak equity); "
            "bot_daily_loss and asset_max_exposure: an amount in the stake currency."
        ),
    ),
]
Asset = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z0-9]{1,20}$"),
    Field(description="The base asset (BTC for BTC/USDT); asset_max_exposure only."),
]
BotRef = Annotated[
    int,
    Field(
        ge=1,
        le=2_147_483_647,
        description="One of your bots (bot_daily_loss only); empty means each of your bots.",
    ),
]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RiskRuleCreate(Input):
    kind: RuleKind
    threshold: Threshold
    action: RuleAction = RuleAction.alert
    bot_id: BotRef | None = None
    asset: Asset | None = None
    enabled: bool = True


class RiskRuleUpdate(Input):
    """Any change starts the rule afresh: it re-arms, and a drawdown rule measures from the
    fleet's equity at that moment."""

    threshold: Threshold | None = None
    action: RuleAction | None = None
    bot_id: BotRef | None = None
    asset: Asset | None = None
    enabled: bool | None = None


class RiskRuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    owner_id: int
    bot_id: int | None
    kind: RuleKind
    threshold: Decimal
    asset: str | None
    action: RuleAction
    enabled: bool
    created_at: datetime
    triggered_at: datetime | None = Field(
        description="When the rule fired; empty while it is armed. It re-arms by itself once "
        "the measure is back under 90 % of the threshold."
    )
    triggered_bot_ids: list[int] = Field(
        description="Bots a daily-loss rule has fired for and that have not recovered yet."
    )
    peak_equity: Decimal | None = Field(
        description="fleet_max_drawdown: the fleet's peak equity the drawdown is measured from."
    )


class RiskRulePage(BaseModel):
    items: list[RiskRuleRead]
    total: int
    limit: int
    offset: int


class AlertRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    owner_id: int
    bot_id: int | None
    rule_id: int | None
    severity: Severity
    kind: str
    message: str
    details: dict[str, Any]
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: int | None


class AlertPage(BaseModel):
    items: list[AlertRead]
    total: int
    limit: int
    offset: int
