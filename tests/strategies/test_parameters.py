"""Hyperoptable parameters read from the syntax tree: every parameter kind and form freqtrade
accepts, inherited ones, and code that must never run."""

from __future__ import annotations

import pytest

from core_server.strategies.catalogue import TEMPLATES
from core_server.strategies.parameters import (
    CodeError,
    hyperopt_parameters,
    parse,
    strategy_class_names,
    uses_freqai,
)

CODE = """
import sys
from freqtrade.strategy import (
    BooleanParameter, CategoricalParameter, DecimalParameter, IntParameter, IStrategy,
    RealParameter,
)
import freqtrade.strategy as fs

sys.exit("this module must never run in the API process")
BASE = 3


class Base(IStrategy):
    buy_rsi = IntParameter(10, 40, default=30)
    protection_on = BooleanParameter(default=False, space="protection")


class Mine(Base):
    buy_rsi = IntParameter([20, 60], default=45, space="buy", optimize=False)
    sell_ratio: float = DecimalParameter(0.1, 0.9, default=0.5, decimals=2)
    exit_real = RealParameter(low=-1.0, high=1.0, default=0.0)
    enter_kind = CategoricalParameter(["fast", "slow"])
    custom_window = fs.IntParameter(1, BASE * 10, default=BASE, space="window")
    no_space = IntParameter(1, 2, default=1)
    not_a_parameter = 5


class Helper:
    pass
"""


def test_every_parameter_kind_is_read_without_running_the_code() -> None:
    parsed = parse(CODE)
    assert strategy_class_names(parsed) == ["Base", "Mine"]
    found = {p.name: p for p in hyperopt_parameters(parsed, "Mine")}
    assert set(found) == {
        "buy_rsi",
        "protection_on",
        "sell_ratio",
        "exit_real",
        "enter_kind",
        "custom_window",
        "no_space",
    }
    rsi = found["buy_rsi"]  # the subclass's declaration wins over Base's
    assert (rsi.type, rsi.low, rsi.high, rsi.default, rsi.space, rsi.optimize) == (
        "int",
        20,
        60,
        45,
        "buy",
        False,
    )
    assert rsi.declared_in == "Mine" and found["protection_on"].declared_in == "Base"
    assert (found["protection_on"].type, found["protection_on"].default) == ("boolean", False)
    assert found["protection_on"].categories == [True, False]
    ratio = found["sell_ratio"]
    assert (ratio.type, ratio.space, ratio.decimals, ratio.low, ratio.high) == (
        "decimal",
        "sell",
        2,
        0.1,
        0.9,
    )
    assert (found["exit_real"].type, found["exit_real"].space) == ("real", "exit")
    kind = found["enter_kind"]
    assert (kind.categories, kind.default, kind.space) == (["fast", "slow"], "fast", "enter")
    window = found["custom_window"]
    # Expressions are shown as written, never evaluated.
    assert (window.high, window.default, window.space) == ("BASE * 10", "BASE", "window")
    assert found["no_space"].space is None  # freqtrade would refuse it: shown, not guessed


def test_unknown_class_and_bad_code() -> None:
    assert hyperopt_parameters(parse(CODE), "Missing") == []
    with pytest.raises(CodeError, match="line 1"):
        parse("class (:\n")
    with pytest.raises(CodeError):
        parse("x = 1\x00")
    with pytest.raises(CodeError):
        parse("x = " + "(" * 1000 + ")" * 1000)


def test_freqai_strategies_are_recognised() -> None:
    freqai = TEMPLATES["FreqaiLightGBMStrategy"]
    plain = TEMPLATES["RsiEmaStrategy"]
    assert uses_freqai(parse(freqai.code), freqai.name)
    assert not uses_freqai(parse(plain.code), plain.name)
