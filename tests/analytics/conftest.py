"""A fleet with known numbers, owned by `alice`; `delta` belongs to another tenant.

alice's bots (stake USDT unless said):
  alpha  SampleStrategy, wallet 1000 (capital 990)
    a1  BTC/USDT  01-01 00:00 -> 01-01 02:00   +10  (0.10)  roi
    a2  ETH/USDT  01-01 03:00 -> 01-01 04:00   -20 (-0.20)  stop_loss
    a3  BTC/USDT  01-02 00:00 -> 01-03 00:00   +30  (0.30)  roi
    a4  ETH/USDT  01-03 12:00 -> 01-03 13:00    -5 (-0.05)  stop_loss
    a5  BTC/USDT  01-04 00:00 -> open           +2 unrealised, stake 100
  beta   TrendStrategy, wallet 2000 (capital 1980), stakes 200
    b1  ETH/USDT  01-01 10:00 -> 01-02 10:00   +40  (0.20)  roi
    b2  SOL/USDT  01-05 00:00 -> 01-05 06:00     0  (0.00)  force_exit, short
    b3  ETH/USDT  01-06 00:00 -> open           -4 unrealised
    b4  BTC/USDT  01-08 00:00 -> 01-08 01:00    +5  (0.025) roi, tag breakout
  gamma  stake BTC, wallet 1 (capital 0.99)
    g1  ETH/BTC   01-02 00:00 -> 01-02 12:00 +0.001 (0.001) roi
another tenant's bot:
  delta  wallet 500 (capital 495)
    d1  BTC/USDT  01-02 00:00 -> 01-02 01:00  +100  (0.2)   roi
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi import FastAPI

from tests.analytics.factory import AnalyticsFactory, BotInfo, at
from tests.helpers import ActingUser, UserFactory


@dataclass
class Fleet:
    alice: ActingUser
    other_id: int
    alpha: BotInfo
    beta: BotInfo
    gamma: BotInfo
    delta: BotInfo
    factory: AnalyticsFactory


@pytest.fixture
async def fleet(app: FastAPI, users: UserFactory) -> Fleet:
    alice = await users.create()
    rows = AnalyticsFactory(app)
    async with rows.batch():
        other_id = await rows.owner()
        alpha = await rows.bot(alice.id, dry_run_wallet=1000)
        beta = await rows.bot(alice.id, strategy="TrendStrategy", dry_run_wallet=2000)
        gamma = await rows.bot(alice.id, stake_currency="BTC", dry_run_wallet=1)
        delta = await rows.bot(other_id, dry_run_wallet=500)

        await rows.trade(
            alpha, profit=10, ratio=0.1, opened=at(1), closed=at(1, 2), exit_reason="roi"
        )
        await rows.trade(
            alpha, profit=-20, ratio=-0.2, opened=at(1, 3), closed=at(1, 4), pair="ETH/USDT",
            exit_reason="stop_loss",
        )  # fmt: skip
        await rows.trade(alpha, profit=30, ratio=0.3, opened=at(2), closed=at(3), exit_reason="roi")
        await rows.trade(
            alpha, profit=-5, ratio=-0.05, opened=at(3, 12), closed=at(3, 13), pair="ETH/USDT",
            exit_reason="stop_loss",
        )  # fmt: skip
        await rows.trade(alpha, profit=2, ratio=0.02, opened=at(4))
        await rows.trade(
            beta, profit=40, ratio=0.2, opened=at(1, 10), closed=at(2, 10), pair="ETH/USDT",
            stake=200, exit_reason="roi",
        )  # fmt: skip
        await rows.trade(
            beta, profit=0, ratio=0, opened=at(5), closed=at(5, 6), pair="SOL/USDT", stake=200,
            exit_reason="force_exit", is_short=True,
        )  # fmt: skip
        await rows.trade(beta, profit=-4, ratio=-0.02, opened=at(6), pair="ETH/USDT", stake=200)
        await rows.trade(
            beta, profit=5, ratio=0.025, opened=at(8), closed=at(8, 1), stake=200,
            exit_reason="roi", enter_tag="breakout",
        )  # fmt: skip
        await rows.trade(
            gamma, profit=0.001, ratio=0.001, opened=at(2), closed=at(2, 12), pair="ETH/BTC",
            stake=0.01, exit_reason="roi",
        )  # fmt: skip
        await rows.trade(delta, profit=100, ratio=0.2, opened=at(2), closed=at(2, 1), stake=500)
    return Fleet(alice, other_id, alpha, beta, gamma, delta, rows)
