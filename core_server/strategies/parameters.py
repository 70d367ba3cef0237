"""Reading a strategy's code without running it: its classes and its hyperoptable parameters.

Strategy code never runs in the API process (DESIGN.md, decision 1), so everything here works
on the syntax tree, and argument values are read with `ast.literal_eval`, which evaluates
literals only. A value written as an expression (`default=BASE * 2`) is shown as its source.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

PARAMETER_TYPES = {
    "IntParameter": "int",
    "DecimalParameter": "decimal",
    "RealParameter": "real",
    "CategoricalParameter": "categorical",
    "BooleanParameter": "boolean",
}
# freqtrade gives a parameter without `space=` the space its name starts with (hyper.py).
AUTO_SPACES = ("buy", "sell", "enter", "exit", "protection")


class HyperoptParameter(BaseModel):
    name: str
    type: str = Field(description="int, decimal, real, categorical or boolean")
    space: str | None = Field(description="buy, sell, ... (None: freqtrade will refuse it)")
    default: Any = None
    low: Any = None
    high: Any = None
    categories: list[Any] | None = None
    decimals: int | None = None
    optimize: Any = True
    load: Any = True
    declared_in: str = Field(description="The class that declares it.")


@dataclass(frozen=True)
class ParsedCode:
    tree: ast.Module

    @property
    def classes(self) -> dict[str, ast.ClassDef]:
        return {node.name: node for node in self.tree.body if isinstance(node, ast.ClassDef)}


class CodeError(ValueError):
    """The code is not Python this interpreter can parse."""


def parse(code: str, filename: str = "strategy.py") -> ParsedCode:
    try:
        return ParsedCode(ast.parse(code, filename=filename))
    except SyntaxError as exc:
        where = f" (line {exc.lineno}, column {exc.offset})" if exc.lineno else ""
        raise CodeError(f"invalid Python: {exc.msg}{where}") from exc
    except (ValueError, RecursionError, MemoryError) as exc:
        # NUL bytes, or nesting deep enough to exhaust the parser.
        raise CodeError(f"the code cannot be parsed: {type(exc).__name__}") from exc


def strategy_class_names(parsed: ParsedCode) -> list[str]:
    """Top-level classes whose bases name a strategy class (IStrategy or another strategy)."""
    found: list[str] = []
    for name, node in parsed.classes.items():
        bases = [ast.unparse(base) for base in node.bases]
        if any("Strategy" in base or base in found for base in bases):
            found.append(name)
    return found


def _value(node: ast.expr | None) -> Any:
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return ast.unparse(node)


def _call_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _parameter(attribute: str, call: ast.Call, kind: str, owner: str) -> HyperoptParameter:
    keywords = {k.arg: k.value for k in call.keywords if k.arg is not None}
    positional = list(call.args)
    low: Any = None
    high: Any = None
    categories: list[Any] | None = None
    if kind in ("int", "decimal", "real"):
        low = _value(positional[0]) if positional else _value(keywords.get("low"))
        high = _value(positional[1]) if len(positional) > 1 else _value(keywords.get("high"))
        if isinstance(low, list | tuple) and len(low) == 2 and high is None:
            low, high = low  # the [low, high] form
    elif kind == "categorical":
        raw = _value(positional[0]) if positional else _value(keywords.get("categories"))
        categories = list(raw) if isinstance(raw, list | tuple) else None
    elif kind == "boolean":
        categories = [True, False]
    default = _value(keywords.get("default"))
    if default is None and categories:
        default = categories[0]  # freqtrade's default for categorical and boolean parameters
    space = _value(keywords.get("space"))
    if not isinstance(space, str) or not space:
        space = next((s for s in AUTO_SPACES if attribute.startswith(f"{s}_")), None)
    decimals = _value(keywords.get("decimals")) if kind == "decimal" else None
    return HyperoptParameter(
        name=attribute,
        type=kind,
        space=space,
        default=default,
        low=low,
        high=high,
        categories=categories,
        decimals=decimals if isinstance(decimals, int) else (3 if kind == "decimal" else None),
        optimize=_value(keywords.get("optimize")) if "optimize" in keywords else True,
        load=_value(keywords.get("load")) if "load" in keywords else True,
        declared_in=owner,
    )


def _declared(node: ast.ClassDef) -> dict[str, HyperoptParameter]:
    found: dict[str, HyperoptParameter] = {}
    for statement in node.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = statement.targets[0], statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            target, value = statement.target, statement.value
        else:
            continue
        if not isinstance(target, ast.Name) or not isinstance(value, ast.Call):
            continue
        kind = PARAMETER_TYPES.get(_call_name(value.func) or "")
        if kind is not None:
            found[target.id] = _parameter(target.id, value, kind, node.name)
    return found


def hyperopt_parameters(parsed: ParsedCode, class_name: str) -> list[HyperoptParameter]:
    """The parameters freqtrade's hyperopt would see on `class_name`, including those inherited
    from classes in the same code (a subclass's declaration wins), sorted by space and name."""
    classes = parsed.classes
    found: dict[str, HyperoptParameter] = {}
    seen: set[str] = set()

    def collect(name: str) -> None:
        node = classes.get(name)
        if node is None or name in seen:
            return
        seen.add(name)
        for base in node.bases:
            base_name = _call_name(base)
            if base_name:
                collect(base_name)
        found.update(_declared(node))

    collect(class_name)
    return sorted(found.values(), key=lambda p: (p.space or "", p.name))


def uses_freqai(parsed: ParsedCode, class_name: str) -> bool:
    """Whether the class is a FreqAI strategy (it sets FreqAI targets or calls self.freqai):
    its runs need a `freqai` block in their config."""
    node = parsed.classes.get(class_name)
    if node is None:
        return False
    for child in ast.walk(node):
        if isinstance(child, ast.FunctionDef) and child.name == "set_freqai_targets":
            return True
        if isinstance(child, ast.Attribute) and child.attr == "freqai":
            return True
    return False
